import { Reactivity } from "@effect/experimental"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { newMarker } from "../../../test/support/Marker.js"
import type { Finding } from "../../../src/plugin/Finding.js"
import { planNodes, ratio, tablesOfPlan } from "./PostgresPlan.js"
import {
  diskSpill,
  indexScanFilter,
  largeSortOrHash,
  lossyBitmap,
  nestedLoopLarge,
  postgresPlanRules,
  rowMisestimate,
  seqScanFilter,
  staleStatistics
} from "./PostgresPlanRules.js"
import type { AnyRule, PlanInput, TableStats } from "./Rule.js"
import { readTableStats } from "./TableStats.js"
import { runRules } from "./RunRules.js"

/**
 * Every rule on plans the local PostgreSQL produces in the test, on scratch tables built deterministically (no
 * randomness, autovacuum off so nothing analyzes behind the test's back, parallel workers off so the plans do not
 * depend on how many workers start). Actual row counts follow from the data, so they are asserted exactly; estimates
 * only where ANALYZE makes them exact.
 */

const url = process.env.SLOWQ_TEST_PG_URL_TEST ?? "postgres://postgres@127.0.0.1:5432/test"

interface Scratch {
  readonly sql: SqlClient.SqlClient
  /** The tables' prefix. */
  readonly m: string
}
class ScratchTables extends Context.Tag("test/ScratchTables")<ScratchTables, Scratch>() {}

const NO_AUTOVACUUM = "WITH (autovacuum_enabled = false)"

const makeScratch = Effect.gen(function* () {
  // One session: its writes' statistics are flushed on request (pg_stat_force_next_flush) before what reads them.
  const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 })
  const m = newMarker("pgplan")
  const tables = ["big", "small", "loop", "fresh", "churn"].map((t) => `${m}_${t}`)
  yield* Effect.addFinalizer(() => sql.unsafe(`DROP TABLE IF EXISTS ${tables.join(", ")}`).pipe(Effect.orDie))
  // big: 200,000 rows; a and b are equal (i % 100), so the planner multiplies their selectivities for a = 1 AND b = 1.
  yield* sql.unsafe(
    `CREATE TABLE ${m}_big ${NO_AUTOVACUUM} AS SELECT i AS id, i % 100 AS a, i % 100 AS b, i % 1000 AS grp, md5(i::text) AS pad FROM generate_series(1, 200000) AS i`
  )
  yield* sql.unsafe(`ALTER TABLE ${m}_big ADD PRIMARY KEY (id)`)
  yield* sql.unsafe(`CREATE INDEX ${m}_big_a ON ${m}_big (a)`)
  yield* sql.unsafe(`CREATE TABLE ${m}_small ${NO_AUTOVACUUM} AS SELECT i AS id, md5(i::text) AS pad FROM generate_series(1, 5000) AS i`)
  yield* sql.unsafe(`CREATE TABLE ${m}_loop ${NO_AUTOVACUUM} AS SELECT i AS id FROM generate_series(1, 2000) AS i`)
  yield* sql.unsafe(`CREATE TABLE ${m}_fresh ${NO_AUTOVACUUM} AS SELECT i AS id FROM generate_series(1, 5000) AS i`)
  yield* sql.unsafe(`CREATE TABLE ${m}_churn ${NO_AUTOVACUUM} AS SELECT i AS id, 0 AS v FROM generate_series(1, 10000) AS i`)
  // CTAS counts its rows as modifications: flushed after ANALYZE, they would count against the fresh statistics.
  yield* sql.unsafe("SELECT pg_stat_force_next_flush()")
  yield* sql.unsafe(`ANALYZE ${m}_big, ${m}_small, ${m}_loop, ${m}_churn`)
  return { sql, m }
}).pipe(Effect.provide(Reactivity.layer))

const ScratchLayer = Layer.scoped(ScratchTables, makeScratch).pipe(Layer.orDie)

