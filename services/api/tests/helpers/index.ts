export * from './test-db.js'
export * from './test-app.js'
export * from './process.js'
