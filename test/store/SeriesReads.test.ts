import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { type Histogram, mergeHistograms, quantileMs } from "../../src/domain/LatencyHistogram.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { histogramPairs, quantilesMs, SeriesReads, type SeriesPoint } from "../../src/store/SeriesReads.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerEmbedded, storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { selectEvent } from "../support/CollectedEvents.js"

// Series fold their rollups' histograms from jsonb's text into arrays of counts, and read the percentiles of all three
// in one pass: the points must be exactly those of merging the histograms as objects and reading them with
// quantileMs, on both stores.

/** A deterministic generator (an LCG), so a failure can be replayed. */
const generator = (seed: number) => {
  let state = seed
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    return state / 2_147_483_648
  }
}

describe("series folding", () => {
  it("reads the percentiles quantileMs reads, from counts by bucket index", () => {
    const random = generator(13)
    const qs = [0.5, 0.95, 0.99]
    for (let n = 0; n < 500; n++) {
      const histogram: Record<string, number> = {}
      const buckets = Math.floor(random() * 40)
      for (let b = 0; b < buckets; b++) histogram[String(Math.floor(random() * 600))] = 1 + Math.floor(random() * (n % 7 === 0 ? 5 : 500))
      const counts: Array<number> = []
      for (const [bucket, count] of Object.entries(histogram)) counts[Number(bucket)] = count
      expect(quantilesMs(counts, qs)).toEqual(qs.map((q) => quantileMs(histogram, q)))
    }
    expect(quantilesMs([], qs)).toEqual([null, null, null])
    expect(quantilesMs([0, 0, 3], [0.5, 1])).toEqual([quantileMs({ "2": 3 }, 0.5), quantileMs({ "2": 3 }, 1)])
  })

  it("reads a JSON array of jsonb's texts of histograms, and any other JSON array of objects of counts by bucket", () => {
    expect(histogramPairs('[{"7": 1, "173": 2, "200": 31}]')).toEqual([7, 1, 173, 2, 200, 31])
    expect(histogramPairs('[{"7": 1},{},{"0": 4, "7": 2}]')).toEqual([7, 1, 0, 4, 7, 2])
    expect(histogramPairs("[]")).toEqual([])
    // Not as jsonb prints it, still histograms: read as JSON.
    expect(histogramPairs('[ {"173":2,  "9" : 1.5} ]')).toEqual([9, 1.5, 173, 2])
    for (const bad of ['[{"007": 1}]', '[{"-1": 1}]', '[{"a": 1}]', '[{"18001": 1}]', '[{"1": "2"}]', '[{"1": -2}]', '{"1": 2}', "[[1, 2]]", '[{"1": 2}', "[null]", ""]) {
      expect(histogramPairs(bad), bad).toBeUndefined()
    }
  })
})

const MINUTE_MS = 60_000
const t0 = Date.UTC(2024, 4, 1, 10, 0, 0)

const event = (key: string, atMs: number, queryTimeMs: number, calls = 1) =>
  selectEvent(key, "AAAA", atMs * 1000, queryTimeMs, { event: { calls, rowsExamined: 3 * calls } })

/** The points as the rollups give them when their histograms are merged as objects and read by quantileMs. */
const expectedPoints = (
  rows: ReadonlyArray<{ readonly at: number; readonly calls: number; readonly total_ms: number; readonly max_ms: number; readonly rows_examined: number; readonly histogram: Histogram }>,
  since: number,
  until: number,
  stepMs: number
): Array<SeriesPoint> => {
  const points: Array<SeriesPoint> = []
  for (let start = Math.floor(since / stepMs) * stepMs; start < until; start += stepMs) {
    const inBucket = rows.filter((row) => Math.floor(row.at / stepMs) * stepMs === start)
    const calls = inBucket.reduce((sum, row) => sum + row.calls, 0)
    const totalMs = inBucket.reduce((sum, row) => sum + row.total_ms, 0)
    const merged = mergeHistograms(inBucket.map((row) => row.histogram))
    points.push({
      start: new Date(start),
      calls,
      total_ms: totalMs,
      mean_ms: calls === 0 ? null : totalMs / calls,
      max_ms: calls === 0 ? null : Math.max(0, ...inBucket.map((row) => row.max_ms)),
      p50_ms: calls === 0 ? null : quantileMs(merged, 0.5),
      p95_ms: calls === 0 ? null : quantileMs(merged, 0.95),
      p99_ms: calls === 0 ? null : quantileMs(merged, 0.99),
      rows_examined: inBucket.reduce((sum, row) => sum + row.rows_examined, 0)
    })
  }
  return points
}

