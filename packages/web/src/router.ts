/**
 * Hash routes. The invitation code travels in the fragment (`#/uitnodiging/<code>`),
 * which browsers never send to the server, so it stays out of server and proxy logs.
 */
export type Route =
  | { name: 'sign-in' }
  | { name: 'invitation'; code: string }
  | { name: 'recovery-key' }
  | { name: 'setup' }
  | { name: 'devices' }
  | { name: 'people' }
  | { name: 'person'; userId: string }
  | { name: 'sessions' }
  | { name: 'invite' }
  | { name: 'rooms' }
  | { name: 'new-room' }
  | { name: 'room'; roomId: string }
  | { name: 'advice' }
  | { name: 'consult'; roomId: string }
  | { name: 'anon-consult'; roomId: string }
  | { name: 'desk'; deskId: string }
  | { name: 'desk-consult'; deskId: string; roomId: string }
  | { name: 'inbox' }
  | { name: 'cases' }
  | { name: 'home' }

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  const [first, second, third] = parts
  switch (first) {
    case 'aanmelden':
      return { name: 'sign-in' }
    case 'uitnodiging':
      return second ? { name: 'invitation', code: second } : { name: 'home' }
    case 'herstelsleutel':
      return { name: 'recovery-key' }
    case 'apparaat-instellen':
      return { name: 'setup' }
    case 'apparaten':
      return { name: 'devices' }
    case 'mensen':
      return second ? { name: 'person', userId: second } : { name: 'people' }
    case 'sessies':
      return { name: 'sessions' }
    case 'uitnodigen':
      return { name: 'invite' }
    case 'kamers':
      if (second === 'nieuw') return { name: 'new-room' }
      return second ? { name: 'room', roomId: second } : { name: 'rooms' }
    case 'advies':
      if (second === 'anoniem' && third) return { name: 'anon-consult', roomId: third }
      return second ? { name: 'consult', roomId: second } : { name: 'advice' }
    case 'desk':
      if (second && third) return { name: 'desk-consult', deskId: second, roomId: third }
      return second ? { name: 'desk', deskId: second } : { name: 'advice' }
    case 'inbox':
      return { name: 'inbox' }
    case 'casussen':
      return { name: 'cases' }
    default:
      return { name: 'home' }
  }
}

export const paths = {
  signIn: '#/aanmelden',
  recoveryKey: '#/herstelsleutel',
  setup: '#/apparaat-instellen',
  devices: '#/apparaten',
  people: '#/mensen',
  person: (userId: string) => `#/mensen/${encodeURIComponent(userId)}`,
  sessions: '#/sessies',
  invite: '#/uitnodigen',
  rooms: '#/kamers',
  newRoom: '#/kamers/nieuw',
  room: (roomId: string) => `#/kamers/${encodeURIComponent(roomId)}`,
  advice: '#/advies',
  consult: (roomId: string) => `#/advies/${encodeURIComponent(roomId)}`,
  anonConsult: (roomId: string) => `#/advies/anoniem/${encodeURIComponent(roomId)}`,
  desk: (deskId: string) => `#/desk/${encodeURIComponent(deskId)}`,
  deskConsult: (deskId: string, roomId: string) =>
    `#/desk/${encodeURIComponent(deskId)}/${encodeURIComponent(roomId)}`,
  inbox: '#/inbox',
  cases: '#/casussen',
} as const
