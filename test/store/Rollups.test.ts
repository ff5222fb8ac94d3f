import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { bucketOf, quantileMs, RELATIVE_ERROR } from "../../src/domain/LatencyHistogram.js"
import { startHttpApi } from "../../src/http/HttpApiServer.js"
import type { HttpApiSettings } from "../../src/http/HttpApiSettings.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { Supervisor } from "../../src/pipeline/Supervisor.js"
import { Plugins } from "../../src/plugin/Plugin.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { SeriesReads } from "../../src/store/SeriesReads.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerEmbedded } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"
import { selectEvent } from "../support/CollectedEvents.js"

// Per-minute and per-hour rollups are written by the statement that stores the events: exact sums, maxima and
// histograms per pipeline, query and minute (hour); a replay adds nothing; a store filled before rollups existed gets them when it is
// upgraded; series read from them agree with the raw events within the histogram's error.

const MINUTE_US = 60_000_000
const t0 = 1_700_000_040_000_000 // 2023-11-14T22:14:00Z, a whole minute

const event = (key: string, queryId: string, startTimeUs: number, queryTimeMs: number, calls = 1) =>
  selectEvent(key, queryId, startTimeUs, queryTimeMs, { event: { calls, rowsExamined: 10 * calls, lockTimeMs: 0.5 } })

const batch: ReadonlyArray<CollectedEvent> = [
  event("a", "AAAA", t0 + 1_000_000, 2),
  event("b", "AAAA", t0 + 59_999_999, 4),
  event("c", "AAAA", t0 + MINUTE_US, 100),
  event("d", "BBBB", t0 + 5_000_000, 30, 3), // an aggregate: 3 calls at 10 ms each
  event("e", "BBBB", t0 + 6_000_000, 0.0005)
]

const rollupsOf = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* storeClient(url)
    return yield* sql.unsafe<Record<string, unknown>>(
      `SELECT pipeline, query_id, to_char(minute AT TIME ZONE 'UTC', 'HH24:MI') AS minute, events::int, calls::int,
         total_ms, max_ms, lock_ms, rows_examined, to_char(first_seen AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS first,
         to_char(last_seen AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS last, histogram
       FROM slowq_rollups_minute ORDER BY pipeline, query_id, minute`
    )
  })

const hoursOf = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* storeClient(url)
    return yield* sql.unsafe<Record<string, unknown>>(
      `SELECT query_id, to_char(hour AT TIME ZONE 'UTC', 'HH24:MI') AS hour, events::int, calls::int, total_ms, max_ms,
         to_char(first_seen AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS first,
         to_char(last_seen AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS last, histogram
       FROM slowq_rollups_hour ORDER BY pipeline, query_id, hour`
    )
  })

const expected = [
  {
    pipeline: "p1",
    query_id: "AAAA",
    minute: "22:14",
    events: 2,
    calls: 2,
    total_ms: 6,
    max_ms: 4,
    lock_ms: 1,
    rows_examined: 20,
    first: "22:14:01.000000",
    last: "22:14:59.999999",
    histogram: { [bucketOf(2)]: 1, [bucketOf(4)]: 1 }
  },
  {
    pipeline: "p1",
    query_id: "AAAA",
    minute: "22:15",
    events: 1,
    calls: 1,
    total_ms: 100,
    max_ms: 100,
    lock_ms: 0.5,
    rows_examined: 10,
    first: "22:15:00.000000",
    last: "22:15:00.000000",
    histogram: { [bucketOf(100)]: 1 }
  },
  {
    pipeline: "p1",
    query_id: "BBBB",
    minute: "22:14",
    events: 2,
    calls: 4,
    total_ms: 30.0005,
    max_ms: 10,
    lock_ms: 1,
    rows_examined: 40,
    first: "22:14:05.000000",
    last: "22:14:06.000000",
    histogram: { [bucketOf(10)]: 3, "0": 1 }
  }
]

