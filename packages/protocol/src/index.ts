export * from './close-codes.js'
export * from './common.js'
export * from './identity.js'
