import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { scratchDatabase, unprivilegedRole, urlFor } from "../../plugins/postgres_pg_stat_statements/PgTestSupport.js"
import { runCli } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"

// pg_stat_statements → fingerprint → store, through the CLI, each collection a separate `slowq once` process: the
// previous snapshot lives in the store's checkpoint, so a restart between two collections loses no interval.
// Every test reads only a database of its own (include_databases) on the shared local PostgreSQL 15.

const pgssPipeline = (name: string, url: string, database: string) =>
  [
    `name: ${name}`,
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: postgres_pg_stat_statements",
    `  url: ${url}`,
    `  include_databases: [${database}]`,
    ""
  ].join("\n")

interface Runner {
  readonly unsafe: (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, unknown>
}

const run = (sql: Runner, text: string, times: number, params: ReadonlyArray<unknown>) =>
  Effect.forEach(Array.from({ length: times }, (_, i) => i), () => sql.unsafe(text, params), { discard: true })

interface ReportedQuery {
  readonly id: string
  readonly sample: string
  readonly calls: number
  readonly total_ms: number
  readonly events: number
  readonly intervals: number
}

describe("pg_stat_statements → fingerprint → store, through the CLI", () => {
  it.live(
    "a, restart, b, reset, restart, c: intervals of exactly a, b and c calls; the report's totals are their sums",
    () =>
      Effect.gen(function* () {
        const db = yield* scratchDatabase()
        yield* db.sql.unsafe("CREATE TABLE pgss_e2e (id int PRIMARY KEY, v text)")
        yield* db.sql.unsafe("INSERT INTO pgss_e2e SELECT g, 'v' || g FROM generate_series(1, 10) g")
        const statement = "SELECT v FROM pgss_e2e WHERE id = $1"
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "pgss.yaml": pgssPipeline("pgss_e2e", db.url, db.name) })
        const env = { SLOWQ_STORE_URL: store.url }
        const once = runCli(["once", "pgss_e2e", "--pipelines", dir], env).pipe(
          Effect.tap((result) => {
            expect(result.stderr).not.toContain("level=ERROR")
            expect(result.stdout).toMatch(/^pgss_e2e {2}ok {2}events=\d+ new_fingerprints=\d+ written=\d+ duplicates=0 dropped=0 duration_ms=\d+$/m)
            expect(result.code).toBe(0)
          })
        )

        yield* run(db.sql, statement, 3, [1])
        yield* once
        yield* run(db.sql, statement, 2, [2])
        yield* once
        const [entry] = (yield* db.sql.unsafe(
          "SELECT queryid::text AS queryid FROM pg_stat_statements WHERE dbid = $1 AND query = $2",
          [db.oid, statement]
        )) as ReadonlyArray<{ queryid: string }>
        yield* db.sql.unsafe("SELECT pg_stat_statements_reset(0, $1, $2::bigint)", [db.oid, entry!.queryid])
        yield* run(db.sql, statement, 4, [3])
        yield* once
        // A collection in which the statement did not run adds nothing for it.
        yield* once

        const sql = yield* storeClient(store.url)
        const events = yield* sql.unsafe<{
          calls: string
          rows_sent: number
          baseline: string
          origin: string
          start_us: string
          interval_start_us: string | null
          query_time_ms: number
        }>(
          // A false attribute is not kept (src/store/KeptAttributes.ts): absent reads as false.
          `SELECT calls::text AS calls, rows_sent, coalesce(attributes->>'baseline', 'false') AS baseline,
             attributes->>'origin' AS origin,
             start_us::text AS start_us,
             (extract(epoch FROM interval_start) * 1000000)::bigint::text AS interval_start_us, query_time_ms
           FROM slowq_events WHERE pipeline = 'pgss_e2e'
             AND query_id IN (SELECT query_id FROM slowq_samples WHERE pipeline = 'pgss_e2e' AND sql_text = $1)
           ORDER BY start_us`,
          [statement]
        )
        expect(events.map((e) => [e.calls, e.rows_sent, e.baseline, e.origin])).toEqual([
          ["3", 3, "true", "baseline"],
          ["2", 2, "false", "delta"],
          ["4", 4, "false", "restarted"]
        ])
        // Each interval starts where the previous collection ended, although every collection was another process.
        expect(events[1]!.interval_start_us).toBe(events[0]!.start_us)
        expect(events[2]!.interval_start_us).toBe(events[1]!.start_us)
        // slowq's own statements are not stored: no sample, no query holds one.
        expect(yield* sql.unsafe("SELECT 1 FROM slowq_samples WHERE pipeline = 'pgss_e2e' AND sql_text LIKE '/* slowq */%'")).toEqual([])
        expect(yield* sql.unsafe("SELECT 1 FROM slowq_queries WHERE pipeline = 'pgss_e2e' AND sample LIKE '/* slowq */%'")).toEqual([])
        expect(yield* totalsMismatches(sql)).toEqual([])

        const report = yield* runCli(["report", "--format", "json", "--pipeline", "pgss_e2e", "--top", "100"], env)
        expect(report.code).toBe(0)
        const queries = (JSON.parse(report.stdout) as { readonly queries: ReadonlyArray<ReportedQuery> }).queries
        const reported = queries.filter((q) => q.sample === statement)
        expect(reported.length).toBe(1)
        const totalMs = events.reduce((sum, e) => sum + e.query_time_ms, 0)
        expect(reported[0]!.calls).toBe(3 + 2 + 4)
        expect(reported[0]!.events).toBe(3)
        expect(reported[0]!.intervals).toBe(3)
        expect(Math.abs(reported[0]!.total_ms - totalMs)).toBeLessThan(1e-9 * Math.max(1, totalMs))

        // Without the baseline (what pg_stat_statements had counted before slowq looked): the later intervals only.
        const watched = yield* runCli(
          ["report", "--format", "json", "--pipeline", "pgss_e2e", "--top", "100", "--exclude-baseline"],
          env
        )
        expect(watched.code).toBe(0)
        const [since] = (JSON.parse(watched.stdout) as { readonly queries: ReadonlyArray<ReportedQuery> }).queries.filter(
          (q) => q.sample === statement
        )
        const watchedMs = events.slice(1).reduce((sum, e) => sum + e.query_time_ms, 0)
        expect([since!.calls, since!.intervals]).toEqual([2 + 4, 2])
        expect(Math.abs(since!.total_ms - watchedMs)).toBeLessThan(1e-9 * Math.max(1, watchedMs))
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "a database without the extension fails the pipeline with what to do; a role without pg_read_all_stats is warned",
    () =>
      Effect.gen(function* () {
        const bare = yield* scratchDatabase({ extension: false })
        const db = yield* scratchDatabase()
        const role = yield* unprivilegedRole()
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({
          "bare.yaml": pgssPipeline("pgss_bare", bare.url, bare.name),
          "limited.yaml": pgssPipeline("pgss_limited", urlFor(db.url, db.name, role), db.name)
        })
        const env = { SLOWQ_STORE_URL: store.url, SLOWQ_LOG_FORMAT: "json" }

        const failed = yield* runCli(["once", "pgss_bare", "--pipelines", dir], env)
        expect(failed.code).not.toBe(0)
        expect(failed.stdout.split("\n")).toContain(
          `pgss_bare  failed  pg_stat_statements is not installed in database '${bare.name}' on PostgreSQL at 127.0.0.1:5432: run CREATE EXTENSION pg_stat_statements; in that database (its statistics cover every database of the server, so one is enough), or point source.url at a database where it is installed.`
        )

        const limited = yield* runCli(["once", "pgss_limited", "--pipelines", dir], env)
        expect(limited.code).toBe(0)
        expect(limited.stdout).toMatch(/^pgss_limited {2}ok {2}events=\d+ /m)
        const warnings = limited.stderr
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as { readonly logLevel: string; readonly message: unknown })
          .filter((line) => line.logLevel === "WARN")
          .map((line) => String(line.message))
        expect(warnings.length).toBe(1)
        expect(warnings[0]).toMatch(
          new RegExp(
            `^pg_stat_statements hides \\d+ entries of other users from role '${role}' \\(queryid and text show as NULL / <insufficient privilege>\\); they are not collected\\. Grant the role pg_read_all_stats: GRANT pg_read_all_stats TO "${role}";$`
          )
        )
      }).pipe(Effect.scoped),
    120_000
  )
})
