/**
 * Compares two V8 heap snapshots (e.g. the ones `BENCH_HEAP_SNAPSHOT=<dir> pnpm bench` writes
 * before and after an idle run's sockets connect): which kinds of objects were added, how
 * many, and how many bytes (self size), largest first. Divide by the number of sockets for a
 * per-connection bill.
 *
 *   pnpm exec tsx tests/bench/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--per N] [--top K]
 *   pnpm exec tsx tests/bench/heap-diff.ts <snapshot> --retainers IncomingMessage
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const usage = `Usage: tsx tests/bench/heap-diff.ts <before> <after> [--per N] [--top K]

Prints the object kinds (V8 node type and constructor or string class) whose count or
self size grew between two heap snapshots, largest growth first.

  --per N   also print bytes and objects per N (e.g. the number of sockets connected)
  --top K   rows to print (default 40)
  --help    this text

   or: tsx tests/bench/heap-diff.ts <snapshot> --retainers <name> [--type object]
         [--min-size 0] [--samples 3] [--depth 10]

Prints, for a few nodes of that type and name (e.g. object IncomingMessage, or array
"(object properties)") of at least min-size bytes, the chain of strong references that
keeps each alive.`

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[]
      node_types: [string[]]
      edge_fields: string[]
      edge_types: [string[]]
    }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

interface Bucket {
  count: number
  size: number
}

/** A parsed snapshot with the offsets of the node and edge fields used here. */
function readSnapshot(file: string) {
  process.stderr.write(`reading ${file}…\n`)
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const { node_fields: nf, edge_fields: ef, node_types, edge_types } = s.snapshot.meta
  return {
    s,
    ntypes: node_types[0],
    etypes: edge_types[0],
    nw: nf.length,
    ew: ef.length,
    fType: nf.indexOf('type'),
    fName: nf.indexOf('name'),
    fSize: nf.indexOf('self_size'),
    fEdges: nf.indexOf('edge_count'),
    eType: ef.indexOf('type'),
    eName: ef.indexOf('name_or_index'),
    eTo: ef.indexOf('to_node'),
  }
}

function load(file: string): Map<string, Bucket> {
  const { s, ntypes, nw, fType, fName, fSize } = readSnapshot(file)
  const out = new Map<string, Bucket>()
  for (let i = 0; i < s.nodes.length; i += nw) {
    const type = ntypes[s.nodes[i + fType]!]!
    let name = s.strings[s.nodes[i + fName]!]!
    // Strings and numbers are named by their content: group them by type only.
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string')
      name = '(string)'
    else if (type === 'number' || type === 'heap number') name = '(number)'
    else if (name.length > 80) name = `${name.slice(0, 77)}…`
    const key = `${type}\t${name}`
    const b = out.get(key) ?? { count: 0, size: 0 }
    b.count += 1
    b.size += s.nodes[i + fSize]!
    out.set(key, b)
  }
  return out
}

/**
 * For a few objects of kind `name` in `file`, the chain of what keeps each alive: each step
 * up is the first strong reference found (weak references are skipped), up to `depth`.
 */
