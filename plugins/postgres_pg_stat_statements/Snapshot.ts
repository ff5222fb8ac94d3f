/**
 * The pure heart of the source: the previous snapshot as the checkpoint stores it, and the per-interval deltas
 * between it and the current one. No I/O here, so that every rule about resets, evictions and restarts is tested
 * exactly.
 */
import { Either, Schema } from "effect"

// ---------------------------------------------------------------------------------------------------------------------
// Counters

/**
 * A cumulative counter: a number while it is a safe integer, a bigint beyond 2^53 (wal_bytes of a busy server may
 * get there). BigInt for every figure cost more than the poll's query on 5,000 entries. `<` and `>` compare the two
 * kinds correctly as they are.
 */
export type Counter = number | bigint

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const narrow = (value: bigint): Counter => (value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value)

/** A non-negative decimal string, as the server prints a bigint or numeric. */
export const parseCounter = (digits: string): Counter => (digits.length <= 15 ? Number(digits) : narrow(BigInt(digits)))

export const subtract = (a: Counter, b: Counter): Counter =>
  typeof a === "number" && typeof b === "number" ? a - b : narrow(BigInt(a) - BigInt(b))

// ---------------------------------------------------------------------------------------------------------------------
// What a poll reads

/** One entry of pg_stat_statements as the snapshot query returns it, its figures aligned with the poll's columns. */
export interface Entry {
  readonly dbid: number
  readonly userid: number
  readonly queryid: string
  readonly toplevel: boolean
  readonly counters: ReadonlyArray<Counter>
  readonly times: ReadonlyArray<number>
  readonly sinceReset: ReadonlyArray<number>
  /** PostgreSQL 17's `stats_since`, epoch µs; null before 17. */
  readonly statsSinceUs: number | null
  readonly datname: string
  readonly rolname: string | null
}

/** What the SQL filter let through: a key outside the previous scope that shows up now is seen for the first time. */
export interface Scope {
  readonly include: ReadonlyArray<string>
  readonly exclude: ReadonlyArray<string>
  readonly nested: boolean
}

export const covers = (scope: Scope, datname: string, toplevel: boolean): boolean =>
  (scope.include.length === 0 || scope.include.includes(datname)) &&
  !scope.exclude.includes(datname) &&
  (toplevel || scope.nested)

export interface PollInput {
  readonly system: string
  /** The server's clock when the snapshot was taken: the end of the interval. */
  readonly nowUs: number
  readonly statsResetUs: number | null
  readonly dealloc: Counter | null
  readonly counterNames: ReadonlyArray<string>
  readonly timeNames: ReadonlyArray<string>
  readonly sinceResetNames: ReadonlyArray<string>
  readonly scope: Scope
  readonly entries: ReadonlyArray<Entry>
}

// ---------------------------------------------------------------------------------------------------------------------
// The previous snapshot

/** What the checkpoint keeps of one key: its cumulative figures, and what tells a re-created entry apart. */
export interface KeyState {
  readonly dbid: number
  readonly userid: number
  readonly queryid: string
  readonly toplevel: boolean
  readonly minExecMs: number
  readonly maxExecMs: number
  readonly statsSinceUs: number | null
  /** Aligned with `Snapshot.counterNames`. */
  readonly counters: ReadonlyArray<Counter>
  /** Aligned with `Snapshot.timeNames`. */
  readonly times: ReadonlyArray<number>
}

export interface CachedText {
  readonly text: string
  /** End of the last interval in which the statement was active: the least recently active texts go first. */
  readonly usedUs: number
}

export interface Snapshot {
  readonly system: string
  readonly atUs: number
  readonly statsResetUs: number | null
  readonly dealloc: Counter | null
  readonly scope: Scope
  readonly counterNames: ReadonlyArray<string>
  readonly timeNames: ReadonlyArray<string>
  /** By `keyOf`. Every key the scope let through, whether or not it passed the filters. */
  readonly keys: ReadonlyMap<string, KeyState>
  /** By `textKeyOf`. */
  readonly texts: ReadonlyMap<string, CachedText>
}

/** pg_stat_statements' own key. */
export const keyOf = (key: {
  readonly dbid: number
  readonly userid: number
  readonly queryid: string
  readonly toplevel: boolean
}): string => `${key.dbid}:${key.userid}:${key.queryid}:${key.toplevel ? 1 : 0}`

/**
 * Texts are kept per database and queryid: the same statement run by several roles, or both at top level and
 * nested, has one text.
 */
export const textKeyOf = (key: { readonly dbid: number; readonly queryid: string }): string => `${key.dbid}:${key.queryid}`