describe("per-minute rollups", () => {
  it.live("are written with the events, exactly, and a replay adds nothing", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        const writer = yield* EventWriter
        yield* writer.writeBatch("p1", "mysql", batch, 1)
        expect(yield* rollupsOf(db.url)).toEqual(expected)
        // The same events again (a replay after a crash), and one new event in an existing minute.
        yield* writer.writeBatch("p1", "mysql", [...batch, event("f", "AAAA", t0 + 30_000_000, 8)], 2)
        const after = yield* rollupsOf(db.url)
        expect(after[0]).toEqual({
          ...expected[0],
          events: 3,
          calls: 3,
          total_ms: 14,
          max_ms: 8,
          lock_ms: 1.5,
          rows_examined: 30,
          histogram: { [bucketOf(2)]: 1, [bucketOf(4)]: 1, [bucketOf(8)]: 1 }
        })
        expect(after.slice(1)).toEqual(expected.slice(1))
        // The hours hold the same as their minutes, merged.
        expect(yield* hoursOf(db.url)).toEqual([
          {
            query_id: "AAAA",
            hour: "22:00",
            events: 4,
            calls: 4,
            total_ms: 114,
            max_ms: 100,
            first: "22:14:01.000000",
            last: "22:15:00.000000",
            histogram: { [bucketOf(2)]: 1, [bucketOf(4)]: 1, [bucketOf(8)]: 1, [bucketOf(100)]: 1 }
          },
          {
            query_id: "BBBB",
            hour: "22:00",
            events: 2,
            calls: 4,
            total_ms: 30.0005,
            max_ms: 10,
            first: "22:14:05.000000",
            last: "22:14:06.000000",
            histogram: { [bucketOf(10)]: 3, "0": 1 }
          }
        ])
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )

  it.live("a store filled before rollups existed gets them from its events when upgraded", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* (yield* EventWriter).writeBatch("p1", "mysql", batch, 1)
      }).pipe(Effect.provide(storeAt(db.url)))
      // Back to the schema of migration 0007: no rollups, no merge function, no samples, nothing after 0007 recorded.
      const sql = yield* storeClient(db.url)
      const hoursBefore = yield* hoursOf(db.url)
      yield* sql.unsafe("DROP TABLE slowq_samples")
      yield* sql.unsafe("DROP TABLE slowq_rollups_hour")
      yield* sql.unsafe("DROP TABLE slowq_rollups_minute")
      yield* sql.unsafe("DROP FUNCTION slowq_histogram_merge(jsonb, jsonb)")
      yield* sql.unsafe("DELETE FROM slowq_migrations WHERE migration_id >= 8")
      const eventsBefore = yield* sql.unsafe<{ n: number }>("SELECT count(*)::int AS n FROM slowq_events")
      // Opening the store runs the migration, which rolls the stored events up.
      yield* Effect.gen(function* () {
        yield* StoreClient
      }).pipe(Effect.provide(storeAt(db.url)))
      expect(yield* rollupsOf(db.url)).toEqual(expected)
      expect(yield* hoursOf(db.url)).toEqual(hoursBefore)
      expect(hoursBefore.map((h) => [h.query_id, h.events, h.calls])).toEqual([
        ["AAAA", 3, 3],
        ["BBBB", 2, 4]
      ])
      expect(yield* sql.unsafe<{ n: number }>("SELECT count(*)::int AS n FROM slowq_events")).toEqual(eventsBefore)
    }).pipe(Effect.scoped)
  )

  it.live("the embedded store (PGlite) keeps the same rollups", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-rollups-"))),
        (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
      )
      yield* Effect.gen(function* () {
        yield* (yield* EventWriter).writeBatch("p1", "mysql", batch, 1)
        const { sql } = yield* StoreClient
        const rows = yield* sql.unsafe<Record<string, unknown>>(
          `SELECT query_id, events::int, calls::int, total_ms, histogram FROM slowq_rollups_minute ORDER BY query_id, minute`
        )
        expect(rows).toEqual(
          expected.map(({ query_id, events, calls, total_ms, histogram }) => ({ query_id, events, calls, total_ms, histogram }))
        )
      }).pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir))))
    }).pipe(Effect.scoped),
    // A new on-disk PGlite database takes seconds to initialise, more on a loaded machine.
    60_000
  )

  it.live("series read from them agree with the raw events within the histogram's error, over the API", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      // 600 events of one query over 10 minutes, latencies spread over four orders of magnitude.
      const latencies = Array.from({ length: 600 }, (_, i) => 0.5 * 1.017 ** ((i * 7919) % 600))
      const events = latencies.map((ms, i) => event(`s${i}`, "CCCC", t0 + i * 1_000_000, ms))
      const settings: HttpApiSettings = { host: "127.0.0.1", port: 0, token: Option.none(), publicRead: false, hosts: { _tag: "Listed", names: [] } }
      yield* Effect.gen(function* () {
        yield* (yield* EventWriter).writeBatch("p1", "mysql", events, 1)
        const base = `http://${yield* startHttpApi(settings, [])}`
        const since = new Date(t0 / 1000).toISOString()
        const until = new Date(t0 / 1000 + 10 * 60_000).toISOString()
        const response = yield* Effect.promise(() => fetch(`${base}/api/v1/queries/CCCC/series?since=${since}&until=${until}&step=5m`))
        expect(response.status).toBe(200)
        const body = (yield* Effect.promise(() => response.json())) as {
          readonly step_seconds: number
          readonly points: ReadonlyArray<Record<"start", string> & Record<"calls" | "total_ms" | "max_ms" | "p50_ms" | "p95_ms" | "p99_ms", number>>
        }
        expect(body.step_seconds).toBe(300)
        // 22:14:00 to 22:24:00 in buckets of 5 minutes from 22:10: the first minute, five minutes, the last four.
        expect(body.points.map((p: { start: string; calls: number }) => [p.start, p.calls])).toEqual([
          ["2023-11-14T22:10:00.000Z", 60],
          ["2023-11-14T22:15:00.000Z", 300],
          ["2023-11-14T22:20:00.000Z", 240]
        ])
        for (const [i, point] of body.points.entries()) {
          const inBucket = latencies.filter((_, j) => Math.floor((t0 / 1e6 + j) / 300) * 300 * 1000 === Date.parse(point.start))
          expect(point.calls).toBe(inBucket.length)
          expect(point.total_ms).toBeCloseTo(inBucket.reduce((a, b) => a + b, 0), 9)
          expect(point.max_ms).toBeCloseTo(Math.max(...inBucket), 12)
          for (const [q, key] of [[0.5, "p50_ms"], [0.95, "p95_ms"], [0.99, "p99_ms"]] as const) {
            const sorted = [...inBucket].sort((a, b) => a - b)
            const exact = sorted[Math.ceil(q * sorted.length) - 1]!
            expect(Math.abs(point[key] - exact) / exact, `${point.start} ${key}`).toBeLessThanOrEqual(RELATIVE_ERROR)
          }
          expect(i).toBeLessThan(3)
        }
        // A step of whole hours reads the hour rollups: the same figures for the hour.
        const hourly = (yield* Effect.promise(() =>
          fetch(`${base}/api/v1/queries/CCCC/series?since=${since}&until=${until}&step=1h`).then((r) => r.json())
        )) as { readonly points: ReadonlyArray<Record<string, unknown>> }
        const sorted = [...latencies].sort((a, b) => a - b)
        expect(hourly.points.map((p) => [p.start, p.calls])).toEqual([["2023-11-14T22:00:00.000Z", 600]])
        for (const [q, key] of [[0.5, "p50_ms"], [0.99, "p99_ms"]] as const) {
          const exact = sorted[Math.ceil(q * sorted.length) - 1]!
          expect(Math.abs((hourly.points[0]![key] as number) - exact) / exact).toBeLessThanOrEqual(RELATIVE_ERROR)
        }
        const bad = yield* Effect.promise(() => fetch(`${base}/api/v1/queries/CCCC/series?step=90s`))
        expect(bad.status).toBe(400)
        const missing = yield* Effect.promise(() => fetch(`${base}/api/v1/queries/DDDD/series`))
        expect(missing.status).toBe(404)
        // The reads the endpoint uses, directly: an empty window has empty points.
        const series = yield* SeriesReads
        const empty = Option.getOrThrow(
          yield* series.querySeries("CCCC", {
            pipeline: "p1",
            since: new Date(t0 / 1000 - 3_600_000),
            until: new Date(t0 / 1000 - 3_000_000),
            stepSeconds: 300
          })
        )
        expect(Option.isNone(yield* series.querySeries("DDDD", { since: new Date(0), until: new Date(t0 / 1000), stepSeconds: 300 }))).toBe(true)
        expect(empty.map((p) => [p.start.toISOString(), p.calls, p.p50_ms])).toEqual([
          ["2023-11-14T21:10:00.000Z", 0, null],
          ["2023-11-14T21:15:00.000Z", 0, null],
          ["2023-11-14T21:20:00.000Z", 0, null]
        ])
        expect(quantileMs({}, 0.5)).toBeNull()
      }).pipe(
        Effect.provide(
          Layer.merge(
            Supervisor.layer.pipe(Layer.provideMerge(Runner.layer), Layer.provideMerge(storeAt(db.url))),
            Layer.succeed(Plugins, { sources: [], stages: [] })
          )
        )
      )
    }).pipe(Effect.scoped)
  )
})
