/**
 * What travels inside an envelope: small JSON documents, typed by the envelope header's
 * `type`. Only clients ever see these; the server stores the envelope as opaque bytes.
 */
import { fromUtf8, utf8 } from '@vs/crypto'

export interface TextContent {
  text: string
}
/** The room's pseudonymous label (e.g. "Gezin Zonnebloem"), chosen by the team. */
export interface LabelContent {
  label: string
}
/** An agreement: what, who, by when. */
export interface AfspraakContent {
  id: string
  what: string
  who: string
  due: string | null
  done?: boolean
}
/** An attachment: where its ciphertext chunks are and the key to open them. */
export interface FileContent {
  fileId: string
  name: string
  mime: string
  size: number
  chunkCount: number
  /** XChaCha20-Poly1305 secretstream key, base64url. */
  key: string
  /** secretstream header, base64url. */
  header: string
}

export type MessageContent =
  | { type: 'text'; body: TextContent }
  | { type: 'label'; body: LabelContent }
  | { type: 'afspraak'; body: AfspraakContent }
  | { type: 'file'; body: FileContent }
  | { type: string; body: Record<string, unknown> }

const MAX_TEXT = 20_000

export function encodeContent(c: MessageContent): Uint8Array {
  if (c.type === 'text' && (c.body as TextContent).text.length > MAX_TEXT) {
    throw new RangeError(`message longer than ${MAX_TEXT} characters`)
  }
  return utf8(JSON.stringify(c.body))
}

export function decodeContent(type: string, bytes: Uint8Array): MessageContent {
  const body = JSON.parse(fromUtf8(bytes)) as Record<string, unknown>
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new TypeError('content is not an object')
  return { type, body } as MessageContent
}
