import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../../test/support/Cli.js"
import { pgDatabase } from "../../test/support/explain/Harness.js"
import { pipelinesDir, tempDir } from "../../test/support/Pipelines.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { storeClient } from "../../test/support/StoreQueries.js"
import { type PlanMemory, planChangedFinding, planChangedThresholds } from "./regression/PlanChange.js"

// Regressions end to end, each collection a `slowq once` process as a user runs it:
// - PostgreSQL, pg_stat_statements → explain → analyze: an index dropped between two runs gives the query a new plan,
//   and the second run stores a `plan_changed` finding with both plans (Index Scan → Seq Scan).
// - A slow log file spanning a week, read in batches of 100 → analyze: the last hour of one query is 5× slower than
//   its usual hour, and `slower_calls` says so with the exact figures, from the events' own times; a steady query of
//   the same file is not reported.

const once = (pipeline: string, dir: string, env: Record<string, string>) =>
  runCli(["once", pipeline, "--pipelines", dir], env).pipe(
    Effect.tap((result) => {
      expect(result.stderr).not.toContain("level=ERROR")
      expect(result.stdout).toMatch(new RegExp(`^${pipeline} {2}ok {2}events=\\d+ `, "m"))
      expect(result.code).toBe(0)
    })
  )

interface StoredRegression {
  readonly rule: string
  readonly severity: string
  readonly source: string
  readonly subject: string
  readonly message: string
  readonly evidence: string
  readonly reduction: number
  readonly plans: { readonly before: unknown; readonly after: unknown } | null
  readonly open: boolean
}

const regressionsOf = (url: string, pipeline: string, queryId: string) =>
  Effect.flatMap(storeClient(url), (sql) =>
    sql.unsafe<StoredRegression>(
      `SELECT rule, severity, source, subject, message, evidence, reduction, plans, resolved_at IS NULL AS open
       FROM slowq_findings WHERE pipeline = $1 AND query_id = $2 AND scope = 'regression' ORDER BY rule, subject`,
      [pipeline, queryId]
    )
  )

const nodeType = (plan: unknown): unknown =>
  Array.isArray(plan) && typeof plan[0] === "object" && plan[0] !== null && "Plan" in plan[0]
    ? (plan[0].Plan as Record<string, unknown>)["Node Type"]
    : undefined

