/**
 * fast-check arbitraries from JSON Schema (the OpenAPI description fastify builds from
 * the routes' TypeBox schemas, and the TypeBox schema of WebSocket frames), plus the
 * hostile variants: a valid value with one field broken, any JSON at all, odd strings.
 * Strings whose pattern looks like an id are often drawn from `known` (real room,
 * device, user ids of the test world) so the handlers behind validation run too.
 */
import fc, { type Arbitrary } from 'fast-check'

export interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  patternProperties?: Record<string, JsonSchema>
  maxProperties?: number
  items?: JsonSchema
  minItems?: number
  maxItems?: number
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  allOf?: JsonSchema[]
  enum?: unknown[]
  const?: unknown
  pattern?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  exclusiveMaximum?: number
  format?: string
  [k: string]: unknown
}

/** Values the generator mixes into strings that look like ids. */
export interface Known {
  ids: string[]
}

const ID_LIKE = /A-Za-z0-9_-\]\{(1|8),64\}/

/** Strings that have broken parsers, routers and databases before. */
export const nastyString: Arbitrary<string> = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  '../../etc/passwd',
  '%2e%2e%2f',
  '%00',
  "' OR 1=1 --",
  '"; DROP TABLE rooms; --',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  '\ud800',
  '\uffff',
  'é'.repeat(70),
  'A'.repeat(65),
  'A'.repeat(5000),
  '-1',
  '1e309',
  'NaN',
  '0x10',
  '９９',
  'null',
  '[]',
  '{}',
  '<script>alert(1)</script>',
)

function stringArb(s: JsonSchema, known: Known): Arbitrary<string> {
  const min = s.minLength ?? 0
  const max = Math.min(s.maxLength ?? 200, 4096)
  const fits = (x: string) => x.length >= min && x.length <= max
  if (s.format === 'email') return fc.emailAddress().filter(fits)
  if (s.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
  if (s.format === 'date')
    return fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10))
  if (s.pattern) {
    let re: RegExp | undefined
    try {
      re = new RegExp(s.pattern)
    } catch {
      re = undefined
    }
    if (re) {
      let gen: Arbitrary<string>
      try {
        gen = fc.stringMatching(re).filter(fits)
      } catch {
        gen = fc.string({ minLength: min, maxLength: max })
      }
      const r = re
      const ids = known.ids.filter((id) => r.test(id) && fits(id))
      if (ID_LIKE.test(s.pattern) && ids.length) return fc.oneof(fc.constantFrom(...ids), gen)
      return gen
    }
  }
  return fc.string({ minLength: min, maxLength: max })
}

function intArb(s: JsonSchema): Arbitrary<number> {
  const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -(2 ** 31))
  const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 2 ** 31)
  return fc.oneof(
    fc.integer({ min: Math.max(min, -(2 ** 53) + 1), max: Math.min(max, 2 ** 53 - 1) }),
    fc.constantFrom(...[min, max, 0, 1].filter((n) => n >= min && n <= max)),
  )
}

/** A value that satisfies `s` (as far as the generator can tell; the server decides). */
export function valueArb(s: JsonSchema, known: Known, depth = 0): Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const)
  if (s.enum) return fc.constantFrom(...s.enum)
  const alts = s.anyOf ?? s.oneOf
  if (alts) return fc.oneof(...alts.map((a) => valueArb(a, known, depth + 1)))
  if (s.allOf) return valueArb(Object.assign({}, ...s.allOf) as JsonSchema, known, depth)
  const type = Array.isArray(s.type) ? s.type[0] : s.type
  switch (type) {
    case 'string':
      return stringArb(s, known)
    case 'integer':
      return intArb(s)
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return fc.array(s.items ? valueArb(s.items, known, depth + 1) : fc.jsonValue(), {
        minLength: s.minItems ?? 0,
        maxLength: Math.min(s.maxItems ?? 4, depth > 2 ? 1 : 4),
      })
    case 'object': {
      if (s.properties) {
        const required = new Set(s.required ?? [])
        const shape: Record<string, Arbitrary<unknown>> = {}
        for (const [k, v] of Object.entries(s.properties)) shape[k] = valueArb(v, known, depth + 1)
        return fc.record(shape, { requiredKeys: [...required] })
      }
      const pp = s.patternProperties ? Object.entries(s.patternProperties)[0] : undefined
      const valueSchema =
        pp?.[1] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined)
      if (valueSchema) {
        const key = pp ? stringArb({ type: 'string', pattern: pp[0] }, known) : fc.string()
        return fc.dictionary(key, valueArb(valueSchema, known, depth + 1), {
          maxKeys: Math.min(s.maxProperties ?? 4, 4),
        })
      }
      return fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), {
        maxKeys: 3,
      })
    }
    default:
      return fc.jsonValue({ maxDepth: 3 })
  }
}

/** A value for `s` that is probably wrong: a valid one with a field broken, or anything. */
export function hostileArb(s: JsonSchema, known: Known): Arbitrary<unknown> {
  const anything = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    nastyString,
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.constantFrom(null, true, 0, -1, 2 ** 53, 1e308, [], {}, ''),
  )
  if ((s.type === 'object' || s.properties) && s.properties) {
    const keys = Object.keys(s.properties)
    if (keys.length === 0) return anything
    return fc.oneof(
      fc
        .tuple(valueArb(s, known), fc.constantFrom(...keys), anything)
        .map(([v, k, bad]) => ({ ...(v as object), [k]: bad })),
      fc.tuple(valueArb(s, known), fc.constantFrom(...keys)).map(([v, k]) => {
        const o = { ...(v as Record<string, unknown>) }
        delete o[k]
        return o
      }),
      fc
        .tuple(valueArb(s, known), fc.string({ maxLength: 12 }), anything)
        .map(([v, k, x]) => ({ ...(v as object), [k]: x })),
      anything,
    )
  }
  return anything
}
