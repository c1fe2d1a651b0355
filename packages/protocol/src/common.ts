import { Type, type Static } from '@sinclair/typebox'

/** Unpadded base64url bytes. */
export const B64 = (opts: { minLength?: number; maxLength?: number } = {}) =>
  Type.String({
    // Unpadded base64url: a length of 4n + 1 cannot occur, so it is refused here (400).
    pattern: '^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$',
    maxLength: opts.maxLength ?? 4096,
    minLength: opts.minLength ?? 0,
  })

/** A 32-byte key as base64url (43 chars). */
export const Key32 = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })
/** A 64-byte Ed25519 signature as base64url (86 chars). */
export const Sig64 = Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' })

/** Random identifiers: 16 bytes base64url (22 chars), or uuid-like ids for server rows. */
export const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' })
export type Id = Static<typeof Id>

/** A device id: a random id, or a desk key version such as `v1`. */
export const DeviceId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })

export const IsoDate = Type.String({ format: 'date-time' })
export const DateOnly = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
})
export type ErrorBody = Static<typeof ErrorBody>

export const Ok = Type.Object({ ok: Type.Literal(true) })