describe("regressions, through the CLI", () => {
  it.live(
    "PostgreSQL: an index dropped between runs yields a plan_changed finding with both plans",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(`
          CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
          CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL) WITH (autovacuum_enabled = off);
          INSERT INTO orders SELECT g, g % 50000, g % 97 FROM generate_series(1, 200000) g;
          CREATE INDEX orders_customer ON orders (customer);`)
        yield* db.sql.unsafe("ANALYZE orders")
        yield* db.sql.unsafe(
          "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
        const byCustomer = "SELECT id, total FROM orders WHERE customer = $1"
        for (const customer of [1, 2, 3]) yield* db.sql.unsafe(byCustomer, [customer])
        const store = yield* freshStoreDatabase
        const pipeline = [
          "name: regress_pg",
          "schedule:",
          "  every: 1h",
          "source:",
          "  type: postgres_pg_stat_statements",
          `  url: ${db.url}`,
          `  include_databases: [${db.name}]`,
          "stages:",
          // Short, so that the second run explains the query again and sees the plan without the index.
          "  - type: explain",
          "    explain_ttl: 100ms",
          "  - type: analyze",
          "    advice: false",
          ""
        ].join("\n")
        const dir = yield* pipelinesDir({ "regress.yaml": pipeline })
        const env = { SLOWQ_STORE_URL: store.url }
        yield* once("regress_pg", dir, env)

        const sql = yield* storeClient(store.url)
        const [query] = yield* sql.unsafe<{ query_id: string }>(
          `SELECT query_id FROM slowq_queries WHERE pipeline = 'regress_pg' AND sample = $1`,
          [byCustomer]
        )
        const queryId = query!.query_id
        expect(yield* regressionsOf(store.url, "regress_pg", queryId)).toEqual([])
        const memoryOf = <A>(key: string) =>
          sql
            .unsafe<{ value: A }>(
              `SELECT value FROM slowq_stage_memory WHERE pipeline = 'regress_pg' AND stage = 'analyze' AND key = $1`,
              [key]
            )
            .pipe(Effect.map((rows) => rows[0]?.value))
        // The figures in plan:, the plan's JSON apart in plan-json: (written when the plan changes only).
        const first = yield* memoryOf<PlanMemory>(`plan:${queryId}`)
        expect(first?.previous).toBeUndefined()
        expect(first?.current.calls).toBe(3)
        expect(nodeType(yield* memoryOf(`plan-json:${queryId}`))).toBe("Index Scan")
        expect(yield* memoryOf(`plan-before:${queryId}`)).toBeUndefined()

        // The index goes: the next EXPLAIN of the same query reads the whole table.
        yield* db.sql.unsafe("DROP INDEX orders_customer")
        for (const customer of [4, 5, 6, 7, 8]) yield* db.sql.unsafe(byCustomer, [customer])
        yield* once("regress_pg", dir, env)

        const plans = yield* sql.unsafe<{ hash: string; plan: unknown }>(
          `SELECT hash, plan FROM slowq_plans WHERE pipeline = 'regress_pg' AND query_id = $1 ORDER BY first_captured`,
          [queryId]
        )
        expect(plans.map((p) => nodeType(p.plan))).toEqual(["Index Scan", "Seq Scan"])
        const [indexHash, seqHash] = plans.map((p) => p.hash)
        const memory = (yield* memoryOf<PlanMemory>(`plan:${queryId}`))!
        expect(nodeType(yield* memoryOf(`plan-json:${queryId}`))).toBe("Seq Scan")
        expect(nodeType(yield* memoryOf(`plan-before:${queryId}`))).toBe("Index Scan")
        expect([memory.previous?.hash, memory.previous?.calls, memory.current.hash, memory.current.calls]).toEqual([
          indexHash,
          3,
          seqHash,
          5
        ])
        const found = yield* regressionsOf(store.url, "regress_pg", queryId)
        expect(found.length).toBe(1)
        const finding = found[0]!
        expect([finding.rule, finding.source, finding.subject, finding.evidence, finding.open]).toEqual([
          "plan_changed",
          "regression",
          `${indexHash}→${seqHash}`,
          `plan ${indexHash} → ${seqHash}`,
          true
        ])
        expect(nodeType(finding.plans?.before)).toBe("Index Scan")
        expect(nodeType(finding.plans?.after)).toBe("Seq Scan")
        expect(finding.plans).toEqual({ before: plans[0]!.plan, after: plans[1]!.plan })
        // The figures are the measured ones: 3 calls under the old plan, 5 under the new; the message, the severity
        // and the reduction are the ones those remembered figures give.
        expect(finding.message).toMatch(
          /^Plan changed at \d{4}-\d\d-\d\d \d\d:\d\d UTC: [\d.,]+ ms per call under the old plan \(3 calls\), [\d.,]+ ms per call under the new plan \(5 calls\): /
        )
        const expected = planChangedFinding(memory.previous!, memory.current, finding.plans!, planChangedThresholds({}))
        expect([finding.message, finding.severity, finding.reduction]).toEqual([
          expected.message,
          expected.severity,
          expected.reduction
        ])

        // slowq report lists it with the query.
        const served = yield* runCli(["report", "--format", "json", "--pipeline", "regress_pg", "--top", "100"], env)
        const reported = (
          JSON.parse(served.stdout) as {
            queries: ReadonlyArray<{ sample: string; findings: ReadonlyArray<{ rule: string; severity: string }> }>
          }
        ).queries.find((q) => q.sample === byCustomer)
        expect(reported?.findings.filter((f) => f.rule === "plan_changed").map((f) => f.severity)).toEqual([finding.severity])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a slow log file spanning a week: the last hour 5× slower than the median hour is a slower_calls finding",
    () =>
      Effect.gen(function* () {
        // 2026-04-01 00:00 UTC: 168 hours of 2 calls each (1 ms; every 10th hour 2 ms), then one hour of 25 calls.
        const start = Date.UTC(2026, 3, 1) / 1000
        const entries: Array<string> = []
        const entry = (at: number, seconds: string, sql: string) =>
          entries.push(
            [
              "# User@Host: app[app] @ localhost []",
              "# Thread_id: 8  Schema: shop  QC_hit: No",
              `# Query_time: ${seconds}  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1`,
              "# Rows_affected: 0  Bytes_sent: 56",
              "use shop;",
              `SET timestamp=${at};`,
              `${sql};`
            ].join("\n")
          )
        for (let hour = 0; hour < 168; hour++) {
          const base = hour % 10 === 0 ? "0.002000" : "0.001000"
          for (const minute of [10, 40]) {
            const at = start + hour * 3600 + minute * 60
            entry(at, base, `SELECT id, total FROM orders WHERE customer = ${hour * 2 + minute}`)
            entry(at + 1, base, `SELECT name FROM customers WHERE id = ${hour * 2 + minute}`)
          }
        }
        for (let call = 0; call < 25; call++) {
          const at = start + 168 * 3600 + call * 120
          entry(at, "0.005000", `SELECT id, total FROM orders WHERE customer = ${call}`)
          entry(at + 1, "0.001500", `SELECT name FROM customers WHERE id = ${call}`)
        }
        const logs = yield* tempDir("slowq-regression-")
        const path = join(logs, "slow.log")
        writeFileSync(path, `${entries.join("\n")}\n`)

        const store = yield* freshStoreDatabase
        const pipeline = [
          "name: regress_log",
          "schedule:",
          "  every: 1h",
          "source:",
          "  type: mysql_slow_log_file",
          `  path: ${path}`,
          "  batch_size: 100",
          "  settle_ms: 0",
          "stages:",
          "  - type: analyze",
          ""
        ].join("\n")
        const dir = yield* pipelinesDir({ "regress.yaml": pipeline })
        const result = yield* once("regress_log", dir, { SLOWQ_STORE_URL: store.url })
        expect(result.stdout).toMatch(/^regress_log {2}ok {2}events=722 /m)

        const sql = yield* storeClient(store.url)
        const queries = yield* sql.unsafe<{ query_id: string; fingerprint: string }>(
          `SELECT query_id, fingerprint FROM slowq_queries WHERE pipeline = 'regress_log' ORDER BY fingerprint`
        )
        expect(queries.map((q) => q.fingerprint)).toEqual([
          "select id, total from orders where customer = ?",
          "select name from customers where id = ?"
        ])
        const [orders, customers] = queries.map((q) => q.query_id)
        expect(yield* regressionsOf(store.url, "regress_log", orders!)).toEqual([
          {
            rule: "slower_calls",
            severity: "crit",
            source: "regression",
            subject: "",
            message:
              "5 ms per call in the last hour (25 calls), 5.0× its median hourly mean of 1 ms over the 7 days before (168 hours with calls)",
            evidence:
              "2026-04-08 00:00 UTC to 2026-04-08 01:00 UTC: 25 calls, 5 ms per call; 2026-04-01 00:00 UTC to 2026-04-08 00:00 UTC: median hourly mean 1 ms over 168 hours",
            reduction: 0.8,
            plans: null,
            open: true
          }
        ])
        // 1.5 ms against 1 ms: under the factor of 2.
        expect(yield* regressionsOf(store.url, "regress_log", customers!)).toEqual([])
        // The memory holds the hours the rule looks at: the 168 baseline hours, closed, in hourly:, and the recent
        // one in hour:.
        const storedValueOf = (key: string) =>
          sql
            .unsafe<{ value: unknown }>(
              `SELECT value FROM slowq_stage_memory WHERE pipeline = 'regress_log' AND stage = 'analyze' AND key = $1`,
              [key]
            )
            .pipe(Effect.map((rows) => rows[0]?.value))
        const hourly = (yield* storedValueOf(`hourly:${orders}`)) as { hours: ReadonlyArray<readonly [number, number, number]> }
        expect(hourly.hours.length).toBe(168)
        expect([hourly.hours[0], hourly.hours.at(-1)]).toEqual([
          [start / 3600, 2, 4],
          [start / 3600 + 167, 2, 2]
        ])
        expect(yield* storedValueOf(`hour:${orders}`)).toEqual([start / 3600 + 168, 25, 125])
      }).pipe(Effect.scoped),
    120_000
  )
})
