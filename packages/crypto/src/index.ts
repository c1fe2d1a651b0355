export * from './sodium.js'
export * from './encoding.js'
