/**
 * Anonymous consultation tokens (RFC 9497 VOPRF over ristretto255-SHA512).
 *
 * The token layer and the errors are exported flat; the protocol building blocks sit
 * under the `voprf` namespace (RFC 9497 names) and `ristretto255` (the libsodium
 * group wrappers), so their short RFC names cannot clash with the rest of the package.
 */
export * from './errors.js'
export * from './token.js'
export * as voprf from './voprf.js'
export * as ristretto255 from './group.js'
export type { GroupElement, Scalar } from './group.js'
