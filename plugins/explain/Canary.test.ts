import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { type CanaryCase, canaryCorpus, type Expected, mariadbSetup, postgresSetup } from "../../test/support/explain/CanaryCorpus.js"
import { contextFor, eventOf, mariadbDatabase, memoryIn, outcomeOf, pgDatabase, tally, withStage } from "../../test/support/explain/Harness.js"
import * as MysqlExplainer from "./MysqlExplainer.js"
import type { ExplainOutcome } from "./Outcome.js"
import * as PostgresExplainer from "./PostgresExplainer.js"

const category = (outcome: ExplainOutcome) => (outcome._tag === "Plan" ? "" : outcome.reason.split(":")[0])

const matches = (expected: Expected, got: ExplainOutcome | undefined): boolean => {
  if (got === undefined) return false
  if ("plan" in expected) return got._tag === "Plan" && got.method === expected.plan
  if ("skipped" in expected) return got._tag === "Skipped" && category(got) === expected.skipped
  if ("failed" in expected) return got._tag === "Failed" && category(got) === expected.failed
  return got._tag === "Plan" || (got._tag === "Failed" && category(got) === expected.planOr)
}

const show = (got: ExplainOutcome | undefined) =>
  got === undefined ? "no outcome" : got._tag === "Plan" ? `Plan ${got.method}` : `${got._tag} ${got.reason}`

const mismatches = (corpus: ReadonlyArray<CanaryCase>, outcomes: ReadonlyArray<ExplainOutcome | undefined>) =>
  corpus.flatMap((c, i) =>
    matches(c.expected, outcomes[i]) ? [] : [{ text: c.text, expected: c.expected, got: show(outcomes[i]) }]
  )

const stageConfig = { type: "explain", max_per_run: 1000, statement_timeout_ms: 2000, lock_timeout_ms: 1000 }

