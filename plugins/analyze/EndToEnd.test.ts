import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../../test/support/Cli.js"
import { newMarker } from "../../test/support/Marker.js"
import { runMariadb, truncateSlowLog } from "../../test/support/Mariadb.js"
import { pipelinesDir } from "../../test/support/Pipelines.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { storeClient } from "../../test/support/StoreQueries.js"
import { mariadbDatabase, pgDatabase } from "../../test/support/explain/Harness.js"

// source → explain → analyze → store → report, each collection a `slowq once` process, as a user runs it, on a schema
// with a missing index on a 200k-row table: the findings name the full scan with its numbers, and the report and the
// store agree. Then the index is really created: the next run's plan no longer triggers the plan findings, which are
// resolved, while the statement's own finding stays open.

// explain_ttl is short so that the second run explains again and sees the plan the new index gives.
const stages = ["stages:", "  - type: explain", "    explain_ttl: 100ms", "  - type: analyze", ""]

interface StoredFinding {
  readonly sample: string
  readonly scope: string
  readonly rule: string
  readonly severity: string
  readonly open: boolean
}

const storedFindings = (url: string, pipeline: string) =>
  Effect.flatMap(storeClient(url), (sql) =>
    sql.unsafe<StoredFinding>(
      `SELECT q.sample, f.scope, f.rule, f.severity, f.resolved_at IS NULL AS open
       FROM slowq_findings f JOIN slowq_queries q USING (pipeline, query_id)
       WHERE f.pipeline = $1 ORDER BY q.sample, f.scope, f.rule`,
      [pipeline]
    )
  )

const once = (pipeline: string, dir: string, env: Record<string, string>) =>
  runCli(["once", pipeline, "--pipelines", dir], env).pipe(
    Effect.tap((result) => {
      expect(result.stderr).not.toContain("level=ERROR")
      expect(result.stdout).toMatch(new RegExp(`^${pipeline} {2}ok {2}events=\\d+ `, "m"))
      expect(result.code).toBe(0)
    })
  )

