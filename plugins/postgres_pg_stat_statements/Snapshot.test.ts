import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import {
  firstKeyword,
  isConnectionCheck,
  isUtility,
  type PollColumns,
  toEntry,
  toEvent
} from "./PgStatStatementsSource.js"
import {
  type CachedText,
  decodeCheckpoint,
  diff,
  type Entry,
  encodeCheckpoint,
  keyOf,
  parseCounter,
  type PollInput,
  pruneTexts,
  type Snapshot,
  textHorizonUs
} from "./Snapshot.js"

const columns: PollColumns = {
  counterNames: ["calls", "rows", "plans", "shared_blks_hit", "wal_bytes"],
  timeNames: ["total_exec_time", "total_plan_time", "blk_read_time"],
  sinceResetNames: ["min_exec_time", "max_exec_time", "mean_exec_time"]
}

const SYSTEM = "7713345197783922790"
const RESET = 1_700_000_000_000_000

interface Figures {
  readonly calls: number | bigint
  readonly rows?: number
  readonly plans?: number
  readonly hit?: number
  readonly wal?: number | bigint
  readonly exec: number
  readonly plan?: number
  readonly read?: number
  readonly min?: number
  readonly max?: number
  readonly since?: number | null
}

const counter = (value: number | bigint) => (typeof value === "bigint" ? parseCounter(value.toString()) : value)

const entry = (queryid: string, f: Figures, where: Partial<Pick<Entry, "dbid" | "userid" | "toplevel" | "datname">> = {}): Entry => ({
  dbid: where.dbid ?? 16384,
  userid: where.userid ?? 10,
  queryid,
  toplevel: where.toplevel ?? true,
  counters: [counter(f.calls), f.rows ?? 0, f.plans ?? 0, f.hit ?? 0, counter(f.wal ?? 0)],
  times: [f.exec, f.plan ?? 0, f.read ?? 0],
  sinceReset: [f.min ?? 1, f.max ?? 5, 3],
  statsSinceUs: f.since ?? null,
  datname: where.datname ?? "app",
  rolname: "alice"
})

const poll = (nowUs: number, entries: ReadonlyArray<Entry>, overrides: Partial<PollInput> = {}): PollInput => ({
  system: SYSTEM,
  nowUs,
  statsResetUs: RESET,
  dealloc: 0,
  ...columns,
  scope: { include: [], exclude: [], nested: false },
  entries,
  ...overrides
})

/** Runs a poll against the previous snapshot and returns the next snapshot with its deltas. */
const step = (previous: Snapshot | undefined, input: PollInput) => {
  const result = diff(previous, input)
  const next: Snapshot = {
    system: input.system,
    atUs: input.nowUs,
    statsResetUs: input.statsResetUs,
    dealloc: input.dealloc,
    scope: input.scope,
    counterNames: input.counterNames,
    timeNames: input.timeNames,
    keys: result.keys,
    texts: new Map()
  }
  // Every step goes through the checkpoint's JSON, as between two runs.
  const stored = Either.getOrThrow(decodeCheckpoint(JSON.parse(JSON.stringify(encodeCheckpoint(next)))))
  return { result, next: stored }
}

const summary = (result: ReturnType<typeof diff>) =>
  result.deltas.map((d) => ({
    queryid: d.entry.queryid,
    origin: d.origin,
    start: d.intervalStartUs,
    calls: d.counters[0],
    exec: d.times[0]
  }))

const T1 = RESET + 60_000_000
const T2 = T1 + 60_000_000
const T3 = T2 + 60_000_000

