export * from './sodium.js'
export * from './encoding.js'
export * from './identity/index.js'
