export * from './sodium.js'
export * from './encoding.js'
export * from './identity/index.js'
export * from './room/index.js'