// ---------------------------------------------------------------------------------------------------------------------
// The checkpoint: compact JSON. Keys are arrays
// [dbid, userid, queryid, toplevel 0|1, min_exec_ms, max_exec_ms, stats_since_us|null, ...counters, ...times];
// counters are numbers, or decimal strings beyond 2^53. Texts are [dbid, queryid, used_us, text].

const DecimalCounter = Schema.String.pipe(Schema.pattern(/^\d{1,30}$/))
const Counter = Schema.Union(Schema.Int.pipe(Schema.nonNegative()), DecimalCounter)

export const CheckpointJson = Schema.Struct({
  v: Schema.Literal(1),
  system: Schema.String.pipe(Schema.pattern(/^\d{1,20}$/)),
  at: Schema.Int,
  reset: Schema.NullOr(Schema.Int),
  dealloc: Schema.NullOr(Counter),
  scope: Schema.Tuple(Schema.Array(Schema.String), Schema.Array(Schema.String), Schema.Boolean),
  counters: Schema.Array(Schema.String),
  times: Schema.Array(Schema.String),
  // Keys and texts are checked by hand in `decodeCheckpoint`: Schema walking 5,000 keys of 30 figures took 30-60 ms
  // per poll, more than the poll's own query.
  keys: Schema.Array(Schema.Unknown),
  texts: Schema.Array(Schema.Unknown)
})
export type CheckpointJson = Omit<typeof CheckpointJson.Type, "keys" | "texts"> & {
  readonly keys: ReadonlyArray<ReadonlyArray<number | string | null>>
  readonly texts: ReadonlyArray<readonly [number, string, number, string]>
}

const KEY_HEAD = 7

const toCounter = (value: Counter): number | string => (typeof value === "number" ? value : value.toString())

const fromCounter = (value: unknown): Counter | undefined => {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  if (typeof value === "string" && /^\d{1,30}$/.test(value)) return parseCounter(value)
  return undefined
}

const isFiniteNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

const decodeKeyRow = (row: unknown, counters: number, times: number): KeyState | string => {
  if (!Array.isArray(row)) return "a key is not an array"
  if (row.length !== KEY_HEAD + counters + times) {
    return `a key has ${row.length} fields, expected ${KEY_HEAD + counters + times}`
  }
  const [dbid, userid, queryid, toplevel, minExec, maxExec, statsSince] = row
  if (!Number.isSafeInteger(dbid) || !Number.isSafeInteger(userid)) return "a key has a non-integer dbid or userid"
  if (typeof queryid !== "string" || !/^-?\d{1,20}$/.test(queryid)) return "a key has no queryid"
  if (toplevel !== 0 && toplevel !== 1) return "a key's toplevel is not 0 or 1"
  if (!isFiniteNumber(minExec) || !isFiniteNumber(maxExec)) return "a key's min/max execution time is not a number"
  if (statsSince !== null && !Number.isSafeInteger(statsSince)) return "a key's stats_since is not an integer"
  const counterValues: Array<Counter> = []
  for (let i = KEY_HEAD; i < KEY_HEAD + counters; i++) {
    const value = fromCounter(row[i])
    if (value === undefined) return `a key's counter ${i - KEY_HEAD} is not a non-negative integer`
    counterValues.push(value)
  }
  const timeValues: Array<number> = []
  for (let i = KEY_HEAD + counters; i < row.length; i++) {
    const value = row[i]
    if (!isFiniteNumber(value)) return `a key's time ${i - KEY_HEAD - counters} is not a number`
    timeValues.push(value)
  }
  return {
    dbid: dbid as number,
    userid: userid as number,
    queryid,
    toplevel: toplevel === 1,
    minExecMs: minExec,
    maxExecMs: maxExec,
    statsSinceUs: statsSince as number | null,
    counters: counterValues,
    times: timeValues
  }
}

const decodeJson = Schema.decodeUnknownEither(CheckpointJson)

/** A stored checkpoint back to a snapshot, or why it is not one this source wrote. */
export const decodeCheckpoint = (input: unknown): Either.Either<Snapshot, string> => {
  const decoded = decodeJson(input, { onExcessProperty: "ignore" })
  if (Either.isLeft(decoded)) return Either.left(decoded.left.message)
  const json = decoded.right
  if (!json.counters.includes("calls") || !json.times.includes("total_exec_time")) {
    return Either.left("the checkpoint's columns lack calls or total_exec_time")
  }
  const keys = new Map<string, KeyState>()
  for (const row of json.keys) {
    const key = decodeKeyRow(row, json.counters.length, json.times.length)
    if (typeof key === "string") return Either.left(key)
    keys.set(keyOf(key), key)
  }
  const texts = new Map<string, CachedText>()
  for (const entry of json.texts) {
    if (!Array.isArray(entry) || entry.length !== 4) return Either.left("a text is not [dbid, queryid, used_us, text]")
    const [dbid, queryid, usedUs, text] = entry as [unknown, unknown, unknown, unknown]
    if (!Number.isSafeInteger(dbid) || typeof queryid !== "string" || !Number.isSafeInteger(usedUs) || typeof text !== "string") {
      return Either.left("a text is not [dbid, queryid, used_us, text]")
    }
    texts.set(textKeyOf({ dbid: dbid as number, queryid }), { text, usedUs: usedUs as number })
  }
  return Either.right({
    system: json.system,
    atUs: json.at,
    statsResetUs: json.reset,
    dealloc: json.dealloc === null ? null : typeof json.dealloc === "number" ? json.dealloc : parseCounter(json.dealloc),
    scope: { include: json.scope[0], exclude: json.scope[1], nested: json.scope[2] },
    counterNames: json.counters,
    timeNames: json.times,
    keys,
    texts
  })
}