describe("source → explain → analyze → store, through the CLI", () => {
  it.live(
    "PostgreSQL: a filtered sequential scan of a 200k-row table is found with its numbers, and resolved once the index exists",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(`
          CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
          CREATE EXTENSION IF NOT EXISTS hypopg;
          CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL) WITH (autovacuum_enabled = off);
          INSERT INTO orders SELECT g, g % 5000, g % 97 FROM generate_series(1, 200000) g;
          SELECT pg_stat_force_next_flush();`)
        // ANALYZE after the INSERT's counters reached pg_stat_user_tables (flushed when the setup commits): in the same
        // transaction, the 200,000 modifications would land after it, and pg_stale_statistics would fire now and then.
        yield* db.sql.unsafe("ANALYZE orders")
        yield* db.sql.unsafe(
          "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
        const byCustomer = "SELECT id, total FROM orders WHERE customer = $1"
        yield* db.sql.unsafe(byCustomer, [42])
        const store = yield* freshStoreDatabase
        const pipeline = [
          "name: analyze_pg",
          "schedule:",
          "  every: 1h",
          "source:",
          "  type: postgres_pg_stat_statements",
          `  url: ${db.url}`,
          `  include_databases: [${db.name}]`,
          ...stages
        ].join("\n")
        const dir = yield* pipelinesDir({ "analyze.yaml": pipeline })
        const env = { SLOWQ_STORE_URL: store.url }
        yield* once("analyze_pg", dir, env)

        const all = yield* storedFindings(store.url, "analyze_pg")
        const first = all.filter((f) => f.sample === byCustomer)
        expect(first).toEqual([
          { sample: byCustomer, scope: "index_advice", rule: "pg_index_suggestion", severity: "warn", open: true },
          { sample: byCustomer, scope: "plan", rule: "pg_seq_scan_filter", severity: "warn", open: true }
        ])
        const sql = yield* storeClient(store.url)
        const [served] = yield* sql.unsafe<{ message: string; evidence: string }>(
          `SELECT message, evidence FROM slowq_findings WHERE pipeline = 'analyze_pg' AND rule = 'pg_seq_scan_filter'`
        )
        // The table's 200,000 live rows come from pg_stat_user_tables: a plain EXPLAIN only estimates the rows kept.
        expect(served!.message).toContain("200,000")
        expect(served!.evidence).toBe("Plan Seq Scan on orders")
        // The index advice, proven with a hypothetical index on the source's database: the exact DDL and both costs.
        const [advice] = yield* sql.unsafe<{
          subject: string
          suggestion: { kind: string; ddl: string }
          verified: { cost_before: number; cost_after: number }
          reduction: number
          evidence: string
          message: string
          severity: string
        }>(
          `SELECT subject, suggestion, verified, reduction, evidence, message, severity FROM slowq_findings
           WHERE pipeline = 'analyze_pg' AND rule = 'pg_index_suggestion'`
        )
        expect(advice!.subject).toBe("orders(customer)")
        expect(advice!.suggestion).toEqual({ kind: "create_index", ddl: "CREATE INDEX CONCURRENTLY ON public.orders (customer);" })
        expect(advice!.evidence).toBe("Plan Seq Scan on orders")
        const { cost_before, cost_after } = advice!.verified
        const cost = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })
        expect(advice!.message).toBe(
          `An index on orders(customer) takes the planner's cost from ${cost.format(cost_before)} to ${cost.format(cost_after)} ` +
            `(−${Math.round((1 - cost_after / cost_before) * 100)}%), checked with a hypothetical index`
        )
        expect(advice!.verified.cost_before).toBeGreaterThanOrEqual(100)
        expect(advice!.verified.cost_after).toBeLessThanOrEqual(advice!.verified.cost_before / 2)
        expect(advice!.reduction).toBeCloseTo(1 - advice!.verified.cost_after / advice!.verified.cost_before, 6)

        const report = yield* runCli(["report", "--format", "json", "--pipeline", "analyze_pg", "--top", "100"], env)
        const reported = (JSON.parse(report.stdout) as { queries: ReadonlyArray<{ sample: string; findings: ReadonlyArray<{ rule: string }> }> })
          .queries.find((q) => q.sample === byCustomer)
        expect(reported?.findings.map((f) => f.rule).sort()).toEqual(["pg_index_suggestion", "pg_seq_scan_filter"])

        // The index the finding asks for: the next plan is an index scan, and the finding is resolved.
        yield* db.sql.unsafe("CREATE INDEX orders_customer ON orders (customer)")
        yield* db.sql.unsafe("ANALYZE orders")
        yield* db.sql.unsafe(byCustomer, [43])
        yield* once("analyze_pg", dir, { ...env })
        const after = (yield* storedFindings(store.url, "analyze_pg")).filter((f) => f.sample === byCustomer)
        expect(after).toEqual([
          { sample: byCustomer, scope: "index_advice", rule: "pg_index_suggestion", severity: "warn", open: false },
          { sample: byCustomer, scope: "plan", rule: "pg_seq_scan_filter", severity: "warn", open: false },
          // The index made the plan change, for the better: news, not a problem.
          { sample: byCustomer, scope: "regression", rule: "plan_changed", severity: "info", open: true }
        ])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "PostgreSQL without HypoPG: unverified index suggestions as info findings, and one warning per run saying how to enable it",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(`
          CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
          CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL) WITH (autovacuum_enabled = off);
          INSERT INTO orders SELECT g, g % 5000, g % 97 FROM generate_series(1, 200000) g;
          SELECT pg_stat_force_next_flush();`)
        yield* db.sql.unsafe("ANALYZE orders")
        yield* db.sql.unsafe(
          "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
        const byCustomer = "SELECT id, total FROM orders WHERE customer = $1"
        const byTotal = "SELECT id FROM orders WHERE total = $1"
        yield* db.sql.unsafe(byCustomer, [42])
        yield* db.sql.unsafe(byTotal, [7])
        const store = yield* freshStoreDatabase
        const pipeline = [
          "name: advice_nohypo",
          "schedule:",
          "  every: 1h",
          "source:",
          "  type: postgres_pg_stat_statements",
          `  url: ${db.url}`,
          `  include_databases: [${db.name}]`,
          ...stages
        ].join("\n")
        const dir = yield* pipelinesDir({ "analyze.yaml": pipeline })
        const result = yield* once("advice_nohypo", dir, { SLOWQ_STORE_URL: store.url })
        expect(result.stderr.split(`HypoPG is not installed in database ${db.name}`).length - 1).toBe(1)
        expect(result.stderr).toContain("run CREATE EXTENSION hypopg;")
        const sql = yield* storeClient(store.url)
        const advice = yield* sql.unsafe<{ sample: string; severity: string; subject: string; suggestion: unknown; verified: unknown }>(
          `SELECT q.sample, f.severity, f.subject, f.suggestion, f.verified
           FROM slowq_findings f JOIN slowq_queries q USING (pipeline, query_id)
           WHERE f.pipeline = 'advice_nohypo' AND f.rule = 'pg_index_suggestion' ORDER BY f.subject`
        )
        expect(advice).toEqual([
          {
            sample: byCustomer,
            severity: "info",
            subject: "orders(customer)",
            suggestion: { kind: "create_index", ddl: "CREATE INDEX CONCURRENTLY ON public.orders (customer);" },
            verified: null
          },
          {
            sample: byTotal,
            severity: "info",
            subject: "orders(total)",
            suggestion: { kind: "create_index", ddl: "CREATE INDEX CONCURRENTLY ON public.orders (total);" },
            verified: null
          }
        ])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "MariaDB: SELECT * over a full scan of a 20k-row table without a candidate index gives the statement and plan findings",
    () =>
      Effect.gen(function* () {
        const marker = newMarker("analyze")
        const db = yield* mariadbDatabase(`
          CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, total INT NOT NULL) ENGINE=MyISAM;
          INSERT INTO orders SELECT seq, seq % 5000, seq % 97 FROM seq_1_to_20000;
          ANALYZE TABLE orders;`)
        const statement = `SELECT /* ${marker} */ * FROM orders WHERE customer = 42`
        // The pipeline reads the whole shared slow log: only this test's statement and the setup after this point.
        yield* truncateSlowLog
        yield* runMariadb(`USE ${db.name};\n${statement};`)
        const store = yield* freshStoreDatabase
        const pipeline = [
          "name: analyze_my",
          "schedule:",
          "  every: 1h",
          "source:",
          "  type: mysql_slow_log_table",
          "  url: mysql://root@127.0.0.1:3306/test",
          ...stages
        ].join("\n")
        const dir = yield* pipelinesDir({ "analyze.yaml": pipeline })
        yield* once("analyze_my", dir, { SLOWQ_STORE_URL: store.url })
        const found = (yield* storedFindings(store.url, "analyze_my")).filter((f) => f.sample.includes(marker))
        yield* truncateSlowLog
        expect(found.map((f) => [f.scope, f.rule, f.severity, f.open])).toEqual([
          // No sandbox_url: the index the query needs, not verified.
          ["index_advice", "mysql_index_suggestion", "info", true],
          ["plan", "mysql_full_scan", "warn", true],
          ["plan", "mysql_no_candidate_index", "warn", true],
          ["statement", "stmt_select_star", "info", true]
        ])
        const sql = yield* storeClient(store.url)
        const advice = yield* sql.unsafe<{ subject: string; suggestion: unknown; verified: unknown }>(
          "SELECT subject, suggestion, verified FROM slowq_findings WHERE pipeline = 'analyze_my' AND rule = 'mysql_index_suggestion'"
        )
        expect(advice).toEqual([
          {
            subject: "orders(customer)",
            suggestion: { kind: "create_index", ddl: `ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`customer\`);` },
            verified: null
          }
        ])
      }).pipe(Effect.scoped),
    120_000
  )
})
