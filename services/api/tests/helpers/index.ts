export * from './test-db.js'
export * from './test-app.js'
export * from './process.js'
export * from './people.js'
