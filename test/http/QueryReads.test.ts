import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { explainEnrichment } from "../../plugins/explain/PlanStore.js"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { bucketOf, bucketValueMs } from "../../src/domain/LatencyHistogram.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import type { EnrichmentValues } from "../../src/http/Api.js"
import { attach } from "../../src/plugin/Enrichment.js"
import { EnrichmentReads } from "../../src/store/EnrichmentReads.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { type ListQueriesOptions, type QueryListItem, QueryReads } from "../../src/store/QueryReads.js"
import { SeriesReads } from "../../src/store/SeriesReads.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerEmbedded, storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"

// A small store with exact figures: two pipelines, query AAAA in both.
/** The value the histogram gives a p95 landing on `ms`: its bucket's (PostgreSQL's power() may differ in the last bit). */
const p95Of = (ms: number) => expect.closeTo(bucketValueMs(bucketOf(ms)), 9)

const t0Us = 1_700_000_000_000_000 // 2023-11-14T22:13:20Z
const at = (seconds: number) => new Date(t0Us / 1000 + seconds * 1000)
const iso = (seconds: number) => at(seconds).toISOString()

const event = (key: string, queryId: string, seconds: number, queryTimeMs: number): CollectedEvent => ({
  event: makeEvent({
    key,
    startTimeUs: t0Us + seconds * 1_000_000,
    queryTimeMs,
    sqlText: `select /* ${key} */ ${queryId}`,
    rowsExamined: 10,
    rowsSent: 1,
    db: "shop"
  }),
  fingerprint: {
    fingerprint: `select ${queryId.toLowerCase()}`,
    queryId,
    // DDDD is the one delete: the statement type filter's subject.
    statementType: queryId === "DDDD" ? "delete" : "select",
    readOnly: queryId !== "DDDD",
    tables: queryId === "BBBB" ? ["shop.orders"] : [],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})

// What the API's handlers read: QueryReads, and the fields the explain enrichment adds to each row.
type Services = EventWriter | QueryReads | EnrichmentReads | SeriesReads | StoreClient

const seed = Effect.gen(function* () {
  const writer = yield* EventWriter
  // A plan of BBBB in p1 only; DDDD was skipped, which is no plan. Stored with the batches that carried them.
  const b1 = attach(event("b1", "BBBB", 60, 100), explainEnrichment, {
    _tag: "Plan",
    method: "direct",
    capturedAt: at(70),
    hash: "h1",
    plan: { query_block: {} }
  })
  const d1 = attach(event("d1", "DDDD", 200, 7), explainEnrichment, { _tag: "Skipped", reason: "not a read" })
  yield* writer.writeBatch(
    "p1",
    "mysql",
    [
      event("a1", "AAAA", 0, 10),
      event("a2", "AAAA", 30, 30),
      event("a3", "AAAA", 120, 5),
      b1,
      ...[10, 20, 30, 40, 50].map((s) => event(`c${s}`, "CCCC", s, 1))
    ],
    { n: 1 }
  )
  yield* writer.writeBatch("p2", "mysql", [event("a4", "AAAA", 90, 50), d1], { n: 1 })
  // Findings as a stage leaves them: p1/AAAA has an open info and an open crit, p1/BBBB an open warn and a resolved
  // crit (which no longer counts), the others none.
  const { sql } = yield* StoreClient
  const finding = (pipeline: string, queryId: string, rule: string, severity: string, resolved: boolean) =>
    sql.unsafe(
      `INSERT INTO slowq_findings (pipeline, query_id, stage, scope, rule, subject, severity, source, message, evidence,
         advice, reduction, first_seen, last_seen, resolved_at)
       VALUES ($1, $2, 'lint', 'query', $3, '', $4, 'rule', 'm', 'e', 'a', 0.1, now(), now(), ${resolved ? "now()" : "NULL"})`,
      [pipeline, queryId, rule, severity]
    )
  yield* finding("p1", "AAAA", "r_info", "info", false)
  yield* finding("p1", "AAAA", "r_crit", "crit", false)
  yield* finding("p1", "BBBB", "r_warn", "warn", false)
  yield* finding("p1", "BBBB", "r_crit", "crit", true)
  yield* finding("p2", "DDDD", "r_crit", "crit", true)
  const reads = yield* QueryReads
  const enrichments = yield* EnrichmentReads
  return {
    ...reads,
    /** A page as the API serves it: each row with the enrichments' list fields. */
    listQueries: (options: ListQueriesOptions) =>
      Effect.gen(function* () {
        const page = yield* reads.listQueries(options)
        const fields = yield* enrichments.listFields(page.queries.map((q) => ({ pipeline: q.pipeline, id: q.id })))
        return { ...page, queries: page.queries.map((q, i): QueryListItem & EnrichmentValues => ({ ...q, ...fields[i] })) }
      }),
    metricFamilies: enrichments.metricFamilies,
    sparkSeries: (yield* SeriesReads).sparkSeries
  }
})

const postgresStore = <A, E>(body: Effect.Effect<A, E, Services>) =>
  Effect.gen(function* () {
    const db = yield* freshStoreDatabase
    return yield* body.pipe(Effect.provide(Layer.fresh(storeLayerFromUrl(Redacted.make(db.url), [explainEnrichment]))))
  }).pipe(Effect.scoped)

const embeddedStore = <A, E>(body: Effect.Effect<A, E, Services>) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-reads-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ).pipe(
    Effect.flatMap((dir) => body.pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir, [explainEnrichment]))))),
    Effect.scoped
  )