describe("explain stage against the canary corpus", () => {
  it.live(
    "MariaDB: 200+ hostile statements each get a plan or a recorded refusal, and nothing changes",
    () =>
      Effect.gen(function* () {
        const lockName = `slowq_canary_${randomBytes(4).toString("hex")}`
        const db = yield* mariadbDatabase(mariadbSetup.replace("LOCK_NAME", lockName))
        const snapshot = Effect.all({
          canary: db.sql.unsafe("SELECT GROUP_CONCAT(id, ':', v ORDER BY id) AS rows_ FROM canary"),
          audit: db.sql.unsafe("SELECT COUNT(*) AS n FROM audit"),
          sequence: db.sql.unsafe("SELECT next_not_cached_value AS next FROM seq"),
          tables: db.sql.unsafe(
            "SELECT GROUP_CONCAT(table_name ORDER BY table_name) AS names FROM information_schema.tables WHERE table_schema = ?",
            [db.name]
          )
        })
        const before = yield* snapshot
        expect(before).toEqual({
          canary: [{ rows_: "1:one,2:two,3:three,4:four,5:five" }],
          audit: [{ n: 0 }],
          sequence: [{ next: 1 }],
          tables: [{ names: "audit,canary,seq" }]
        })

        const corpus = canaryCorpus("mysql")
        expect(corpus.length).toBeGreaterThanOrEqual(250)
        const events = corpus.map((c) =>
          eventOf(c.text, { db: db.name, fingerprint: c.truncated === true ? { truncated: true } : {} })
        )
        const outcomes = yield* withStage(stageConfig, contextFor("mysql", db.url, memoryIn(new Map())), (stage) =>
          Effect.gen(function* () {
            const processed = yield* stage.process(events)
            // Asked while the stage's connections are still open: a GET_LOCK run during planning was released.
            expect(yield* db.sql.unsafe("SELECT IS_USED_LOCK(?) AS holder", [lockName])).toEqual([{ holder: null }])
            return processed.events.map(outcomeOf)
          })
        )
        expect(yield* snapshot).toEqual(before)
        expect(mismatches(corpus, outcomes)).toEqual([])
        // The whole picture, pinned: a change in any line is a change in what reaches the server.
        expect(Object.fromEntries(tally(outcomes))).toEqual({
          "failed error 1054": 1,
          "failed error 1064": 6,
          "failed error 1305": 6,
          "failed write blocked": 85,
          "plan direct": 26,
          "plan rewritten": 14,
          "skipped analyze": 15,
          "skipped forbidden": 12,
          "skipped locking read": 1,
          "skipped multi-statement": 28,
          "skipped not explainable": 46,
          "skipped select into": 3,
          "skipped truncated": 4,
          "skipped unbalanced": 1,
          "skipped unterminated": 3
        })
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "PostgreSQL: 200+ hostile statements each get a plan or a recorded refusal, and nothing changes",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(postgresSetup)
        const snapshot = Effect.all({
          canary: db.sql.unsafe("SELECT string_agg(id || ':' || v, ',' ORDER BY id) AS rows_ FROM canary"),
          audit: db.sql.unsafe("SELECT count(*)::int AS n FROM audit"),
          sequence: db.sql.unsafe("SELECT last_value::int AS last_value, is_called FROM seq"),
          tables: db.sql.unsafe(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) AS names FROM pg_tables WHERE schemaname = 'public'"
          )
        })
        const before = yield* snapshot
        expect(before).toEqual({
          canary: [{ rows_: "1:one,2:two,3:three,4:four,5:five" }],
          audit: [{ n: 0 }],
          sequence: [{ last_value: 1, is_called: false }],
          tables: [{ names: "audit,canary" }]
        })

        const corpus = canaryCorpus("postgres")
        expect(corpus.length).toBeGreaterThanOrEqual(250)
        const events = corpus.map((c) =>
          eventOf(c.text, { fingerprint: c.truncated === true ? { truncated: true } : {} })
        )
        const outcomes = yield* withStage(stageConfig, contextFor("postgres", db.url, memoryIn(new Map())), (stage) =>
          Effect.gen(function* () {
            const processed = yield* stage.process(events)
            // Asked while the stage's connections are still open: an advisory lock taken during planning is gone.
            expect(
              yield* db.sql.unsafe("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'")
            ).toEqual([{ n: 0 }])
            return processed.events.map(outcomeOf)
          })
        )
        expect(yield* snapshot).toEqual(before)
        expect(mismatches(corpus, outcomes)).toEqual([])
        expect(Object.fromEntries(tally(outcomes))).toEqual({
          "failed error 42601": 3,
          "failed error 42703": 1,
          "failed error 42883": 4,
          "failed write blocked": 80,
          "plan direct": 87,
          "plan prepared_generic": 2,
          "skipped analyze": 15,
          "skipped forbidden": 11,
          "skipped multi-statement": 23,
          "skipped not explainable": 43,
          "skipped select into": 6,
          "skipped truncated": 4,
          "skipped unbalanced": 1,
          "skipped unterminated": 2
        })
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("the protocol alone stops a second statement", () => {
  // These call the explainers directly, past the policy, as if it had let the text through.
  it.live("PostgreSQL: a trailing DROP TABLE is rejected (42601), not run, on both the direct and the generic path", () =>
    Effect.gen(function* () {
      const db = yield* pgDatabase("CREATE TABLE canary (id int); CREATE TABLE decoy (id int);")
      const explainer = yield* PostgresExplainer.make({
        url: Redacted.make(db.url),
        password: Option.none(),
        maxConnections: 1,
        statementTimeoutMs: 2000,
        lockTimeoutMs: 2000
      })
      const direct = yield* explainer.explain({ text: "SELECT 1; DROP TABLE canary", method: "direct", parameters: 0 }, null)
      const generic = yield* explainer.explain(
        { text: "SELECT $1::int; DROP TABLE canary", method: "prepared_generic", parameters: 1 },
        null
      )
      expect([direct, generic]).toEqual([
        { _tag: "Failed", reason: "error 42601: cannot insert multiple commands into a prepared statement" },
        { _tag: "Failed", reason: "error 42601: cannot insert multiple commands into a prepared statement" }
      ])
      // The control: the same text over the simple protocol (a query without parameters) does run the DROP.
      yield* db.sql.unsafe("EXPLAIN SELECT 1; DROP TABLE decoy")
      expect(
        yield* db.sql.unsafe("SELECT string_agg(tablename, ',' ORDER BY tablename) AS names FROM pg_tables WHERE schemaname = 'public'")
      ).toEqual([{ names: "canary" }])
    }).pipe(Effect.scoped)
  )

  it.live("MariaDB: a trailing DROP TABLE is rejected (1064), not run; a hostile database name is only a name", () =>
    Effect.gen(function* () {
      const db = yield* mariadbDatabase("CREATE TABLE canary (id INT); CREATE TABLE decoy (id INT);")
      const explainer = yield* MysqlExplainer.make({
        url: Redacted.make(db.url),
        password: Option.none(),
        maxConnections: 1,
        statementTimeoutMs: 2000,
        lockTimeoutMs: 2000
      })
      const direct = yield* explainer.explain({ text: "SELECT 1; DROP TABLE canary", method: "direct", parameters: 0 }, db.name)
      expect(direct._tag === "Failed" && direct.reason.startsWith("error 1064: ")).toBe(true)
      const hostileDb = yield* explainer.explain(
        { text: "SELECT 1", method: "direct", parameters: 0 },
        "x`; DROP TABLE canary; -- "
      )
      // The name only ever travels in the connection handshake, never in SQL text.
      expect(hostileDb).toEqual({
        _tag: "Failed",
        reason:
          "error: cannot connect to MySQL/MariaDB at 127.0.0.1:3306 (database x`; DROP TABLE canary; -- ) to explain: MysqlClient: Failed to connect: Incorrect database name 'x`; DROP TABLE canary; -- '"
      })
      // The control: mysql2's text protocol (multipleStatements is forced on) does run the DROP.
      yield* db.sql.unsafe("EXPLAIN SELECT 1; DROP TABLE decoy").unprepared
      expect(
        yield* db.sql.unsafe(
          "SELECT GROUP_CONCAT(table_name ORDER BY table_name) AS names FROM information_schema.tables WHERE table_schema = ?",
          [db.name]
        )
      ).toEqual([{ names: "canary" }])
    }).pipe(Effect.scoped)
  )
})