/** EXPLAIN in a transaction of its own, with `settings` set for it only. */
const explain = (
  text: string,
  options: { readonly analyze?: boolean; readonly verbose?: boolean; readonly settings?: Readonly<Record<string, string>> } = {}
) =>
  Effect.gen(function* () {
    const { sql } = yield* ScratchTables
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        const settings = { max_parallel_workers_per_gather: "0", ...options.settings }
        for (const [name, value] of Object.entries(settings)) {
          yield* sql.unsafe("SELECT set_config($1, $2, true)", [name, value])
        }
        const rows = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(
          `EXPLAIN (${options.analyze === true ? "ANALYZE, " : ""}${options.verbose === true ? "VERBOSE, " : ""}FORMAT JSON) ${text}`
        )
        const plan = rows[0]?.["QUERY PLAN"]
        return typeof plan === "string" ? (JSON.parse(plan) as unknown) : plan
      })
    )
  }).pipe(Effect.orDie)

const input = (plan: unknown, tableStats?: ReadonlyMap<string, TableStats>, now = Date.now()): PlanInput =>
  tableStats === undefined ? { dialect: "postgres", plan, now } : { dialect: "postgres", plan, tableStats, now }

const statsFor = (plan: unknown) =>
  Effect.gen(function* () {
    const { sql } = yield* ScratchTables
    return yield* readTableStats(sql, tablesOfPlan(plan))
  }).pipe(Effect.orDie)

/** One rule's findings as the stage gets them: through runRules, with its default thresholds and a reduction. */
const check = (rule: AnyRule<PlanInput>, given: PlanInput): ReadonlyArray<Finding> => runRules([rule], given)

/** A finding of the rule; its reduction the rule's declared one unless the check computes one from its numbers. */
const expected = (rule: AnyRule<PlanInput>, message: string, evidence: string, reduction = rule.reduction): Finding => ({
  rule: rule.id,
  severity: rule.severity,
  message,
  evidence,
  advice: expect.any(String) as unknown as string,
  source: "rule",
  reduction
})

/** Waits until pg_stat_user_tables shows what the test's writes did (a backend flushes its counts when idle). */
const statsOnceFlushed = (table: string, modified: number) =>
  Effect.gen(function* () {
    const { sql } = yield* ScratchTables
    let last: TableStats | undefined
    for (let attempt = 0; attempt < 50; attempt++) {
      const stats = yield* readTableStats(sql, [{ schema: null, table }])
      const found = stats.get(`public.${table}`)
      if (found !== undefined && found.modifiedSinceAnalyze === modified) return stats
      last = found
      yield* Effect.sleep("200 millis")
    }
    return yield* Effect.dieMessage(`pg_stat_user_tables never showed ${modified} modifications of ${table}: ${JSON.stringify(last)}`)
  }).pipe(Effect.orDie)

