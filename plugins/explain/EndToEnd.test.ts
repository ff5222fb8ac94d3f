import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../../test/support/Cli.js"
import { pipelinesDir } from "../../test/support/Pipelines.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { storeClient } from "../../test/support/StoreQueries.js"
import { openStore } from "../../test/support/StoreServices.js"
import { mariadbDatabase, pgDatabase, runMariadbCli } from "../../test/support/explain/Harness.js"
import { explainEnrichment } from "./PlanStore.js"

// pg_stat_statements → fingerprint → explain → store → report, each collection a separate `slowq once` process, as a
// user runs it. The source shares its connection, so the stage needs no explain_url; include_databases keeps the
// pipeline to this test's own database on the shared server.

const pipeline = (url: string, database: string) =>
  [
    "name: explain_e2e",
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: postgres_pg_stat_statements",
    `  url: ${url}`,
    `  include_databases: [${database}]`,
    "stages:",
    "  - type: explain",
    ""
  ].join("\n")

interface Reported {
  readonly id: string
  readonly sample: string
  readonly plan?: { readonly method: string; readonly captured_at: string; readonly hash: string; readonly json: unknown }
  readonly explain?: { readonly skipped?: string; readonly error?: string }
}

describe("pg_stat_statements → fingerprint → explain → store, through the CLI", () => {
  it.live(
    "stores generic plans and refusals, reports them, and does not explain again in the next process within explain_ttl",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(`
          CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
          CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, v text NOT NULL);
          INSERT INTO orders SELECT g, g % 100, 'v' || g FROM generate_series(1, 5000) g;
          ANALYZE orders;
          SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0);`)
        const select = "SELECT * FROM orders WHERE id = $1"
        const update = "UPDATE orders SET v = $1 WHERE customer = $2"
        const workload = Effect.all([
          db.sql.unsafe(select, [5]),
          db.sql.unsafe(select, [6]),
          db.sql.unsafe(update, ["x", 3]),
          db.sql.unsafe("DROP TABLE IF EXISTS not_there")
        ])
        yield* workload
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "explain.yaml": pipeline(db.url, db.name) })
        const env = { SLOWQ_STORE_URL: store.url }
        const once = runCli(["once", "explain_e2e", "--pipelines", dir], env).pipe(
          Effect.tap((result) => {
            expect(result.stderr).not.toContain("level=ERROR")
            expect(result.stdout).toMatch(/^explain_e2e {2}ok {2}events=\d+ /m)
            expect(result.code).toBe(0)
          })
        )
        yield* once

        const sql = yield* storeClient(store.url)
        const explained = sql.unsafe<{ sample: string; status: string; method: string | null; reason: string | null; captured_at: Date }>(
          `SELECT q.sample, e.status, e.plan_method AS method, e.reason, e.captured_at
           FROM slowq_queries q JOIN slowq_explains e USING (pipeline, query_id)
           WHERE q.pipeline = 'explain_e2e' ORDER BY q.sample`
        )
        const first = yield* explained
        // Everything the database ran since the reset, the reset included; none of the stage's own statements.
        expect(first.map(({ captured_at: _, ...row }) => row)).toEqual([
          { sample: "DROP TABLE IF EXISTS not_there", status: "skipped", method: null, reason: "not explainable: DROP" },
          { sample: select, status: "plan", method: "prepared_generic", reason: null },
          {
            sample: "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
            status: "skipped",
            method: null,
            reason: "forbidden: PG_STAT_STATEMENTS_RESET"
          },
          { sample: update, status: "plan", method: "prepared_generic", reason: null }
        ])
        expect(
          yield* sql.unsafe(
            `SELECT q.sample, p.plan #>> '{0,Plan,Node Type}' AS node, p.plan #>> '{0,Plan,Index Cond}' AS cond
             FROM slowq_plans p JOIN slowq_queries q USING (pipeline, query_id) WHERE p.pipeline = 'explain_e2e' ORDER BY q.sample`
          )
        ).toEqual([
          { sample: select, node: "Index Scan", cond: "(id = $1)" },
          { sample: update, node: "ModifyTable", cond: null }
        ])

        const report = yield* runCli(["report", "--format", "json", "--pipeline", "explain_e2e", "--top", "100"], env)
        expect(report.code).toBe(0)
        const queries = (JSON.parse(report.stdout) as { readonly queries: ReadonlyArray<Reported> }).queries
        const bySample = new Map(queries.map((q) => [q.sample, q]))
        const selectPlan = bySample.get(select)!.plan!
        expect([selectPlan.method, selectPlan.hash.length, Array.isArray(selectPlan.json)]).toEqual(["prepared_generic", 16, true])
        expect(selectPlan.captured_at).toBe(first[1]!.captured_at.toISOString())
        expect(bySample.get(select)!.explain).toBeUndefined()
        expect(bySample.get("DROP TABLE IF EXISTS not_there")).toMatchObject({ explain: { skipped: "not explainable: DROP" } })
        expect(bySample.get("DROP TABLE IF EXISTS not_there")!.plan).toBeUndefined()

        // The same statements again, collected by a new process: the stage memory in the store says they were
        // explained within explain_ttl, so the plans keep their capture time; the refusal is recorded again.
        yield* workload
        yield* once
        const second = yield* explained
        expect(second.map((row) => [row.sample, row.status])).toEqual(first.map((row) => [row.sample, row.status]))
        expect(second[1]!.captured_at).toEqual(first[1]!.captured_at)
        expect(second[3]!.captured_at).toEqual(first[3]!.captured_at)
        expect(second[0]!.captured_at.getTime()).toBeGreaterThan(first[0]!.captured_at.getTime())
        expect(
          yield* sql.unsafe(
            "SELECT count(*)::int AS n FROM slowq_stage_memory WHERE pipeline = 'explain_e2e' AND stage = 'explain'"
          )
        ).toEqual([{ n: 2 }])
      }).pipe(Effect.scoped),
    180_000
  )
})