describe("pg_stat_statements deltas", () => {
  it("first poll: a baseline since stats_reset (or since the entry's stats_since); then exact deltas", () => {
    const first = step(undefined, poll(T1, [entry("1", { calls: 3, exec: 30, rows: 3 }), entry("2", { calls: 1, exec: 2, since: RESET + 5 })]))
    expect(summary(first.result)).toEqual([
      { queryid: "1", origin: "baseline", start: RESET, calls: 3, exec: 30 },
      { queryid: "2", origin: "baseline", start: RESET + 5, calls: 1, exec: 2 }
    ])
    const second = step(first.next, poll(T2, [entry("1", { calls: 5, exec: 32.5, rows: 5 }), entry("2", { calls: 1, exec: 2, since: RESET + 5 })]))
    // "2" did not run: no delta, but it stays in the snapshot.
    expect(summary(second.result)).toEqual([{ queryid: "1", origin: "delta", start: T1, calls: 2, exec: 2.5 }])
    expect([...second.result.keys.keys()]).toEqual([keyOf(entry("1", { calls: 0, exec: 0 })), keyOf(entry("2", { calls: 0, exec: 0 }))])
    expect([second.result.serverChanged, second.result.statsReset, second.result.deallocGrowth]).toEqual([false, false, undefined])
  })

  it("keeps counters beyond 2^53 exact through the checkpoint", () => {
    const big = 2n ** 60n + 7n
    const first = step(undefined, poll(T1, [entry("9", { calls: big, exec: 1, wal: big * 3n })]))
    const json = encodeCheckpoint(first.next)
    expect(json.keys[0]!.slice(7, 12)).toEqual([big.toString(), 0, 0, 0, (big * 3n).toString()])
    const second = step(first.next, poll(T2, [entry("9", { calls: big + 2n, exec: 1.5, wal: big * 3n + 10n })]))
    expect(second.result.deltas[0]!.counters).toEqual([2, 0, 0, 0, 10])
    const huge = step(second.next, poll(T3, [entry("9", { calls: big + 2n, exec: 1.5, wal: big * 5n })]))
    expect(huge.result.deltas).toEqual([])
    expect(huge.result.keys.get(keyOf(entry("9", { calls: 0, exec: 0 })))!.counters[4]).toBe(big * 5n)
  })

  it("a counter that went down, a max that fell or a min that rose: the entry starts afresh", () => {
    const first = step(undefined, poll(T1, [
      entry("1", { calls: 10, exec: 100, min: 1, max: 9 }),
      entry("2", { calls: 10, exec: 100, min: 1, max: 9 }),
      entry("3", { calls: 10, exec: 100, min: 1, max: 9 }),
      entry("4", { calls: 10, exec: 100, hit: 50, min: 1, max: 9 })
    ]))
    const second = step(first.next, poll(T2, [
      entry("1", { calls: 4, exec: 20, min: 1, max: 9 }), // calls fell: evicted and readmitted, or reset
      entry("2", { calls: 12, exec: 120, min: 2, max: 9 }), // min rose: re-created with more calls than before
      entry("3", { calls: 12, exec: 120, min: 1, max: 8 }), // max fell
      entry("4", { calls: 12, exec: 120, hit: 40, min: 1, max: 9 }) // another counter fell
    ]))
    expect(summary(second.result)).toEqual([
      { queryid: "1", origin: "restarted", start: T1, calls: 4, exec: 20 },
      { queryid: "2", origin: "restarted", start: T1, calls: 12, exec: 120 },
      { queryid: "3", origin: "restarted", start: T1, calls: 12, exec: 120 },
      { queryid: "4", origin: "restarted", start: T1, calls: 12, exec: 120 }
    ])
  })

  it("a planned-only entry (min = max = 0) that then runs is a plain delta", () => {
    const first = step(undefined, poll(T1, [entry("1", { calls: 0, plans: 1, exec: 0, min: 0, max: 0 })]))
    expect(first.result.deltas).toEqual([])
    const second = step(first.next, poll(T2, [entry("1", { calls: 1, plans: 1, exec: 4, min: 4, max: 4 })]))
    expect(summary(second.result)).toEqual([{ queryid: "1", origin: "delta", start: T1, calls: 1, exec: 4 }])
    expect(second.result.deltas[0]!.counters[2]).toBe(0)
  })

  it("PostgreSQL 17: stats_since decides; a min/max-only reset is not a restart", () => {
    const first = step(undefined, poll(T1, [entry("1", { calls: 10, exec: 10, min: 1, max: 9, since: RESET }), entry("2", { calls: 10, exec: 10, since: RESET })]))
    const second = step(first.next, poll(T2, [
      entry("1", { calls: 11, exec: 11, min: 3, max: 3, since: RESET }),
      entry("2", { calls: 15, exec: 15, since: T1 + 1 })
    ]))
    expect(summary(second.result)).toEqual([
      { queryid: "1", origin: "delta", start: T1, calls: 1, exec: 1 },
      { queryid: "2", origin: "restarted", start: T1, calls: 15, exec: 15 }
    ])
  })

  it("stats_reset moved: every entry starts afresh, even one with more calls than before; dealloc counts from 0 again", () => {
    const first = step(undefined, poll(T1, [entry("1", { calls: 5, exec: 5 })], { dealloc: 7 }))
    const second = step(first.next, poll(T2, [entry("1", { calls: 7, exec: 7 })], { statsResetUs: T1 + 10, dealloc: 2 }))
    expect(summary(second.result)).toEqual([{ queryid: "1", origin: "restarted", start: T1, calls: 7, exec: 7 }])
    expect([second.result.statsReset, second.result.deallocGrowth]).toEqual([true, { from: 0, to: 2 }])
  })

  it("dealloc growth is reported with its figures", () => {
    const first = step(undefined, poll(T1, [], { dealloc: 7 }))
    expect(first.result.deallocGrowth).toBeUndefined()
    expect(step(first.next, poll(T2, [], { dealloc: 9 })).result.deallocGrowth).toEqual({ from: 7, to: 9 })
    expect(step(first.next, poll(T2, [], { dealloc: 7 })).result.deallocGrowth).toBeUndefined()
  })

  it("an entry that disappeared and came back is new: its whole count is the interval's", () => {
    const first = step(undefined, poll(T1, [entry("1", { calls: 10, exec: 10 }), entry("2", { calls: 1, exec: 1 })]))
    const second = step(first.next, poll(T2, [entry("2", { calls: 2, exec: 2 })]))
    expect(summary(second.result)).toEqual([{ queryid: "2", origin: "delta", start: T1, calls: 1, exec: 1 }])
    const third = step(second.next, poll(T3, [entry("1", { calls: 12, exec: 12 }), entry("2", { calls: 2, exec: 2 })]))
    expect(summary(third.result)).toEqual([{ queryid: "1", origin: "new", start: T2, calls: 12, exec: 12 }])
  })

  it("another server behind the URL: a new baseline, never a difference", () => {
    const first = step(undefined, poll(T1, [entry("1", { calls: 10, exec: 10 })]))
    const second = step(first.next, poll(T2, [entry("1", { calls: 12, exec: 12 })], { system: "42", statsResetUs: T1 - 5 }))
    expect(summary(second.result)).toEqual([{ queryid: "1", origin: "baseline", start: T1 - 5, calls: 12, exec: 12 }])
    expect(second.result.serverChanged).toBe(true)
  })

  it("a database or level the previous scope left out comes in as a baseline; a new key of a watched one is new", () => {
    const scope = { include: ["app"], exclude: [], nested: false }
    const first = step(undefined, poll(T1, [entry("1", { calls: 1, exec: 1 })], { scope }))
    const wider = { include: [], exclude: [], nested: true }
    const second = step(first.next, poll(T2, [
      entry("1", { calls: 2, exec: 2 }),
      entry("2", { calls: 4, exec: 4 }, { datname: "other", dbid: 1 }),
      entry("3", { calls: 6, exec: 6 }, { toplevel: false }),
      entry("4", { calls: 8, exec: 8 })
    ], { scope: wider }))
    expect(summary(second.result)).toEqual([
      { queryid: "1", origin: "delta", start: T1, calls: 1, exec: 1 },
      { queryid: "2", origin: "baseline", start: RESET, calls: 4, exec: 4 },
      { queryid: "3", origin: "baseline", start: RESET, calls: 6, exec: 6 },
      { queryid: "4", origin: "new", start: T1, calls: 8, exec: 8 }
    ])
  })

  it("a column the previous snapshot lacked (extension updated) is left out of that interval only", () => {
    const older = { counterNames: ["calls", "rows"], timeNames: ["total_exec_time"], sinceResetNames: columns.sinceResetNames }
    const narrow: Entry = { ...entry("1", { calls: 1, exec: 1 }), counters: [1, 0], times: [1] }
    const first = step(undefined, poll(T1, [narrow], older))
    const second = step(first.next, poll(T2, [entry("1", { calls: 3, exec: 3, hit: 9 })]))
    const [delta] = second.result.deltas
    expect([delta!.origin, delta!.counters, delta!.times]).toEqual(["delta", [2, 0, undefined, undefined, undefined], [2, undefined, undefined]])
  })
})