describe("PostgreSQL plan rules on real plans", () => {
  layer(ScratchLayer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("the walker names nodes as EXPLAIN's text format does, with their paths", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const plan = yield* explain(
          `SELECT x.grp, count(*) FROM ${m}_big x LEFT JOIN ${m}_small s ON s.id = x.id WHERE x.a = 1 GROUP BY x.grp`,
          { settings: { enable_seqscan: "off" } }
        )
        expect(planNodes(plan).map((n) => `${n.path} ${n.label}`)).toEqual([
          "Plan GroupAggregate",
          "Plan.Plans[0] Sort",
          "Plan.Plans[0].Plans[0] Hash Right Join",
          `Plan.Plans[0].Plans[0].Plans[0] Seq Scan on ${m}_small s`,
          "Plan.Plans[0].Plans[0].Plans[1] Hash",
          `Plan.Plans[0].Plans[0].Plans[1].Plans[0] Bitmap Heap Scan on ${m}_big x`,
          `Plan.Plans[0].Plans[0].Plans[1].Plans[0].Plans[0] Bitmap Index Scan on ${m}_big_a`
        ])
        const labels = (plan: unknown) => planNodes(plan).map((n) => `${n.path} ${n.label}`)
        const cte = yield* explain(
          `WITH c AS MATERIALIZED (SELECT id FROM ${m}_small WHERE id < 10)
           SELECT * FROM ${m}_big b WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.id = b.id) ORDER BY b.id DESC LIMIT 5`
        )
        expect(labels(cte)).toEqual([
          "Plan Limit",
          `Plan.Plans[0] Seq Scan on ${m}_small`,
          "Plan.Plans[1] Merge Anti Join",
          `Plan.Plans[1].Plans[0] Index Scan Backward using ${m}_big_pkey on ${m}_big b`,
          "Plan.Plans[1].Plans[1] Sort",
          "Plan.Plans[1].Plans[1].Plans[0] CTE Scan on c"
        ])
        expect(labels(yield* explain(`SELECT grp, count(*) FROM ${m}_big GROUP BY grp`))).toEqual([
          "Plan HashAggregate",
          `Plan.Plans[0] Seq Scan on ${m}_big`
        ])
        // VERBOSE names the schema: the label and the table carry it.
        const verbose = yield* explain(`SELECT * FROM ${m}_big b WHERE b.pad = 'x'`, { verbose: true })
        expect(labels(verbose)).toEqual([`Plan Seq Scan on public.${m}_big b`])
        expect(tablesOfPlan(verbose)).toEqual([{ schema: "public", table: `${m}_big` }])
        expect(tablesOfPlan(cte)).toEqual([
          { schema: null, table: `${m}_small` },
          { schema: null, table: `${m}_big` }
        ])
      })
    )

    it.effect("pg_seq_scan_filter: estimated (n_live_tup) and actual; near misses: a filter keeping half, a small table", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const plain = yield* explain(`SELECT * FROM ${m}_big WHERE pad = 'abc'`)
        const stats = yield* statsFor(plain)
        expect(check(seqScanFilter, input(plain, stats))).toEqual([
          // 1 − 1/200,000, bounded to 0.95: the index read and the rows kept still cost something.
          expected(seqScanFilter, `Seq Scan on ${m}_big reads 200,000 rows to keep 1 (estimated) by filter (pad = ?::text)`, `Plan Seq Scan on ${m}_big`, 0.95)
        ])
        // Without the table's size the estimate says only what the filter keeps: no finding.
        expect(check(seqScanFilter, input(plain))).toEqual([])

        const analyzed = yield* explain(`SELECT * FROM ${m}_big WHERE pad = 'abc'`, { analyze: true })
        expect(check(seqScanFilter, input(analyzed))).toEqual([
          expected(seqScanFilter, `Seq Scan on ${m}_big reads 200,000 rows to keep 0 (actual) by filter (pad = ?::text)`, `Plan Seq Scan on ${m}_big`, 0.95)
        ])

        // In parallel, per-loop averages times loops: the total again (give or take rounding of the averages).
        const parallel = yield* explain(`SELECT * FROM ${m}_big WHERE pad = 'abc'`, {
          analyze: true,
          settings: { max_parallel_workers_per_gather: "2", parallel_setup_cost: "0", parallel_tuple_cost: "0" }
        })
        const inParallel = check(seqScanFilter, input(parallel))
        expect(inParallel.map((f) => f.evidence)).toEqual([`Plan.Plans[0] Parallel Seq Scan on ${m}_big`])
        expect(inParallel[0]?.message).toMatch(
          new RegExp(`^Parallel Seq Scan on ${m}_big reads 200,00[0-2] rows to keep 0 \\(actual\\) by filter \\(pad = \\?::text\\)$`)
        )

        const half = yield* explain(`SELECT * FROM ${m}_big WHERE grp < 500`, { analyze: true })
        expect(planNodes(half)[0]?.label).toBe(`Seq Scan on ${m}_big`)
        expect(check(seqScanFilter, input(half))).toEqual([])
        // Allowed to keep up to 60%, the half it keeps is reported, and an index would save the other half.
        expect(runRules([seqScanFilter], input(half), { thresholds: { pg_seq_scan_filter: { max_kept_percent: 60 } } })).toEqual([
          expected(seqScanFilter, `Seq Scan on ${m}_big reads 200,000 rows to keep 100,000 (actual) by filter (grp < ?)`, `Plan Seq Scan on ${m}_big`, 0.5)
        ])
        const small = yield* explain(`SELECT * FROM ${m}_small WHERE pad = 'abc'`, { analyze: true })
        expect(planNodes(small)[0]?.label).toBe(`Seq Scan on ${m}_small`)
        expect(check(seqScanFilter, input(small))).toEqual([])
        // The threshold is the pipeline's to change.
        expect(runRules([seqScanFilter], input(small), { thresholds: { pg_seq_scan_filter: { min_rows: 5000 } } })).toEqual([
          expected(seqScanFilter, `Seq Scan on ${m}_small reads 5,000 rows to keep 0 (actual) by filter (pad = ?::text)`, `Plan Seq Scan on ${m}_small`, 0.95)
        ])
      })
    )

    it.effect("pg_index_scan_filter: the index finds 2,000 rows, the filter keeps 7; near miss: it keeps half", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const settings = { enable_seqscan: "off", enable_bitmapscan: "off" }
        const plan = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND pad LIKE 'ab%'`, { analyze: true, settings })
        expect(check(indexScanFilter, input(plan))).toEqual([
          expected(
            indexScanFilter,
            `Index Scan using ${m}_big_a on ${m}_big: filter (pad ~~ ?::text) removes 1,993 of the 2,000 rows the index found, keeping 7`,
            `Plan Index Scan using ${m}_big_a on ${m}_big`,
            // 1 − 7/2,000 = 0.9965, bounded to 0.95.
            0.95
          )
        ])
        // Plain EXPLAIN does not say how many rows the index returns: no finding.
        const plain = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND pad LIKE 'ab%'`, { settings })
        expect(check(indexScanFilter, input(plain))).toEqual([])
        const half = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND grp < 500`, { analyze: true, settings })
        expect(planNodes(half)[0]?.label).toBe(`Index Scan using ${m}_big_a on ${m}_big`)
        expect(check(indexScanFilter, input(half))).toEqual([])
      })
    )

    it.effect("pg_large_sort_hash: a sort and a hash of 200,000 estimated rows; near miss: 50,000", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const sort = yield* explain(`SELECT * FROM ${m}_big ORDER BY pad`)
        expect(check(largeSortOrHash, input(sort))).toEqual([
          expected(largeSortOrHash, "Sort sorts 200,000 rows of 49 bytes (estimated)", "Plan Sort")
        ])
        const hash = yield* explain(`SELECT * FROM ${m}_big x JOIN ${m}_big y ON y.id = x.id`, {
          settings: { enable_mergejoin: "off", enable_nestloop: "off" }
        })
        expect(check(largeSortOrHash, input(hash))).toEqual([
          expected(largeSortOrHash, "Hash builds a hash table of 200,000 rows of 49 bytes (estimated)", "Plan.Plans[1] Hash")
        ])
        const executed = yield* explain(`SELECT * FROM ${m}_big WHERE grp < 900 ORDER BY pad`, { analyze: true })
        expect(check(largeSortOrHash, input(executed))).toEqual([
          expected(largeSortOrHash, "Sort sorts 180,000 rows of 49 bytes (actual)", "Plan Sort")
        ])
        // 200,000 rows hashed into 200,000 groups (pad is unique): ANALYZE's n_distinct for pad is exact (-1).
        const groups = yield* explain(`SELECT pad, count(*) FROM ${m}_big GROUP BY pad`, { settings: { enable_sort: "off" } })
        expect(check(largeSortOrHash, input(groups))).toEqual([
          expected(largeSortOrHash, "HashAggregate hashes 200,000 groups of 41 bytes (estimated)", "Plan HashAggregate")
        ])
        const fewGroups = yield* explain(`SELECT grp, count(*) FROM ${m}_big GROUP BY grp`)
        expect(planNodes(fewGroups)[0]?.label).toBe("HashAggregate")
        expect(check(largeSortOrHash, input(fewGroups))).toEqual([])
        const smaller = yield* explain(`SELECT * FROM ${m}_big WHERE a < 25 ORDER BY pad`)
        expect(planNodes(smaller)[0]?.label).toBe("Sort")
        expect(check(largeSortOrHash, input(smaller))).toEqual([])
      })
    )

    it.effect("pg_nested_loop_large: 2,000 × 2,000 estimated rows; near miss: 100 outer rows", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const plan = yield* explain(`SELECT count(*) FROM ${m}_loop x JOIN ${m}_loop y ON x.id < y.id`)
        expect(check(nestedLoopLarge, input(plan))).toEqual([
          expected(
            nestedLoopLarge,
            "Nested Loop runs its inner side for 2,000 outer rows × 2,000 inner rows per loop = 4,000,000 (estimated)",
            "Plan.Plans[0] Nested Loop"
          )
        ])
        const executed = yield* explain(`SELECT count(*) FROM ${m}_loop x JOIN ${m}_loop y ON x.id < y.id`, { analyze: true })
        expect(check(nestedLoopLarge, input(executed))).toEqual([
          expected(
            nestedLoopLarge,
            "Nested Loop runs its inner side for 2,000 outer rows × 2,000 inner rows per loop = 4,000,000 (actual)",
            "Plan.Plans[0] Nested Loop"
          )
        ])
        const fewer = yield* explain(`SELECT count(*) FROM ${m}_loop x JOIN ${m}_loop y ON x.id < y.id WHERE x.id <= 100`)
        expect(planNodes(fewer)[1]?.label).toBe("Nested Loop")
        expect(check(nestedLoopLarge, input(fewer))).toEqual([])
      })
    )

    it.effect("pg_stale_statistics: never analyzed, many modifications, long ago; near misses: fresh statistics, few changes", () =>
      Effect.gen(function* () {
        const { sql, m } = yield* ScratchTables
        const fresh = yield* explain(`SELECT * FROM ${m}_fresh f JOIN ${m}_big b ON b.id = f.id WHERE f.id = 1`)
        const freshStats = yield* statsFor(fresh)
        expect(freshStats.get(`public.${m}_fresh`)).toEqual({ liveRows: 5000, modifiedSinceAnalyze: 5000, lastAnalyzedAt: null })
        const neverAnalyzed = check(staleStatistics, input(fresh, freshStats))
        expect(neverAnalyzed).toHaveLength(1)
        expect(neverAnalyzed[0]).toEqual(
          expected(staleStatistics, `statistics of public.${m}_fresh: never analyzed (5,000 live rows)`, neverAnalyzed[0]?.evidence ?? "")
        )
        expect(neverAnalyzed[0]?.evidence).toMatch(new RegExp(`^Plan(\\.Plans\\[\\d\\])* .*on ${m}_fresh f$`))
        expect(neverAnalyzed[0]?.advice).toBe(
          `Run ANALYZE public.${m}_fresh; if it recurs, lower the table's autovacuum_analyze_scale_factor so autovacuum analyzes it sooner.`
        )

        const churn = `SELECT * FROM ${m}_churn WHERE id = 1`
        yield* sql.unsafe(`UPDATE ${m}_churn SET v = 1 WHERE id <= 1000`)
        yield* sql.unsafe("SELECT pg_stat_force_next_flush()")
        const fewChanges = yield* statsOnceFlushed(`${m}_churn`, 1000)
        const plan = yield* explain(churn)
        expect(check(staleStatistics, input(plan, fewChanges))).toEqual([])
        const inAMonth = Date.now() + 31 * 86_400_000
        expect(check(staleStatistics, input(plan, fewChanges, inAMonth))).toEqual([
          expected(
            staleStatistics,
            `statistics of public.${m}_churn: last analyzed 31 days ago, 1,000 rows modified since`,
            `Plan Seq Scan on ${m}_churn`
          )
        ])
        yield* sql.unsafe(`UPDATE ${m}_churn SET v = 2 WHERE id > 8000`)
        yield* sql.unsafe("SELECT pg_stat_force_next_flush()")
        const manyChanges = yield* statsOnceFlushed(`${m}_churn`, 3000)
        expect(check(staleStatistics, input(plan, manyChanges))).toEqual([
          expected(
            staleStatistics,
            `statistics of public.${m}_churn: 3,000 rows modified since the last ANALYZE (30% of 10,000 live rows)`,
            `Plan Seq Scan on ${m}_churn`
          )
        ])
        // big was analyzed and not modified since.
        const big = yield* explain(`SELECT * FROM ${m}_big WHERE id = 1`)
        expect(check(staleStatistics, input(big, yield* statsFor(big)))).toEqual([])
      })
    )

    it.effect("pg_row_misestimate: correlated columns, 100× under; near misses: one column, an overestimate under Limit, plain EXPLAIN", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const settings = { enable_seqscan: "off", enable_bitmapscan: "off" }
        const plan = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND b = 1`, { analyze: true, settings })
        // The estimate comes from ANALYZE's random sample: about 200,000 × 1% × 1% = 20.
        const estimate = planNodes(plan)[0]?.node["Plan Rows"] as number
        expect(estimate).toBeLessThan(100)
        expect(check(rowMisestimate, input(plan))).toEqual([
          expected(
            rowMisestimate,
            `Index Scan using ${m}_big_a on ${m}_big: estimated ${estimate} rows, actually 2,000 (${ratio(2000 / estimate)}× under)`,
            `Plan Index Scan using ${m}_big_a on ${m}_big`
          )
        ])
        // Only where the error starts: the Sort above inherits it and is not reported.
        const sorted = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND b = 1 ORDER BY pad`, { analyze: true, settings })
        expect(check(rowMisestimate, input(sorted)).map((f) => f.evidence)).toEqual([
          `Plan.Plans[0] Index Scan using ${m}_big_a on ${m}_big`
        ])
        const one = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1`, { analyze: true, settings })
        expect(check(rowMisestimate, input(one))).toEqual([])
        const limited = yield* explain(`SELECT * FROM ${m}_big LIMIT 5`, { analyze: true })
        expect(planNodes(limited).map((n) => [n.label, n.node["Plan Rows"], n.node["Actual Rows"]])).toEqual([
          ["Limit", 5, 5],
          [`Seq Scan on ${m}_big`, 200000, 5]
        ])
        expect(check(rowMisestimate, input(limited))).toEqual([])
        expect(check(rowMisestimate, input(yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND b = 1`, { settings })))).toEqual([])
      })
    )

    it.effect("pg_disk_spill: an external merge sort and a hash in batches at 64kB; near miss: the same in 64MB", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const small = { work_mem: "64kB" }
        const sort = yield* explain(`SELECT * FROM ${m}_big ORDER BY pad`, { analyze: true, settings: small })
        const found = check(diskSpill, input(sort))
        expect(found.map((f) => [f.rule, f.severity, f.evidence])).toEqual([["pg_disk_spill", "warn", "Plan Sort"]])
        expect(found[0]?.message).toMatch(/^Sort spilled to disk: external merge with [\d,]+ kB on disk$/)
        const hash = yield* explain(`SELECT count(*) FROM ${m}_big x JOIN ${m}_big y ON x.id = y.id`, {
          analyze: true,
          settings: { ...small, enable_mergejoin: "off", enable_nestloop: "off" }
        })
        const spilled = check(diskSpill, input(hash))
        expect(spilled.map((f) => f.evidence)).toEqual(["Plan.Plans[0].Plans[1] Hash"])
        expect(spilled[0]?.message).toMatch(/^Hash spilled to disk: [\d,]+ batches \([\d,]+ planned\), [\d,]+ kB in memory$/)

        const aggregate = yield* explain(`SELECT pad, count(*) FROM ${m}_big GROUP BY pad`, {
          analyze: true,
          settings: { ...small, enable_sort: "off" }
        })
        const grouped = check(diskSpill, input(aggregate))
        expect(grouped.map((f) => f.evidence)).toEqual(["Plan HashAggregate"])
        expect(grouped[0]?.message).toMatch(/^HashAggregate spilled to disk: [\d,]+ batches, [\d,]+ kB on disk$/)

        const large = { work_mem: "64MB" }
        const inMemory = yield* explain(`SELECT * FROM ${m}_big ORDER BY pad`, { analyze: true, settings: large })
        expect(planNodes(inMemory)[0]?.node["Sort Space Type"]).toBe("Memory")
        expect(check(diskSpill, input(inMemory))).toEqual([])
        const oneBatch = yield* explain(`SELECT count(*) FROM ${m}_big x JOIN ${m}_big y ON x.id = y.id`, {
          analyze: true,
          settings: { ...large, enable_mergejoin: "off", enable_nestloop: "off" }
        })
        expect(check(diskSpill, input(oneBatch))).toEqual([])
        // Plain EXPLAIN has no Sort Method.
        expect(check(diskSpill, input(yield* explain(`SELECT * FROM ${m}_big ORDER BY pad`, { settings: small })))).toEqual([])
      })
    )

    it.effect("pg_lossy_bitmap: a bitmap of 2,000 rows over every page at 64kB; near miss: exact at 4MB", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const bitmapOnly = { enable_seqscan: "off", enable_indexscan: "off" }
        const lossy = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1`, {
          analyze: true,
          settings: { ...bitmapOnly, work_mem: "64kB" }
        })
        const found = check(lossyBitmap, input(lossy))
        expect(found.map((f) => [f.rule, f.severity, f.evidence])).toEqual([["pg_lossy_bitmap", "warn", `Plan Bitmap Heap Scan on ${m}_big`]])
        expect(found[0]?.message).toMatch(
          new RegExp(`^Bitmap Heap Scan on ${m}_big: [\\d,]+ of [\\d,]+ heap blocks lossy, [\\d,]+ rows removed by index recheck$`)
        )
        const exact = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1`, { analyze: true, settings: { ...bitmapOnly, work_mem: "4MB" } })
        expect(planNodes(exact)[0]?.label).toBe(`Bitmap Heap Scan on ${m}_big`)
        expect(check(lossyBitmap, input(exact))).toEqual([])
      })
    )

    it.effect("all rules at once, one disabled; a MySQL plan and garbage give nothing", () =>
      Effect.gen(function* () {
        const { m } = yield* ScratchTables
        const plan = yield* explain(`SELECT * FROM ${m}_big WHERE a = 1 AND b = 1 ORDER BY pad`, {
          analyze: true,
          settings: { enable_seqscan: "off", enable_indexscan: "off", work_mem: "64kB" }
        })
        expect(runRules(postgresPlanRules, input(plan)).map((f) => `${f.rule} ${f.evidence}`)).toEqual([
          `pg_row_misestimate Plan.Plans[0] Bitmap Heap Scan on ${m}_big`,
          "pg_disk_spill Plan Sort",
          `pg_lossy_bitmap Plan.Plans[0] Bitmap Heap Scan on ${m}_big`
        ])
        expect(
          runRules(postgresPlanRules, input(plan), { disabled: new Set(["pg_disk_spill"]) }).map((f) => f.rule)
        ).toEqual(["pg_row_misestimate", "pg_lossy_bitmap"])
        expect(runRules(postgresPlanRules, { dialect: "mysql", plan, now: 0 })).toEqual([])
        for (const garbage of [null, 7, "x", [], [{}], { Plan: 3 }, { query_block: { table: {} } }, [{ Plan: { Plans: [null, 1] } }]]) {
          expect(runRules(postgresPlanRules, input(garbage))).toEqual([])
        }
      })
    )
  })
})
