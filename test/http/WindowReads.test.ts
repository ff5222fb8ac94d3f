import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { EventWriter } from "../../src/store/EventWriter.js"
import { type ListQueriesOptions, QueryReads, windowBounds } from "../../src/store/QueryReads.js"
import { storeLayerEmbedded, storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { selectEvent } from "../support/CollectedEvents.js"

// Windows longer than an hour: their whole hours are read from the hour rollups, their partial hours' minutes from
// the minute rollups. The figures must be those of the window's minutes, exactly, on both stores.
const at = (time: string) => new Date(`2024-05-01T${time}Z`)

const event = (key: string, queryId: string, time: string, queryTimeMs: number) =>
  selectEvent(key, queryId, at(time).getTime() * 1000, queryTimeMs, {
    event: { rowsExamined: 10, rowsSent: 1, db: "shop" },
    fingerprint: `select ${queryId.toLowerCase()}`
  })

const seed = Effect.gen(function* () {
  const writer = yield* EventWriter
  yield* writer.writeBatch(
    "p1",
    "mysql",
    [
      event("a0", "AAAA", "09:59:30", 5),
      event("a1", "AAAA", "10:00:10", 10),
      event("a2", "AAAA", "10:30:00", 20),
      event("a3", "AAAA", "11:59:59", 40),
      event("a4", "AAAA", "12:00:30", 80),
      event("a5", "AAAA", "12:01:30", 160),
      event("a6", "AAAA", "13:10:00", 320),
      event("b1", "BBBB", "10:45:00", 100),
      event("b2", "BBBB", "12:05:00", 1),
      ...["11:01:00", "11:02:00", "11:03:00", "12:00:00"].map((t, i) => event(`e${i}`, "EEEE", t, 2))
    ],
    { n: 1 }
  )
  yield* writer.writeBatch("p2", "mysql", [event("c1", "CCCC", "11:00:00", 50), event("c2", "CCCC", "11:30:00", 50)], { n: 1 })
  return yield* QueryReads
})

type Services = EventWriter | QueryReads

const postgresStore = <A, E>(body: Effect.Effect<A, E, Services>) =>
  Effect.gen(function* () {
    const db = yield* freshStoreDatabase
    return yield* body.pipe(Effect.provide(Layer.fresh(storeLayerFromUrl(Redacted.make(db.url)))))
  }).pipe(Effect.scoped)

const embeddedStore = <A, E>(body: Effect.Effect<A, E, Services>) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-windows-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ).pipe(
    Effect.flatMap((dir) => body.pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir))))),
    Effect.scoped
  )

describe("window bounds", () => {
  it("minute precision at both ends, whole hours between", () => {
    // From minute 10:00, a whole hour's start: hours 10 and 11, then minutes 12:00 and 12:01.
    expect(windowBounds({ since: at("10:00:40"), until: at("12:01:10") })).toEqual({
      since: "2024-05-01T10:00:00.000Z",
      until: "2024-05-01T12:02:00.000Z",
      fromHour: "2024-05-01T10:00:00.000Z",
      toHour: "2024-05-01T12:00:00.000Z"
    })
    // Minutes 10:05 to 10:59, hour 11, minutes 12:00 to 12:00 (until 12:01 is the end of minute 12:00).
    expect(windowBounds({ since: at("10:05:00"), until: at("12:01:00") })).toEqual({
      since: "2024-05-01T10:05:00.000Z",
      until: "2024-05-01T12:01:00.000Z",
      fromHour: "2024-05-01T11:00:00.000Z",
      toHour: "2024-05-01T12:00:00.000Z"
    })
    // Inside one hour: no whole hour (toHour before fromHour), every minute read from the minutes.
    expect(windowBounds({ since: at("10:05:00"), until: at("10:30:00") })).toEqual({
      since: "2024-05-01T10:05:00.000Z",
      until: "2024-05-01T10:30:00.000Z",
      fromHour: "2024-05-01T11:00:00.000Z",
      toHour: "2024-05-01T10:00:00.000Z"
    })
    expect(windowBounds({})).toEqual({ since: "-infinity", until: "infinity", fromHour: "-infinity", toHour: "infinity" })
  })
})