describe("pg_stat_statements checkpoint", () => {
  const snapshot = step(undefined, poll(T1, [entry("-5", { calls: 1, exec: 1 })])).next

  it("rejects what this source did not write, saying why", () => {
    expect(Either.isLeft(decodeCheckpoint({ endUs: 5 }))).toBe(true)
    const json = encodeCheckpoint(snapshot)
    expect(decodeCheckpoint({ ...json, v: 2 }).pipe(Either.isLeft)).toBe(true)
    expect(decodeCheckpoint({ ...json, keys: [json.keys[0]!.slice(1)] })).toEqual(Either.left("a key has 14 fields, expected 15"))
    expect(decodeCheckpoint({ ...json, keys: [[...json.keys[0]!.slice(0, 7), -1, ...json.keys[0]!.slice(8)]] })).toEqual(
      Either.left("a key's counter 0 is not a non-negative integer")
    )
    expect(decodeCheckpoint({ ...json, keys: [["1", ...json.keys[0]!.slice(1)]] })).toEqual(Either.left("a key has a non-integer dbid or userid"))
  })

  it("is compact: one array per key", () => {
    expect(JSON.stringify(encodeCheckpoint(snapshot))).toBe(
      `{"v":1,"system":"${SYSTEM}","at":${T1},"reset":${RESET},"dealloc":0,"scope":[[],[],false],"counters":["calls","rows","plans","shared_blks_hit","wal_bytes"],"times":["total_exec_time","total_plan_time","blk_read_time"],"keys":[[16384,10,"-5",1,1,5,null,1,0,0,0,0,1,0,0]],"texts":[]}`
    )
  })
})