const mariadbPipeline = (database: string) =>
  [
    "name: explain_e2e_mariadb",
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: mysql_slow_log_table",
    "  url: mysql://root@127.0.0.1:3306",
    "  overlap_seconds: 0",
    "stages:",
    "  - type: explain",
    // The slow-log source shares no connection: the stage is told where to explain.
    `    explain_url: mysql://root@127.0.0.1:3306/${database}`,
    "    max_per_run: 1000",
    ""
  ].join("\n")

describe("mysql.slow_log → fingerprint → explain → store, through the CLI", () => {
  it.live(
    "stores direct and rewritten plans and refusals of the slow log's statements, and remembers them across processes",
    () =>
      Effect.gen(function* () {
        const db = yield* mariadbDatabase(`
          CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, v VARCHAR(16) NOT NULL, KEY (customer));
          INSERT INTO orders SELECT seq, seq % 100, CONCAT('v', seq) FROM seq_1_to_5000;
          ANALYZE TABLE orders;`)
        const marker = `e2e_${randomBytes(4).toString("hex")}`
        const store = yield* freshStoreDatabase
        // The shared slow log holds every test's statements: the pipeline starts just before this test's.
        const [now] = (yield* db.sql.unsafe("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS UNSIGNED) AS us")) as ReadonlyArray<{
          readonly us: number
        }>
        const seeded = yield* openStore(store.url, [explainEnrichment])
        yield* seeded.writeBatch("explain_e2e_mariadb", "mysql", [], { endUs: Number(now!.us) })
        yield* runMariadbCli(
          [
            `USE ${db.name};`,
            `SELECT * FROM orders WHERE id = 5 /* ${marker} */;`,
            `SELECT * FROM orders WHERE id = 6 /* ${marker} */;`,
            `UPDATE orders SET v = 'x' WHERE customer = 3 /* ${marker} */;`,
            `INSERT INTO orders VALUES (9001, 1, 'new') /* ${marker} */;`,
            `SELECT * FROM orders WHERE v = 'v7' FOR UPDATE /* ${marker} */;`
          ].join("\n")
        )
        const dir = yield* pipelinesDir({ "explain.yaml": mariadbPipeline(db.name) })
        const env = { SLOWQ_STORE_URL: store.url }
        const once = runCli(["once", "explain_e2e_mariadb", "--pipelines", dir], env).pipe(
          Effect.tap((result) => {
            expect(result.stderr).not.toContain("level=ERROR")
            expect(result.stdout).toMatch(/^explain_e2e_mariadb {2}ok {2}events=\d+ /m)
            expect(result.code).toBe(0)
          })
        )
        yield* once

        const sql = yield* storeClient(store.url)
        const explained = sql.unsafe<{ fingerprint: string; status: string; method: string | null; reason: string | null; captured_at: Date }>(
          `SELECT q.fingerprint, e.status, e.plan_method AS method, e.reason, e.captured_at
           FROM slowq_queries q JOIN slowq_explains e USING (pipeline, query_id)
           WHERE q.pipeline = 'explain_e2e_mariadb'
             AND q.query_id IN (SELECT query_id FROM slowq_samples WHERE pipeline = 'explain_e2e_mariadb' AND sql_text LIKE $1)
           ORDER BY q.fingerprint`,
          [`%${marker}%`]
        )
        const first = yield* explained
        expect(first.map(({ captured_at: _, ...row }) => row)).toEqual([
          {
            fingerprint: "insert into orders values(?+) ",
            status: "skipped",
            method: null,
            reason: "not explainable: INSERT … VALUES has no query to plan"
          },
          { fingerprint: "select * from orders where id = ? ", status: "plan", method: "direct", reason: null },
          { fingerprint: "select * from orders where v = ? for update ", status: "plan", method: "rewritten", reason: null },
          { fingerprint: "update orders set v = ? where customer = ? ", status: "plan", method: "rewritten", reason: null }
        ])
        expect(
          yield* sql.unsafe(
            `SELECT q.fingerprint, p.plan #>> '{query_block,nested_loop,0,table,access_type}' AS access
             FROM slowq_plans p JOIN slowq_queries q USING (pipeline, query_id)
             WHERE p.pipeline = 'explain_e2e_mariadb' AND q.fingerprint LIKE '%orders%' ORDER BY q.fingerprint`
          )
        ).toEqual([
          { fingerprint: "select * from orders where id = ? ", access: "const" },
          { fingerprint: "select * from orders where v = ? for update ", access: "ALL" },
          { fingerprint: "update orders set v = ? where customer = ? ", access: "ref" }
        ])

        const report = yield* runCli(["report", "--format", "json", "--pipeline", "explain_e2e_mariadb", "--top", "1000"], env)
        expect(report.code).toBe(0)
        const queries = (JSON.parse(report.stdout) as { readonly queries: ReadonlyArray<Reported & { readonly fingerprint: string }> })
          .queries
        const byFingerprint = new Map(queries.map((q) => [q.fingerprint, q]))
        expect(byFingerprint.get("update orders set v = ? where customer = ? ")!.plan!.method).toBe("rewritten")
        expect(byFingerprint.get("insert into orders values(?+) ")!.explain).toEqual({
          skipped: "not explainable: INSERT … VALUES has no query to plan"
        })

        // Another sample of an explained query, read by a new process: remembered, so not explained again.
        yield* runMariadbCli(`USE ${db.name};\nSELECT * FROM orders WHERE id = 8 /* ${marker} */;`)
        yield* once
        const second = yield* explained
        expect(second.map((row) => [row.fingerprint, row.status, row.captured_at])).toEqual(
          first.map((row) => [row.fingerprint, row.status, row.captured_at])
        )
        expect(
          yield* sql.unsafe(
            // Events carry no text: those of the queries whose samples hold the marker (the first of each is one).
            `SELECT count(*)::int AS n FROM slowq_events WHERE pipeline = 'explain_e2e_mariadb' AND query_id IN (
               SELECT query_id FROM slowq_samples WHERE pipeline = 'explain_e2e_mariadb' AND sql_text LIKE $1)`,
            [`%${marker}%`]
          )
        ).toEqual([{ n: 6 }])
      }).pipe(Effect.scoped),
    180_000
  )
})