function retainers(
  file: string,
  name: string,
  o: { type: string; minSize: number; samples: number; depth: number },
): void {
  const { type, minSize, samples, depth } = o
  const { s, ntypes, etypes, nw, ew, fType, fName, fSize, fEdges, eType, eName, eTo } =
    readSnapshot(file)
  // One strong retainer per node (the first found) is enough to walk a chain.
  const by = new Map<number, { from: number; edge: string }>()
  let e = 0
  for (let n = 0; n < s.nodes.length; n += nw) {
    const count = s.nodes[n + fEdges]!
    for (let k = 0; k < count; k++, e += ew) {
      const t = etypes[s.edges[e + eType]!]!
      if (t === 'weak' || t === 'shortcut') continue
      const to = s.edges[e + eTo]!
      if (by.has(to)) continue
      const raw = s.edges[e + eName]!
      const label = t === 'element' || t === 'hidden' ? `[${raw}]` : s.strings[raw]!
      by.set(to, { from: n, edge: `${t}:${label}` })
    }
  }
  const describe = (n: number) =>
    `${ntypes[s.nodes[n + fType]!]} ${JSON.stringify(s.strings[s.nodes[n + fName]!]!.slice(0, 60))} (${s.nodes[n + fSize]} B)`
  const wanted = (n: number) =>
    s.strings[s.nodes[n + fName]!] === name &&
    ntypes[s.nodes[n + fType]!] === type &&
    s.nodes[n + fSize]! >= minSize
  // What holds these objects, by the holder's kind and the reference's name.
  const holders = new Map<string, Bucket>()
  for (let n = 0; n < s.nodes.length; n += nw) {
    if (!wanted(n)) continue
    const r = by.get(n)
    const key = r
      ? `${r.edge.replace(/^(element|hidden):\[\d+\]$/, '$1')} of ${ntypes[s.nodes[r.from + fType]!]} ${s.strings[s.nodes[r.from + fName]!]!.slice(0, 60)}`
      : '(no strong reference)'
    const b = holders.get(key) ?? { count: 0, size: 0 }
    b.count += 1
    b.size += s.nodes[n + fSize]!
    holders.set(key, b)
  }
  for (const [key, b] of [...holders].sort((x, y) => y[1].size - x[1].size).slice(0, 15))
    console.log(`${String(b.size).padStart(10)} ${String(b.count).padStart(7)}  ← ${key}`)
  let shown = 0
  for (let n = 0; n < s.nodes.length && shown < samples; n += nw) {
    if (!wanted(n)) continue
    shown += 1
    console.log(`\n${describe(n)}`)
    let at = n
    for (let d = 0; d < depth; d++) {
      const r = by.get(at)
      if (!r) break
      console.log(`${'  '.repeat(d + 1)}← ${r.edge} of ${describe(r.from)}`)
      at = r.from
    }
  }
  if (shown === 0) console.log(`no object named ${name}`)
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      per: { type: 'string' },
      top: { type: 'string', default: '40' },
      retainers: { type: 'string' },
      samples: { type: 'string', default: '3' },
      depth: { type: 'string', default: '10' },
      type: { type: 'string', default: 'object' },
      'min-size': { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.retainers && positionals.length === 1) {
    retainers(positionals[0]!, values.retainers, {
      type: values.type,
      minSize: Number(values['min-size']),
      samples: Number(values.samples),
      depth: Number(values.depth),
    })
    return
  }
  if (values.help || positionals.length !== 2) {
    console.log(usage)
    process.exit(values.help ? 0 : 2)
  }
  const per = values.per ? Number(values.per) : undefined
  const [a, b] = [load(positionals[0]!), load(positionals[1]!)]
  const rows: Array<{ key: string; dc: number; ds: number }> = []
  for (const [key, after] of b) {
    const before = a.get(key) ?? { count: 0, size: 0 }
    const ds = after.size - before.size
    if (ds !== 0 || after.count !== before.count)
      rows.push({ key, dc: after.count - before.count, ds })
  }
  rows.sort((x, y) => y.ds - x.ds)
  const total = rows.reduce((n, r) => n + r.ds, 0)
  const f = (n: number) => (per ? ` ${(n / per).toFixed(1).padStart(8)}` : '')
  console.log(
    `${'bytes'.padStart(10)}${per ? ` ${'B/conn'.padStart(8)}` : ''} ${'objects'.padStart(8)}${per ? ` ${'/conn'.padStart(8)}` : ''}  type  name`,
  )
  for (const r of rows.slice(0, Number(values.top))) {
    console.log(
      `${String(r.ds).padStart(10)}${f(r.ds)} ${String(r.dc).padStart(8)}${f(r.dc)}  ${r.key}`,
    )
  }
  console.log(`${String(total).padStart(10)}${f(total)}  total self size added`)
}

main()