describe("text cache", () => {
  const text = (t: string, usedUs: number): CachedText => ({ text: t, usedUs })

  it("keeps the most recently active live texts within the budget, never one huge text", () => {
    const texts = new Map([
      ["1:a", text("x".repeat(100), 3)],
      ["1:b", text("y".repeat(100), 2)],
      ["1:c", text("z".repeat(100), 1)],
      ["1:gone", text("w", 9)],
      ["1:huge", text("h".repeat(2000), 9)]
    ])
    const live = new Set(["1:a", "1:b", "1:c", "1:huge"])
    // Each entry costs its bytes + key + 24 (127 here); no single entry may cost more than a sixteenth of the budget.
    expect([...pruneTexts(texts, live, 16 * 130).keys()]).toEqual(["1:a", "1:b", "1:c"])
    expect([...pruneTexts(texts, live, 16 * 2100).keys()]).toEqual(["1:huge", "1:a", "1:b", "1:c"])
    const many = new Map(Array.from({ length: 20 }, (_, i) => [`1:${String(i).padStart(2, "0")}`, text("q".repeat(100), i)] as const))
    const kept = [...pruneTexts(many, new Set(many.keys()), 16 * 130).keys()]
    // 2080 bytes hold 16 entries of 127: the 16 most recently active.
    expect(kept).toEqual(Array.from({ length: 16 }, (_, i) => `1:${String(19 - i).padStart(2, "0")}`))
    expect([...pruneTexts(texts, live, 0).keys()]).toEqual([])
    // Texts of statements not active since the horizon go, whatever room is left.
    expect([...pruneTexts(texts, live, 16 * 2100, 2).keys()]).toEqual(["1:huge", "1:a", "1:b"])
    expect([textHorizonUs(60_000_000), textHorizonUs(3_600_000_000)]).toEqual([3_600_000_000, 24 * 3_600_000_000])
  })
})