const seriesAgree = Effect.gen(function* () {
  const random = generator(7)
  // 3 hours of one query: a few events in most minutes, latencies over five orders of magnitude, some aggregates.
  const events: Array<CollectedEvent> = []
  for (let minute = 0; minute < 180; minute++) {
    if (minute % 11 === 5) continue
    for (let e = 0; e < 1 + (minute % 4); e++) {
      const calls = e === 3 ? 4 : 1
      events.push(event(`e${minute}_${e}`, t0 + minute * MINUTE_MS + e * 7_000, 0.05 * 10 ** (random() * 5) * calls, calls))
    }
  }
  yield* (yield* EventWriter).writeBatch("p1", "mysql", events, { n: 1 })
  const { sql } = yield* StoreClient
  const rowsOf = (level: "minute" | "hour") =>
    Effect.map(
      sql.unsafe<{ at: number; calls: number; total_ms: number; max_ms: number; rows_examined: number; histogram: Histogram }>(
        `SELECT (extract(epoch FROM ${level}) * 1000)::float8 AS at, calls::float8 AS calls, total_ms, max_ms, rows_examined,
           histogram FROM slowq_rollups_${level} ORDER BY ${level}`
      ),
      (rows) => rows.map((row) => ({ ...row }))
    )
  const minutes = yield* rowsOf("minute")
  const hours = yield* rowsOf("hour")
  expect(minutes.length).toBe(164)
  expect(hours.length).toBe(3)
  const series = yield* SeriesReads
  const HOUR_MS = 60 * MINUTE_MS
  for (const [since, until, stepSeconds] of [
    [t0 + 90_000, t0 + 150 * MINUTE_MS + 1, 300],
    [t0, t0 + 180 * MINUTE_MS, 60],
    [t0 - 3 * MINUTE_MS, t0 + 200 * MINUTE_MS, 900],
    [t0 + 30 * MINUTE_MS, t0 + 4 * 60 * MINUTE_MS, 3600],
    [t0 + 30 * MINUTE_MS + 10_000, t0 + 150 * MINUTE_MS + 1, 3600],
    [t0 - 90 * MINUTE_MS, t0 + 90 * MINUTE_MS, 7200]
  ] as const) {
    const points = Option.getOrThrow(
      yield* series.querySeries("AAAA", { pipeline: "p1", since: new Date(since), until: new Date(until), stepSeconds })
    )
    // The minutes of [since, until), since counted from the start of its minute; a step of whole hours reads the
    // whole hours among them from the hour rollups.
    const first = Math.floor(since / MINUTE_MS) * MINUTE_MS
    const last = Math.ceil(until / MINUTE_MS) * MINUTE_MS
    const fromHour = stepSeconds % 3600 === 0 ? Math.ceil(first / HOUR_MS) * HOUR_MS : last
    const toHour = stepSeconds % 3600 === 0 ? Math.floor(last / HOUR_MS) * HOUR_MS : last
    const rows = [
      ...minutes.filter((row) => row.at >= first && row.at < last && !(row.at >= fromHour && row.at < toHour)),
      ...hours.filter((row) => row.at >= fromHour && row.at < toHour)
    ].sort((a, b) => a.at - b.at)
    expect(points, `${stepSeconds}s`).toEqual(expectedPoints(rows, since, until, stepSeconds * 1000))
    expect(points.some((point) => point.calls > 0 && point.p99_ms !== null)).toBe(true)
  }
  expect(Option.isNone(yield* series.querySeries("BBBB", { since: new Date(t0), until: new Date(t0 + HOUR_MS), stepSeconds: 60 }))).toBe(true)
  expect(Option.isNone(yield* series.querySeries("AAAA", { pipeline: "p2", since: new Date(t0), until: new Date(t0 + HOUR_MS), stepSeconds: 60 }))).toBe(true)
})

describe.each([
  ["PostgreSQL", (body: Effect.Effect<void, unknown, EventWriter | SeriesReads | StoreClient>) =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* body.pipe(Effect.provide(Layer.fresh(storeLayerFromUrl(Redacted.make(db.url)))))
    }).pipe(Effect.scoped)],
  ["embedded (PGlite)", (body: Effect.Effect<void, unknown, EventWriter | SeriesReads | StoreClient>) =>
    Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-series-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ).pipe(
      Effect.flatMap((dir) => body.pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir))))),
      Effect.scoped
    )]
])("series on %s", (_, withStore) => {
  it.live("are the rollups' points merged as objects and read by quantileMs, exactly", () => withStore(seriesAgree), 120_000)
})
