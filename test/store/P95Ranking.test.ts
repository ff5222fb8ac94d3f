import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { bucketOf, bucketValueMs, RELATIVE_ERROR } from "../../src/domain/LatencyHistogram.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import migration0017 from "../../src/store/migrations/0017_histogram_quantile.js"
import { type ListQueriesOptions, QueryReads } from "../../src/store/QueryReads.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"
import { selectEvent } from "../support/CollectedEvents.js"

// Ranking by p95 over a window (the rollups' histograms, migration 0008; slowq_histogram_quantile, 0017): the order
// differs from the mean's, each row's p95 is the nearest-rank p95 of its raw events within the histogram's 2%, and a
// store from before 0017 gets the function (twice: it is re-runnable).

const T0 = Date.parse("2024-05-01T10:00:00Z")

const event = (key: string, queryId: string, second: number, queryTimeMs: number) =>
  selectEvent(key, queryId, (T0 + second * 1000) * 1000, queryTimeMs, { event: { db: "shop", user: "app" }, fingerprint: `select ${queryId.toLowerCase()}` })

// FAST: 95 calls of 1 ms and 5 of 400 ms (mean 20.95 ms, p95 1 ms: the 95th call is still a fast one).
// TAIL: 90 calls of 10 ms and 10 of 120 ms (mean 21 ms, p95 120 ms).
// EVEN: 100 calls from 1 to 100 ms (mean 50.5 ms, p95 95 ms).
// Spread over two hours (10:00 to 11:59), so that a window of whole hours reads hour rollups and its edges minutes.
const latencies: Record<string, ReadonlyArray<number>> = {
  FAST: [...Array(95).fill(1), ...Array(5).fill(400)],
  TAIL: [...Array(90).fill(10), ...Array(10).fill(120)],
  EVEN: Array.from({ length: 100 }, (_, i) => i + 1)
}
const events = Object.entries(latencies).flatMap(([id, times]) =>
  times.map((ms, i) => event(`${id}-${i}`, id, (i * 7_200) / times.length + (id === "EVEN" ? 13 : 0), ms))
)

/** The nearest-rank p95 of raw data, as the histogram reads its buckets. */
const rawP95 = (times: ReadonlyArray<number>) => [...times].sort((a, b) => a - b)[Math.ceil(0.95 * times.length) - 1]!

const page = (options: Partial<ListQueriesOptions>) =>
  Effect.flatMap(QueryReads, (reads) => reads.listQueries({ order: "p95_ms", limit: 50, offset: 0, ...options }))

describe("ranking by p95", () => {
  it.live("ranks a window by its histograms' p95, within 2% of the raw events' p95", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        const writer = yield* EventWriter
        yield* writer.writeBatch("p1", "mysql", events, { n: 1 })
        // A replay adds nothing: only inserted events count.
        yield* writer.writeBatch("p1", "mysql", events.slice(0, 50), { n: 2 })

        // The whole two hours: [10:00, 12:00) are two whole hours, read from the hour rollups.
        const whole = yield* page({ since: new Date(T0), until: new Date(T0 + 7_200_000) })
        expect(whole.queries.map((q) => q.id)).toEqual(["TAIL", "EVEN", "FAST"])
        for (const q of whole.queries) {
          const raw = rawP95(latencies[q.id]!)
          expect(q.p95_ms).toBeCloseTo(bucketValueMs(bucketOf(raw)), 9)
          expect(Math.abs(q.p95_ms! - raw) / raw).toBeLessThanOrEqual(RELATIVE_ERROR)
        }
        expect(whole.queries.map((q) => [q.id, q.calls, q.avg_ms])).toEqual([
          ["TAIL", 100, 21],
          ["EVEN", 100, 50.5],
          ["FAST", 100, 20.95]
        ])
        // The same window by mean is another order.
        const byMean = yield* page({ since: new Date(T0), until: new Date(T0 + 7_200_000), order: "avg_ms" })
        expect(byMean.queries.map((q) => q.id)).toEqual(["EVEN", "TAIL", "FAST"])

        // [10:30, 11:30): the edges' minutes and no whole hour. FAST's slow calls are its last five (after 11:55),
        // TAIL's its last ten (from 11:48): in this window both are fast; EVEN's calls 26 to 75 are in it.
        const half = yield* page({ since: new Date(T0 + 1_800_000), until: new Date(T0 + 5_400_000) })
        const inHalf = Object.fromEntries(
          Object.entries(latencies).map(([id, times]) => [
            id,
            times.filter((_, i) => {
              const second = (i * 7_200) / times.length + (id === "EVEN" ? 13 : 0)
              return second >= 1_800 && second < 5_400
            })
          ])
        )
        expect(half.queries.map((q) => q.id)).toEqual(["EVEN", "TAIL", "FAST"])
        expect(half.queries.map((q) => [q.id, q.calls])).toEqual([
          ["EVEN", inHalf.EVEN!.length],
          ["TAIL", inHalf.TAIL!.length],
          ["FAST", inHalf.FAST!.length]
        ])
        for (const q of half.queries) expect(q.p95_ms).toBeCloseTo(bucketValueMs(bucketOf(rawP95(inHalf[q.id]!))), 9)
        expect(half.queries.map((q) => [q.id, rawP95(inHalf[q.id]!)])).toEqual([
          ["EVEN", 73],
          ["TAIL", 10],
          ["FAST", 1]
        ])

        // Paged: the second row alone, and the totals of the window.
        const second = yield* page({ since: new Date(T0), limit: 1, offset: 1, withTotals: true })
        expect([second.queries.map((q) => q.id), second.more, second.totals]).toEqual([
          ["EVEN"],
          true,
          { total_ms: 2100 + 5050 + 2095, calls: 300 }
        ])
        // All time there is no histogram per query: the rows of other orders carry no p95.
        const allTime = yield* page({ order: "total_ms" })
        expect(allTime.queries.map((q) => [q.id, q.p95_ms])).toEqual([
          ["EVEN", null],
          ["TAIL", null],
          ["FAST", null]
        ])
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )

  it.live("slowq_histogram_quantile reads a histogram as LatencyHistogram.quantileMs does; a store before 0017 gets it", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* (yield* EventWriter).writeBatch("p1", "mysql", events, { n: 1 })
      }).pipe(Effect.provide(storeAt(db.url)))
      const sql = yield* storeClient(db.url)
      const quantiles = `SELECT slowq_histogram_quantile('{"0": 2, "173": 3, "200": 5}'::jsonb, q) AS v
        FROM unnest(ARRAY[0.01, 0.2, 0.5, 0.95, 1]) AS q ORDER BY q`
      const expected = [0, 0, 173, 200, 200].map((b) => ({ v: expect.closeTo(bucketValueMs(b), 9) }))
      expect(yield* sql.unsafe(quantiles)).toEqual(expected)
      expect(yield* sql.unsafe(`SELECT slowq_histogram_quantile('{}'::jsonb, 0.95) AS v`)).toEqual([{ v: null }])
      // Back to before migration 0017, then it alone, twice (as the migrator runs it, and as upgrade tests replay it).
      yield* sql.unsafe("DROP FUNCTION slowq_histogram_quantile(jsonb, float8)")
      for (const _ of [1, 2]) yield* sql.withTransaction(migration0017.pipe(Effect.provideService(SqlClient.SqlClient, sql)))
      expect(yield* sql.unsafe(quantiles)).toEqual(expected)
      yield* Effect.gen(function* () {
        const ranked = yield* page({ since: new Date(T0) })
        expect(ranked.queries.map((q) => q.id)).toEqual(["TAIL", "EVEN", "FAST"])
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )
})
