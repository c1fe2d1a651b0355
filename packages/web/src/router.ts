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
  | { name: 'home' }

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent)
  const [first, second] = parts
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
} as const