describe.each([
  ["PostgreSQL", postgresStore],
  ["embedded (PGlite)", embeddedStore]
])("windows over hours on %s", (_, withStore) => {
  it.live(
    "rank the window's minutes exactly, reading whole hours from the hour rollups",
    () =>
      withStore(
        Effect.gen(function* () {
          const reads = yield* seed
          const page = (options: Partial<ListQueriesOptions>) =>
            Effect.map(reads.listQueries({ order: "total_ms", limit: 50, offset: 0, ...options }), (p) => ({
              more: p.more,
              rows: p.queries.map((q) => [`${q.pipeline}/${q.id}`, q.events, q.calls, q.total_ms, q.max_ms, q.rows_examined])
            }))
          const window = { since: at("10:00:40"), until: at("12:01:10") }
          // Minutes 10:00 to 12:01: a1..a5, b1, c1, c2, all of EEEE; not a0 (09:59), b2 (12:05), a6 (13:10).
          expect(yield* page(window)).toEqual({
            more: false,
            rows: [
              ["p1/AAAA", 5, 5, 310, 160, 50],
              ["p1/BBBB", 1, 1, 100, 100, 10],
              ["p2/CCCC", 2, 2, 100, 50, 20],
              ["p1/EEEE", 4, 4, 8, 2, 40]
            ]
          })
          // Partial hours at both ends: minutes 10:05 to 10:59 (a2, b1), hour 11 (a3, c1, c2, e0..e2), minute 12:00 (a4, e3).
          expect((yield* page({ since: at("10:05:00"), until: at("12:01:00") })).rows).toEqual([
            ["p1/AAAA", 3, 3, 140, 80, 30],
            ["p1/BBBB", 1, 1, 100, 100, 10],
            ["p2/CCCC", 2, 2, 100, 50, 20],
            ["p1/EEEE", 4, 4, 8, 2, 40]
          ])
          expect((yield* page({ ...window, order: "calls" })).rows.map((r) => r[0])).toEqual(["p1/AAAA", "p1/EEEE", "p2/CCCC", "p1/BBBB"])
          expect((yield* page({ ...window, order: "avg_ms" })).rows.map((r) => r[0])).toEqual(["p1/BBBB", "p1/AAAA", "p2/CCCC", "p1/EEEE"])
          expect((yield* page({ ...window, order: "max_ms" })).rows.map((r) => r[0])).toEqual(["p1/AAAA", "p1/BBBB", "p2/CCCC", "p1/EEEE"])
          expect(yield* page({ ...window, pipeline: "p1", limit: 1, offset: 1 })).toEqual({
            more: true,
            rows: [["p1/BBBB", 1, 1, 100, 100, 10]]
          })
          // Whole hours only, [11:00, 12:00): c1, c2, a3, EEEE's first three.
          expect((yield* page({ since: at("11:00:00"), until: at("12:00:00") })).rows).toEqual([
            ["p2/CCCC", 2, 2, 100, 50, 20],
            ["p1/AAAA", 1, 1, 40, 40, 10],
            ["p1/EEEE", 3, 3, 6, 2, 30]
          ])
          // Open ends: from 12:00:59 (minute 12:00 on), and up to 10:00:01 (minutes before 10:01).
          expect((yield* page({ since: at("12:00:59") })).rows.map((r) => [r[0], r[3]])).toEqual([
            ["p1/AAAA", 560],
            ["p1/EEEE", 2],
            ["p1/BBBB", 1]
          ])
          expect((yield* page({ until: at("10:00:01") })).rows.map((r) => [r[0], r[3]])).toEqual([["p1/AAAA", 15]])
        })
      ),
    120_000
  )

  it.live(
    "prove a page from the all-time totals when they bound the rest, else aggregate the window",
    () =>
      withStore(
        Effect.gen(function* () {
          const reads = yield* seed
          const writer = yield* EventWriter
          // 240 queries of 08:00 with all-time totals of 1,001 to 1,240 ms, the last eleven also once in the window.
          const old = Array.from({ length: 240 }, (_, i) => event(`q${i + 1}`, `Q${String(i + 1).padStart(3, "0")}`, "08:00:00", 1000 + i + 1))
          const recent = Array.from({ length: 11 }, (_, i) => event(`r${i + 230}`, `Q${i + 230}`, "11:15:00", 1))
          yield* writer.writeBatch("p1", "mysql", [...old, ...recent], { n: 2 })
          const page = (options: Partial<ListQueriesOptions>) =>
            Effect.map(reads.listQueries({ order: "total_ms", limit: 50, offset: 0, ...options }), (p) => ({
              more: p.more,
              rows: p.queries.map((q) => [`${q.pipeline}/${q.id}`, q.calls, q.total_ms])
            }))
          // The 204 walked first (all-time order: Q240 down to Q037) hold only eleven of the window's queries, fewer
          // than the page: the window is aggregated, and the queries the walk never reached are in it.
          expect(yield* page({ since: at("10:00:40"), until: at("12:01:10") })).toEqual({
            more: false,
            rows: [
              ["p1/AAAA", 5, 310],
              ["p1/BBBB", 1, 100],
              ["p2/CCCC", 2, 100],
              ["p1/EEEE", 4, 8],
              ...Array.from({ length: 11 }, (_, i) => [`p1/Q${i + 230}`, 1, 1])
            ]
          })
          // A window holding 08:00: the first two walked (1,241 and 1,240 ms, with their minute of 11:15) rank above
          // every query not walked (at most 1,036 ms all time), so the walk's page stands.
          expect(yield* page({ since: at("08:00:00"), until: at("12:00:00"), limit: 2 })).toEqual({
            more: true,
            rows: [
              ["p1/Q240", 2, 1241],
              ["p1/Q239", 2, 1240]
            ]
          })
          expect(yield* page({ since: at("08:00:00"), until: at("08:01:00"), order: "calls", limit: 1, offset: 3 })).toEqual({
            more: true,
            rows: [["p1/Q004", 1, 1004]]
          })
        })
      ),
    120_000
  )
})