describe("statement classification", () => {
  it("finds the first keyword past comments and parentheses", () => {
    expect(firstKeyword("  /* a /* nested */ comment */ -- line\n (SELECT 1)")).toBe("select")
    expect(firstKeyword("with x as (select 1) select * from x")).toBe("with")
    expect(firstKeyword("/* unterminated")).toBe("")
    expect(firstKeyword("")).toBe("")
  })

  it("tells utility statements apart", () => {
    expect(["SELECT 1", "insert into t values ($1)", "UPDATE t SET a = $1", "delete from t", "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "VALUES ($1)", "TABLE t", "WITH a AS (SELECT 1) SELECT * FROM a"].map(isUtility)).toEqual(
      [false, false, false, false, false, false, false, false]
    )
    expect(["ANALYZE t", "BEGIN", "SET work_mem = '8MB'", "CREATE TABLE t (a int)", "COPY t FROM STDIN", "EXPLAIN SELECT 1", "VACUUM"].map(isUtility)).toEqual(
      [true, true, true, true, true, true, true]
    )
  })

  it("recognises the driver's connection check", () => {
    expect(["SELECT $1", "select $1;", "  SELECT  $1 "].map(isConnectionCheck)).toEqual([true, true, true])
    expect(["SELECT $1, $2", "SELECT $1 FROM t"].map(isConnectionCheck)).toEqual([false, false])
  })
})

describe("rows and events", () => {
  it("reads a snapshot row; a NULL queryid is another user's hidden entry", () => {
    const names = { databases: new Map([[16384, "app"]]), roles: new Map([[10, "alice"]]) }
    const row = [16384, 10, "-42", true, "3", "3", "0", "12", "9007199254740993", 1.5, 0, null, 0.25, 0.75, 0.5, null]
    expect(toEntry(row, columns, names)).toEqual({
      dbid: 16384,
      userid: 10,
      queryid: "-42",
      toplevel: true,
      counters: [3, 3, 0, 12, 9007199254740993n],
      times: [1.5, 0, 0],
      sinceReset: [0.25, 0.75, 0.5],
      statsSinceUs: null,
      datname: "app",
      rolname: "alice"
    })
    const other = [16385, 11, "7", false, "1", "1", "0", "0", null, 1, 0, 0, 1, 1, 1, "1700000000000001"]
    expect(toEntry(other, columns, names)).toMatchObject({
      toplevel: false,
      counters: [1, 1, 0, 0, 0],
      statsSinceUs: 1700000000000001,
      datname: "oid 16385",
      rolname: null
    })
    const at = (i: number, value: unknown) => row.map((v, j) => (j === i ? value : v))
    expect(toEntry(at(2, null), columns, names)).toBe("hidden")
    expect(toEntry(row.slice(0, 5), columns, names)).toEqual({ problem: "a row has 5 values, expected 16" })
    expect(toEntry(at(5, "-3"), columns, names)).toEqual({ problem: "a counter is not a non-negative integer" })
    expect(toEntry(at(9, Number.NaN), columns, names)).toEqual({ problem: "a time is not a number" })
    expect(toEntry(at(2, "x"), columns, names)).toEqual({ problem: "queryid is not an integer" })
    expect(toEntry(at(3, "t"), columns, names)).toEqual({ problem: "toplevel is not a boolean" })
  })

  it("turns a delta into an event with explicit names and a deterministic key", () => {
    const first = step(undefined, poll(T1, [entry("7", { calls: 2, rows: 4, plans: 2, hit: 10, wal: 100, exec: 3, plan: 1, read: 0.5, min: 1, max: 2 })]))
    const second = step(first.next, poll(T2, [entry("7", { calls: 5, rows: 10, plans: 5, hit: 16, wal: 130, exec: 9.5, plan: 1.25, read: 0.75, min: 1, max: 4 })]))
    const event = toEvent(SYSTEM, T2, second.result.deltas[0]!, "SELECT $1", columns)
    expect(event).toEqual({
      key: `${SYSTEM}:16384:10:7:1:${T2}`,
      startTimeUs: T2,
      intervalStartUs: T1,
      calls: 3,
      queryTimeMs: 6.5,
      lockTimeMs: 0,
      rowsSent: 6,
      rowsExamined: 0,
      rowsAffected: 0,
      db: "app",
      user: "alice",
      threadId: null,
      sqlText: "SELECT $1",
      metrics: {
        plans: 3,
        shared_blks_hit: 6,
        wal_bytes: 30,
        plan_time_ms: 0.25,
        blk_read_time_ms: 0.25,
        min_exec_time_ms_since_reset: 1,
        max_exec_time_ms_since_reset: 4,
        mean_exec_time_ms_since_reset: 3
      },
      attributes: {
        queryid: "7",
        dbid: 16384,
        userid: 10,
        toplevel: true,
        baseline: false,
        origin: "delta",
        system_identifier: SYSTEM
      }
    })
  })
})