const ids = (page: { readonly queries: ReadonlyArray<{ readonly pipeline: string; readonly id: string }> }) =>
  page.queries.map((q) => `${q.pipeline}/${q.id}`)

describe.each([
  ["PostgreSQL", postgresStore],
  ["embedded (PGlite)", embeddedStore]
])("the API's store reads on %s", (_, withStore) => {
  it.live(
    "rank all-time and windowed totals, page, and describe one query",
    () =>
      withStore(
        Effect.gen(function* () {
          const store = yield* seed
          const page = (options: Partial<Parameters<typeof store.listQueries>[0]>) =>
            store.listQueries({ order: "total_ms", limit: 50, offset: 0, withTotals: true, ...options })

          // All time, every order; ties broken by pipeline then id.
          expect(ids(yield* page({}))).toEqual(["p1/BBBB", "p2/AAAA", "p1/AAAA", "p2/DDDD", "p1/CCCC"])
          expect(ids(yield* page({ order: "calls" }))).toEqual(["p1/CCCC", "p1/AAAA", "p1/BBBB", "p2/AAAA", "p2/DDDD"])
          expect(ids(yield* page({ order: "avg_ms" }))).toEqual(["p1/BBBB", "p2/AAAA", "p1/AAAA", "p2/DDDD", "p1/CCCC"])
          expect(ids(yield* page({ order: "max_ms" }))).toEqual(["p1/BBBB", "p2/AAAA", "p1/AAAA", "p2/DDDD", "p1/CCCC"])
          expect(ids(yield* page({ pipeline: "p1" }))).toEqual(["p1/BBBB", "p1/AAAA", "p1/CCCC"])
          expect(ids(yield* page({ pipeline: "nope" }))).toEqual([])
          expect((yield* page({})).queries.map((q) => [`${q.pipeline}/${q.id}`, q.plan_known])).toEqual([
            ["p1/BBBB", true],
            ["p2/AAAA", false],
            ["p1/AAAA", false],
            ["p2/DDDD", false],
            ["p1/CCCC", false]
          ])
          expect((yield* page({ since: at(0), until: at(100), limit: 1 })).queries.map((q) => [q.id, q.plan_known])).toEqual([
            ["BBBB", true]
          ])

          const first = yield* page({ limit: 2 })
          expect({ ids: ids(first), more: first.more }).toEqual({ ids: ["p1/BBBB", "p2/AAAA"], more: true })
          const last = yield* page({ limit: 2, offset: 4 })
          expect({ ids: ids(last), more: last.more }).toEqual({ ids: ["p1/CCCC"], more: false })

          const a = (yield* page({ pipeline: "p1" })).queries.find((q) => q.id === "AAAA")
          expect(a).toEqual({
            id: "AAAA",
            pipeline: "p1",
            fingerprint: "select aaaa",
            dialect: "mysql",
            statement_type: "select",
            read_only: true,
            tables: [],
            events: 3,
            calls: 3,
            total_ms: 45,
            avg_ms: 15,
            max_ms: 30,
            // All time: no histogram per query.
            p95_ms: null,
            lock_ms: 0,
            rows_sent: 3,
            rows_examined: 30,
            rows_affected: 0,
            first_seen: at(0),
            last_seen: at(120),
            first_seen_ever: at(0),
            top_severity: "crit",
            plan_known: false
          })

          // A window [22:14:00, 22:15:00) (t0 + 40 s to t0 + 100 s): aggregated from the minutes' rollups in it.
          const windowed = yield* page({ since: at(40), until: at(100) })
          expect(ids(windowed)).toEqual(["p1/BBBB", "p2/AAAA", "p1/CCCC"])
          expect(windowed.queries.map((q) => [q.calls, q.total_ms, q.max_ms, q.p95_ms])).toEqual([
            [1, 100, 100, p95Of(100)],
            [1, 50, 50, p95Of(50)],
            [2, 2, 1, p95Of(1)]
          ])
          const c = windowed.queries[2]!
          expect([c.first_seen, c.last_seen, c.tables]).toEqual([at(40), at(50), []])
          // Each row's first execution ever, whatever the window (CCCC's was at t0 + 10 s, before it), and its most
          // severe open finding (BBBB's resolved crit does not count).
          expect(windowed.queries.map((q) => [q.id, q.first_seen_ever, q.top_severity])).toEqual([
            ["BBBB", at(60), "warn"],
            ["AAAA", at(90), null],
            ["CCCC", at(10), null]
          ])
          // The window's totals over every query: b1 100 ms, a4 50 ms, c40 and c50 1 ms each.
          expect(windowed.totals).toEqual({ total_ms: 152, calls: 4 })
          // Windows are read at minute precision: a `since` inside a minute counts from its start.
          expect(yield* page({ since: at(45), until: at(100) })).toEqual(windowed)
          expect(ids(yield* page({ since: at(40), until: at(100), order: "calls", limit: 1 }))).toEqual(["p1/CCCC"])
          expect(ids(yield* page({ until: at(15) }))).toEqual(["p1/AAAA", "p1/CCCC"])
          // From t0 + 150 s, 22:15:50, so from 22:15:00: a3 (22:15:20) and d1 (22:16:40).
          expect(ids(yield* page({ since: at(150) }))).toEqual(["p2/DDDD", "p1/AAAA"])
          expect(ids(yield* page({ since: at(1000) }))).toEqual([])

          // Totals of every query the filters keep, whatever the page: all time 45 + 100 + 5 + 50 + 7 ms.
          expect((yield* page({})).totals).toEqual({ total_ms: 207, calls: 11 })
          expect((yield* page({ limit: 1, offset: 3 })).totals).toEqual({ total_ms: 207, calls: 11 })
          expect((yield* page({ pipeline: "p1" })).totals).toEqual({ total_ms: 150, calls: 9 })
          expect((yield* page({ pipeline: "nope" })).totals).toEqual({ total_ms: 0, calls: 0 })
          expect((yield* page({ since: at(1000) })).totals).toEqual({ total_ms: 0, calls: 0 })
          // Only when asked for: they are a read over every query.
          expect((yield* page({ withTotals: false })).totals).toBe(null)
          expect((yield* page({ since: at(40), withTotals: false })).totals).toBe(null)
          // By statement type: all time, and over a window both by the walk (total_ms) and by the aggregate (avg_ms).
          const deletes = yield* page({ statementType: "delete" })
          expect([ids(deletes), deletes.totals]).toEqual([["p2/DDDD"], { total_ms: 7, calls: 1 }])
          const selects = yield* page({ statementType: "select" })
          expect([ids(selects), selects.totals]).toEqual([
            ["p1/BBBB", "p2/AAAA", "p1/AAAA", "p1/CCCC"],
            { total_ms: 200, calls: 10 }
          ])
          expect(ids(yield* page({ statementType: "select", pipeline: "p2" }))).toEqual(["p2/AAAA"])
          expect(ids(yield* page({ statementType: "update" }))).toEqual([])
          for (const order of ["total_ms", "avg_ms", "calls", "max_ms"] as const) {
            const late = yield* page({ since: at(150), statementType: "select", order })
            expect([order, ids(late), late.totals]).toEqual([order, ["p1/AAAA"], { total_ms: 5, calls: 1 }])
            const lateDeletes = yield* page({ since: at(150), statementType: "delete", pipeline: "p2", order })
            expect([order, ids(lateDeletes), lateDeletes.totals]).toEqual([order, ["p2/DDDD"], { total_ms: 7, calls: 1 }])
          }
          const windowSelects = yield* page({ since: at(40), until: at(100), statementType: "select", order: "avg_ms" })
          expect([ids(windowSelects), windowSelects.totals]).toEqual([
            ["p1/BBBB", "p2/AAAA", "p1/CCCC"],
            { total_ms: 152, calls: 4 }
          ])

          // Many queries' series at once, per pipeline, aligned on the steps of the window: minutes 22:13 to 22:16.
          const minutes = [at(-20), at(40), at(100), at(160)]
          expect(yield* store.sparkSeries(["AAAA", "ZZZZ", "CCCC"], { since: at(0), until: at(180), stepSeconds: 60 })).toEqual({
            starts: minutes,
            series: [
              { query_id: "AAAA", pipeline: "p1", calls: [2, 0, 1, 0], total_ms: [40, 0, 5, 0], max_ms: [30, 0, 5, 0], rows_examined: [20, 0, 10, 0] },
              { query_id: "AAAA", pipeline: "p2", calls: [0, 1, 0, 0], total_ms: [0, 50, 0, 0], max_ms: [0, 50, 0, 0], rows_examined: [0, 10, 0, 0] },
              { query_id: "CCCC", pipeline: "p1", calls: [3, 2, 0, 0], total_ms: [3, 2, 0, 0], max_ms: [1, 1, 0, 0], rows_examined: [30, 20, 0, 0] }
            ]
          })
          expect(
            yield* store.sparkSeries(["CCCC", "AAAA"], { pipeline: "p2", since: at(0), until: at(180), stepSeconds: 120 })
          ).toEqual({
            // Steps of 2 minutes aligned on the epoch: 22:12, 22:14, 22:16.
            starts: [at(-80), at(40), at(160)],
            series: [{ query_id: "AAAA", pipeline: "p2", calls: [0, 1, 0], total_ms: [0, 50, 0], max_ms: [0, 50, 0], rows_examined: [0, 10, 0] }]
          })
          // Whole hours from the hour rollups: 21:00 to 00:00.
          const hourly = yield* store.sparkSeries(["AAAA"], { since: at(-3600), until: at(7200), stepSeconds: 3600 })
          expect(hourly.starts.map((d) => d.toISOString())).toEqual([
            "2023-11-14T21:00:00.000Z",
            "2023-11-14T22:00:00.000Z",
            "2023-11-14T23:00:00.000Z",
            "2023-11-15T00:00:00.000Z"
          ])
          expect(hourly.series).toEqual([
            { query_id: "AAAA", pipeline: "p1", calls: [0, 3, 0, 0], total_ms: [0, 45, 0, 0], max_ms: [0, 30, 0, 0], rows_examined: [0, 30, 0, 0] },
            { query_id: "AAAA", pipeline: "p2", calls: [0, 1, 0, 0], total_ms: [0, 50, 0, 0], max_ms: [0, 50, 0, 0], rows_examined: [0, 10, 0, 0] }
          ])
          expect((yield* store.sparkSeries(["ZZZZ"], { since: at(0), until: at(180), stepSeconds: 60 })).series).toEqual([])

          // One query over both pipelines, then over one.
          const stats = yield* store.queryStats("AAAA")
          expect(Option.getOrThrow(stats)).toEqual({
            id: "AAAA",
            pipelines: ["p1", "p2"],
            fingerprint: "select aaaa",
            dialect: "mysql",
            statement_type: "select",
            read_only: true,
            tables: [],
            events: 4,
            calls: 4,
            total_ms: 95,
            avg_ms: 23.75,
            max_ms: 50,
            lock_ms: 0,
            rows_sent: 4,
            rows_examined: 40,
            rows_affected: 0,
            first_seen: at(0),
            last_seen: at(120),
            slowest_sample: "select /* a4 */ AAAA"
          })
          const inP1 = Option.getOrThrow(yield* store.queryStats("AAAA", "p1"))
          expect([inP1.pipelines, inP1.events, inP1.total_ms, inP1.slowest_sample]).toEqual([
            ["p1"],
            3,
            45,
            "select /* a2 */ AAAA"
          ])
          expect(yield* store.metricFamilies()).toEqual([
            {
              name: "slowq_explain_queries",
              help: "Queries by the outcome of their latest EXPLAIN (plan, skipped, failed), from the store.",
              samples: [
                { labels: [["pipeline", "p1"], ["status", "plan"]], value: 1 },
                { labels: [["pipeline", "p2"], ["status", "skipped"]], value: 1 }
              ]
            }
          ])
          expect(Option.isNone(yield* store.queryStats("ZZZZ"))).toBe(true)
          expect(Option.isNone(yield* store.queryStats("DDDD", "p1"))).toBe(true)

          // Buckets of 60 s aligned on the epoch: t0 = 1_700_000_000 s falls in the one starting 20 s before it.
          const intervals = yield* store.queryIntervals("AAAA", { since: at(0), until: at(180), bucketSeconds: 60 })
          expect(intervals).toEqual({
            bucketSeconds: 60,
            intervals: [
              { start: at(-20), events: 2, calls: 2, total_ms: 40, avg_ms: 20, max_ms: 30, rows_sent: 2, rows_examined: 20 },
              { start: at(40), events: 1, calls: 1, total_ms: 50, avg_ms: 50, max_ms: 50, rows_sent: 1, rows_examined: 10 },
              { start: at(100), events: 1, calls: 1, total_ms: 5, avg_ms: 5, max_ms: 5, rows_sent: 1, rows_examined: 10 }
            ]
          })
          // Read from the rollups: a bucket is at least their minute, and a window counts whole minutes, `since` from
          // the start of its minute (22:13:00, so a1 at 22:13:20 is in) and `until` up to the end of its (22:15:20, so
          // a3 at 22:15:20 is in).
          expect(yield* store.queryIntervals("AAAA", { since: at(10), until: at(100.5), bucketSeconds: 1 })).toEqual({
            bucketSeconds: 60,
            intervals: [...intervals.intervals]
          })
          const p1Only = yield* store.queryIntervals("AAAA", { pipeline: "p1", since: at(0), until: at(100), bucketSeconds: 3600 })
          expect(p1Only.intervals.map((i) => [i.start.toISOString(), i.calls, i.total_ms])).toEqual([["2023-11-14T22:00:00.000Z", 2, 40]])
          // Buckets of whole hours read the whole hours of the window from the hour rollups, its edges from the minutes.
          const hours = yield* store.queryIntervals("AAAA", { since: at(-3600), until: at(7200), bucketSeconds: 7200 })
          expect(hours.intervals.map((i) => [i.start.toISOString(), i.events, i.calls, i.total_ms, i.max_ms])).toEqual([
            ["2023-11-14T22:00:00.000Z", 4, 4, 95, 50]
          ])
          expect((yield* store.queryIntervals("ZZZZ", { since: at(0), until: at(180), bucketSeconds: 60 })).intervals).toEqual([])
          expect((yield* store.queryIntervals("AAAA", { pipeline: "p3", since: at(0), until: at(180), bucketSeconds: 60 })).intervals).toEqual([])

          // Per pipeline and hour, the first event and the slowest are kept: p1's a3 is neither, p2's a4 is both.
          const samples = yield* store.querySamples("AAAA", { limit: 3 })
          const sample = (pipeline: string, kind: string, seconds: number, ms: number, key: string) => ({
            pipeline,
            kind,
            start_time: at(seconds),
            calls: 1,
            query_time_ms: ms,
            lock_time_ms: 0,
            rows_sent: 1,
            rows_examined: 10,
            rows_affected: 0,
            db: "shop",
            sql_text: `select /* ${key} */ AAAA`,
            truncated: false
          })
          expect(samples).toEqual([
            sample("p2", "slowest", 90, 50, "a4"),
            sample("p1", "slowest", 30, 30, "a2"),
            sample("p1", "first", 0, 10, "a1")
          ])
          const windowSamples = yield* store.querySamples("AAAA", { pipeline: "p1", since: at(0), until: at(100), limit: 10 })
          expect(windowSamples.map((s) => s.start_time.toISOString())).toEqual([iso(30), iso(0)])
        })
      ),
    120_000
  )
})
