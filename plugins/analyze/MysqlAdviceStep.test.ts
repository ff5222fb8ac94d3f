import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Logger, Option, Redacted, Schema } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { QueryFindings } from "../../src/plugin/Finding.js"
import type { StageContext } from "../../src/plugin/Plugin.js"
import { eventOf, mariadbDatabase, mariadbUrl, memoryIn } from "../../test/support/explain/Harness.js"
import { parseExplainJson } from "../explain/MariadbJson.js"
import type { BatchView } from "./AnalyzeStep.js"
import { Config } from "./config.js"
import type { RuleDialect } from "./rules/Rule.js"
import { type MysqlAdviceOptions, mysqlAdviceStep } from "./steps/MysqlAdviceStep.js"

// Real MariaDB 10.11: a watched scratch database with a 200k-row table missing an index on `cust`, and a second
// scratch database as the sandbox, both created by the test (through the CLI) and dropped with it. The step is called
// directly with a batch as the analyze stage builds it, the plans EXPLAINed on the watched database as the explain
// stage would have.

const setup = `
CREATE TABLE orders (
  id int PRIMARY KEY, cust int NOT NULL, a int NOT NULL, d int NOT NULL, b int NOT NULL, c int NOT NULL,
  created datetime NOT NULL, note char(32) NOT NULL,
  KEY orders_b_c (b, c)
) ENGINE=Aria;
INSERT INTO orders
  SELECT seq, seq % 1000, seq % 100, (seq DIV 100) % 100, (seq DIV 3) % 50, seq % 7, '2024-01-01' + INTERVAL seq % 365 DAY, md5(seq)
  FROM seq_1_to_200000;
ANALYZE TABLE orders;`

const contextOf = (url: string): StageContext<RuleDialect> => ({
  pipeline: "mysql_advice_test",
  memory: memoryIn(new Map()),
  source: {
    type: "mysql_slow_log_table",
    dialect: "mysql",
    config: {},
    connection: Option.some({ url: Redacted.make(url), password: Option.none() })
  }
})

const optionsOf = (overrides: Partial<MysqlAdviceOptions>): MysqlAdviceOptions => ({
  advice_timeout_ms: 20_000,
  max_advice_per_run: 20,
  sandbox_sample_rows: 0,
  ...overrides
})

type Db = Effect.Effect.Success<ReturnType<typeof mariadbDatabase>>

/** The batch the stage would build: each text once, in `db`, with the watched server's own plan. */
const batchOf = (db: Db, texts: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const events: Array<CollectedEvent> = texts.map((text, i) => eventOf(text, { db: db.name, queryTimeMs: 100 - i }))
    const slowest = new Map(events.map((e) => [e.fingerprint.queryId, e]))
    const plans = new Map<string, BatchView["plans"] extends ReadonlyMap<string, infer P> ? P : never>()
    for (const e of events) {
      const rows = yield* db.sql.unsafe<{ EXPLAIN: string }>(`EXPLAIN FORMAT=JSON ${e.event.sqlText}`)
      plans.set(e.fingerprint.queryId, { plan: parseExplainJson(rows[0]!.EXPLAIN), hash: "h", method: "direct", capturedAt: new Date(0) })
    }
    const totals = new Map(events.map((e) => [e.fingerprint.queryId, { calls: 1, totalMs: e.event.queryTimeMs, firstAt: 0, lastAt: 0 }]))
    const view: BatchView = { dialect: "mysql", events, slowest, plans, totals, now: 0 }
    return { view, idOf: (text: string) => events.find((e) => e.event.sqlText === text)!.fingerprint.queryId }
  })

const catalogOf = (db: Db) =>
  db.sql.unsafe(
    `SELECT t.TABLE_NAME AS t, t.TABLE_ROWS IS NOT NULL AS r, s.INDEX_NAME AS i, s.COLUMN_NAME AS c
     FROM information_schema.TABLES t LEFT JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME
     WHERE t.TABLE_SCHEMA = ? ORDER BY t.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX`,
    [db.name]
  )