export const encodeCheckpoint = (snapshot: Snapshot): CheckpointJson => ({
  v: 1,
  system: snapshot.system,
  at: snapshot.atUs,
  reset: snapshot.statsResetUs,
  dealloc: snapshot.dealloc === null ? null : toCounter(snapshot.dealloc),
  scope: [snapshot.scope.include, snapshot.scope.exclude, snapshot.scope.nested],
  counters: snapshot.counterNames,
  times: snapshot.timeNames,
  keys: Array.from(snapshot.keys.values(), (key) => [
    key.dbid,
    key.userid,
    key.queryid,
    key.toplevel ? 1 : 0,
    key.minExecMs,
    key.maxExecMs,
    key.statsSinceUs,
    ...key.counters.map(toCounter),
    ...key.times
  ]),
  texts: Array.from(snapshot.texts, ([textKey, cached]) => {
    const colon = textKey.indexOf(":")
    return [Number(textKey.slice(0, colon)), textKey.slice(colon + 1), cached.usedUs, cached.text] as const
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Deltas

/**
 * How an interval's figures were obtained:
 * - `baseline`: the first snapshot of this server (or of this database/level for this pipeline): cumulative since
 *   the entry was created, at the latest since stats_reset.
 * - `delta`: current minus previous.
 * - `new`: the key was not in the previous snapshot, so all of it happened in the interval.
 * - `restarted`: the entry was reset or evicted and re-created since the previous snapshot (stats_reset moved, a
 *   counter went down, min/max moved the wrong way, or stats_since changed): its current figures are the delta.
 */
export type Origin = "baseline" | "delta" | "new" | "restarted"

export interface Delta {
  readonly entry: Entry
  readonly origin: Origin
  readonly intervalStartUs: number | null
  /** Aligned with the poll's counters; undefined for a column the previous snapshot did not have. */
  readonly counters: ReadonlyArray<Counter | undefined>
  /** Aligned with the poll's times; undefined for a column the previous snapshot did not have. */
  readonly times: ReadonlyArray<number | undefined>
}

export interface DiffResult {
  /** Keys that ran in the interval (calls delta > 0), whatever the filters. */
  readonly deltas: ReadonlyArray<Delta>
  /** The new snapshot with every key the scope let through; texts are the caller's business. */
  readonly keys: ReadonlyMap<string, KeyState>
  /** The server behind the URL is not the one of the previous snapshot: everything is a new baseline. */
  readonly serverChanged: boolean
  /** pg_stat_statements_reset() ran since the previous snapshot. */
  readonly statsReset: boolean
  /** Entries evicted since the previous snapshot, with the figures of pg_stat_statements_info.dealloc. */
  readonly deallocGrowth: { readonly from: Counter; readonly to: Counter } | undefined
}

const indexIn = (names: ReadonlyArray<string>) => (name: string) => names.indexOf(name)

export const diff = (previous: Snapshot | undefined, input: PollInput): DiffResult => {
  const comparable = previous !== undefined && previous.system === input.system ? previous : undefined
  const statsReset = comparable !== undefined && comparable.statsResetUs !== input.statsResetUs
  const deallocGrowth =
    comparable !== undefined && input.dealloc !== null && comparable.dealloc !== null
      ? statsReset
        ? input.dealloc > 0
          ? { from: 0, to: input.dealloc }
          : undefined
        : input.dealloc > comparable.dealloc
          ? { from: comparable.dealloc, to: input.dealloc }
          : undefined
      : undefined

  // Where each current column sits in the previous snapshot (-1: it did not have it).
  const counterAt = input.counterNames.map(indexIn(comparable?.counterNames ?? []))
  const timeAt = input.timeNames.map(indexIn(comparable?.timeNames ?? []))
  const minAt = input.sinceResetNames.indexOf("min_exec_time")
  const maxAt = input.sinceResetNames.indexOf("max_exec_time")
  const callsAt = input.counterNames.indexOf("calls")
  const previousCallsAt = comparable?.counterNames.indexOf("calls") ?? -1

  const recreated = (before: KeyState, entry: Entry): boolean => {
    if (entry.statsSinceUs !== null && before.statsSinceUs !== null && entry.statsSinceUs !== before.statsSinceUs) {
      return true
    }
    for (let i = 0; i < counterAt.length; i++) {
      const at = counterAt[i]!
      if (at >= 0 && entry.counters[i]! < before.counters[at]!) return true
    }
    for (let i = 0; i < timeAt.length; i++) {
      const at = timeAt[i]!
      if (at >= 0 && entry.times[i]! < before.times[at]!) return true
    }
    // Before 17 nothing dates an entry; but within one entry's life the max never falls and the min never rises.
    // Only once it has run: a planned-only entry has min = max = 0.
    if (entry.statsSinceUs === null && (before.counters[previousCallsAt] ?? 0) > 0) {
      if (entry.sinceReset[maxAt]! < before.maxExecMs || entry.sinceReset[minAt]! > before.minExecMs) return true
    }
    return false
  }

  const deltas: Array<Delta> = []
  const keys = new Map<string, KeyState>()
  for (const entry of input.entries) {
    const id = keyOf(entry)
    keys.set(id, {
      dbid: entry.dbid,
      userid: entry.userid,
      queryid: entry.queryid,
      toplevel: entry.toplevel,
      minExecMs: entry.sinceReset[minAt]!,
      maxExecMs: entry.sinceReset[maxAt]!,
      statsSinceUs: entry.statsSinceUs,
      counters: entry.counters,
      times: entry.times
    })
    const before = comparable?.keys.get(id)
    let delta: Delta
    if (comparable === undefined || (before === undefined && !covers(comparable.scope, entry.datname, entry.toplevel))) {
      delta = {
        entry,
        origin: "baseline",
        intervalStartUs: entry.statsSinceUs ?? input.statsResetUs,
        counters: entry.counters,
        times: entry.times
      }
    } else if (before === undefined || statsReset || recreated(before, entry)) {
      delta = {
        entry,
        origin: before === undefined ? "new" : "restarted",
        intervalStartUs: comparable.atUs,
        counters: entry.counters,
        times: entry.times
      }
    } else {
      delta = {
        entry,
        origin: "delta",
        intervalStartUs: comparable.atUs,
        counters: entry.counters.map((value, i) => {
          const at = counterAt[i]!
          return at < 0 ? undefined : subtract(value, before.counters[at]!)
        }),
        times: entry.times.map((value, i) => {
          const at = timeAt[i]!
          return at < 0 ? undefined : value - before.times[at]!
        })
      }
    }
    if ((delta.counters[callsAt] ?? 0) > 0) deltas.push(delta)
  }
  return { deltas, keys, serverChanged: previous !== undefined && comparable === undefined, statsReset, deallocGrowth }
}

// ---------------------------------------------------------------------------------------------------------------------
// The text cache

/**
 * How long a text stays in the checkpoint after its statement was last active: an hour, or 24 intervals when the
 * schedule is slower. Without it the cache would fill up to its budget with whatever ran once (a baseline brings in
 * every text) and carry that in every checkpoint; with it, it holds the statements that keep coming back.
 */
export const textHorizonUs = (intervalUs: number): number => Math.max(3_600_000_000, 24 * intervalUs)

/**
 * The texts to keep in the next checkpoint: only of keys still in pg_stat_statements and active since `oldestUs`,
 * the most recently active first, within `budgetBytes`. A single text larger than a sixteenth of the budget is never
 * kept, so that one huge statement cannot push out all the others.
 */
export const pruneTexts = (
  texts: ReadonlyMap<string, CachedText>,
  live: ReadonlySet<string>,
  budgetBytes: number,
  oldestUs: number = Number.MIN_SAFE_INTEGER
): ReadonlyMap<string, CachedText> => {
  const largest = Math.floor(budgetBytes / 16)
  const candidates = Array.from(texts).filter(([textKey, cached]) => live.has(textKey) && cached.usedUs >= oldestUs)
  candidates.sort(([keyA, a], [keyB, b]) => b.usedUs - a.usedUs || (keyA < keyB ? -1 : keyA > keyB ? 1 : 0))
  const kept = new Map<string, CachedText>()
  let used = 0
  for (const [textKey, cached] of candidates) {
    const size = Buffer.byteLength(cached.text, "utf8") + textKey.length + 24
    if (size > largest || used + size > budgetBytes) continue
    used += size
    kept.set(textKey, cached)
  }
  return kept
}