const summary = (output: ReadonlyArray<QueryFindings>, id: string) =>
  output
    .filter((q) => q.queryId === id)
    .map((q) => [
      q.scope,
      q.findings.map((f) => ({
        rule: f.rule,
        severity: f.severity,
        ddl: f.suggestion?.ddl,
        verified: f.verified,
        reduction: f.reduction,
        message: f.message,
        evidence: f.evidence
      }))
    ])

describe("MySQL/MariaDB index advice step", () => {
  it.effect("without a database to read (a log file source, no database_url) it is off, and says so once per pipeline", () => {
    const logs: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      logs.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
    const fileSource = (pipeline: string): StageContext<RuleDialect> => ({
      pipeline,
      memory: memoryIn(new Map()),
      source: { type: "mysql_slow_log_file", dialect: "mysql", config: {}, connection: Option.none() }
    })
    return Effect.gen(function* () {
      // The stage is built for every run: three runs of one pipeline, one of another.
      const names: Array<string> = []
      for (const pipeline of ["advice_file_a", "advice_file_a", "advice_file_a", "advice_file_b"]) {
        names.push((yield* mysqlAdviceStep(optionsOf({}), fileSource(pipeline))).name)
      }
      expect(names).toEqual(Array(4).fill("MySQL index advice (off)"))
      const said =
        "WARN analyze: no MySQL/MariaDB index advice: source mysql_slow_log_file reads no database; set the analyze stage's database_url, or advice: false"
      expect(logs).toEqual([said, said])
    }).pipe(Effect.scoped, Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  })

  it.live(
    "verifies the missing index in the sandbox; nothing for a primary-key lookup or a covered column; the watched database unchanged",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const watched = yield* mariadbDatabase(setup)
          const sandbox = yield* mariadbDatabase("")
          const catalogBefore = yield* catalogOf(watched)
          const missing = "SELECT * FROM orders WHERE cust = 42"
          const qualified = `SELECT o.id FROM ${watched.name}.orders o WHERE o.a = 4 AND o.d = 5`
          const primary = "SELECT * FROM orders WHERE id = 7"
          const covered = "SELECT * FROM orders WHERE b = 2"
          const underCovered = "SELECT * FROM orders WHERE c = 1 AND b = 2"
          const { view, idOf } = yield* batchOf(watched, [missing, qualified, primary, covered, underCovered])

          const step = yield* mysqlAdviceStep(
            optionsOf({ sandbox_url: Redacted.make(sandbox.url), sandbox_sample_rows: 10_000 }),
            contextOf(watched.url)
          )
          const { findings } = yield* step.run(view, [])

          const ddl = (columns: string) => `ALTER TABLE \`${watched.name}\`.\`orders\` ADD INDEX (${columns});`
          expect(summary(findings, idOf(missing))).toEqual([
            [
              "index_advice",
              [
                {
                  rule: "mysql_index_suggestion",
                  severity: "warn",
                  ddl: ddl("`cust`"),
                  verified: { cost_before: 10_000, cost_after: 10 },
                  reduction: 0.999,
                  message:
                    "An index on orders(cust) takes the rows examined from 10,000 to 10 (−100%), checked on a sandbox copy of at most 10,000 rows per table",
                  evidence: "query_block.nested_loop[0].table[orders]"
                }
              ]
            ]
          ])
          // Two equalities: the pair beats the best single column by half again, and replaces it.
          expect(summary(findings, idOf(qualified))).toEqual([
            [
              "index_advice",
              [
                {
                  rule: "mysql_index_suggestion",
                  severity: "warn",
                  ddl: ddl("`a`, `d`"),
                  verified: { cost_before: 10_000, cost_after: 1 },
                  reduction: 0.9999,
                  message:
                    "An index on orders(a, d) takes the rows examined from 10,000 to 1 (−100%), checked on a sandbox copy of at most 10,000 rows per table",
                  // MariaDB's plan names the table by its alias: the evidence falls back to the table.
                  evidence: `table ${watched.name}.orders`
                }
              ]
            ]
          ])
          // A primary-key lookup costs 1 row: examined, nothing to suggest (the empty list resolves earlier advice).
          expect(summary(findings, idOf(primary))).toEqual([["index_advice", []]])
          // `b` leads the existing (b, c): never suggested; `c` alone does not beat (b, c) in the sandbox.
          expect(summary(findings, idOf(covered))).toEqual([["index_advice", []]])
          expect(summary(findings, idOf(underCovered))).toEqual([["index_advice", []]])

          // The verified finding carries both sandbox plans.
          const verified = findings.find((q) => q.queryId === idOf(missing))!.findings[0]!
          expect(verified.plans).toMatchObject({
            before: { query_block: { nested_loop: [{ table: { table_name: "orders", access_type: "ALL" } }] } },
            after: { query_block: { nested_loop: [{ table: { table_name: "orders", access_type: "ref", key: "slowq_candidate" } }] } }
          })

          // Nothing was created on the watched database, and nothing is left in the sandbox.
          expect(yield* catalogOf(watched)).toEqual(catalogBefore)
          expect(catalogBefore).toEqual([
            { t: "orders", r: 1, i: "orders_b_c", c: "b" },
            { t: "orders", r: 1, i: "orders_b_c", c: "c" },
            { t: "orders", r: 1, i: "PRIMARY", c: "id" }
          ])
          expect(yield* catalogOf(sandbox)).toEqual([])
        })
      ),
    120_000
  )

  it.live("unverified info suggestions without a sandbox, and with a sample of 0 rows", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const watched = yield* mariadbDatabase(setup)
        const sandbox = yield* mariadbDatabase("")
        const missing = "SELECT * FROM orders WHERE cust = 42"
        const { view, idOf } = yield* batchOf(watched, [missing])
        const ddl = `ALTER TABLE \`${watched.name}\`.\`orders\` ADD INDEX (\`cust\`);`

        const without = yield* mysqlAdviceStep(optionsOf({}), contextOf(watched.url))
        expect(summary((yield* without.run(view, [])).findings, idOf(missing))).toEqual([
          [
            "index_advice",
            [
              {
                rule: "mysql_index_suggestion",
                severity: "info",
                ddl,
                verified: null,
                reduction: 0.05,
                message:
                  "An index on orders(cust) may serve this query; not verified (no sandbox_url is set: name a scratch database slowq owns in the analyze stage's sandbox_url, with sandbox_sample_rows above 0, to verify it)",
                evidence: "query_block.nested_loop[0].table[orders]"
              }
            ]
          ]
        ])

        const empty = yield* mysqlAdviceStep(optionsOf({ sandbox_url: Redacted.make(sandbox.url) }), contextOf(watched.url))
        expect(summary((yield* empty.run(view, [])).findings, idOf(missing)).map(([, f]) => f)).toEqual([
          [
            expect.objectContaining({
              severity: "info",
              ddl,
              verified: null,
              message:
                "An index on orders(cust) may serve this query; not verified (sandbox_sample_rows is 0, and a plan over empty copies proves nothing)"
            })
          ]
        ])
        expect(yield* catalogOf(sandbox)).toEqual([])
      })
    )
  )

  it.live("refuses a sandbox that is the watched database, when the pipeline loads and when the stage starts", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const watched = yield* mariadbDatabase("")
        const decoded = Schema.decodeUnknownEither(Config)({
          type: "analyze",
          database_url: `${mariadbUrl}/${watched.name}`,
          sandbox_url: `mysql://root@localhost:3306/${watched.name}`
        })
        expect(Either.isLeft(decoded) && decoded.left.message.includes("names the watched database (database_url)")).toBe(true)

        const started = yield* Effect.either(
          mysqlAdviceStep(
            optionsOf({ sandbox_url: Redacted.make(`mysql://root@localhost:3306/${watched.name}`), sandbox_sample_rows: 100 }),
            contextOf(watched.url)
          )
        )
        expect(Either.isLeft(started) && started.left.message).toBe(
          "sandbox_url names the watched database: index advice runs DDL in the sandbox, so give a database slowq owns"
        )
      })
    )
  )
})
