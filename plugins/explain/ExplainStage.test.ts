import { Reactivity } from "@effect/experimental"
import { MysqlClient } from "@effect/sql-mysql2"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Option, Redacted, Scope } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { StageOutput } from "../../src/plugin/PipelineStage.js"
import { eventually } from "../../test/support/Poll.js"
import {
  contextFor,
  decodeConfig,
  eventOf,
  keep,
  mariadbDatabase,
  memoryIn,
  outcomeOf,
  pgAdminUrl,
  pgDatabase,
  runMariadbCli,
  withStage
} from "../../test/support/explain/Harness.js"
import { layer, memoryKey } from "./ExplainStage.js"
import type { ExplainOutcome } from "./Outcome.js"

const outcomes = (events: ReadonlyArray<CollectedEvent>) => events.map(outcomeOf)
const tagOf = (outcome: ExplainOutcome | undefined) =>
  outcome === undefined ? "none" : outcome._tag === "Plan" ? `Plan ${outcome.method}` : `${outcome._tag} ${outcome.reason}`

/** The top plan node of a PostgreSQL JSON plan. */
const pgRoot = (outcome: ExplainOutcome | undefined): Record<string, unknown> => {
  if (outcome?._tag !== "Plan") throw new Error(`expected a plan, got ${tagOf(outcome)}`)
  const [first] = outcome.plan as ReadonlyArray<{ readonly Plan: Record<string, unknown> }>
  return first!.Plan
}

/** Every value of `key` anywhere in a plan. */
const valuesOf = (plan: unknown, key: string): ReadonlyArray<unknown> => {
  if (Array.isArray(plan)) return plan.flatMap((item) => valuesOf(item, key))
  if (plan === null || typeof plan !== "object") return []
  return Object.entries(plan).flatMap(([k, v]) => (k === key ? [v, ...valuesOf(v, key)] : valuesOf(v, key)))
}

describe("explain stage: locks and the error TTL", () => {
  it.live(
    "PostgreSQL: behind an ACCESS EXCLUSIVE lock the EXPLAIN gives up at lock_timeout, the batch completes, the failure is remembered for error_ttl",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase("CREATE TABLE locked (id int PRIMARY KEY, v text); INSERT INTO locked VALUES (1, 'a');")
        const holder = yield* PgClient.make({ url: Redacted.make(db.url), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const lockScope = yield* Scope.make()
        const connection = yield* holder.reserve.pipe(Scope.extend(lockScope))
        yield* connection.execute("BEGIN", [], undefined)
        yield* connection.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE", [], undefined)
        yield* Scope.addFinalizer(lockScope, Effect.orDie(connection.execute("ROLLBACK", [], undefined)))

        const memory = new Map<string, unknown>()
        const context = contextFor("postgres", db.url, memoryIn(memory))
        const config = { type: "explain", lock_timeout_ms: 500, statement_timeout_ms: 10_000, error_ttl: "3s" }
        const locked = eventOf("SELECT * FROM locked WHERE id = 1")
        const free = eventOf("SELECT 1 AS unlocked")

        const started = Date.now()
        const first = yield* withStage(config, context, (stage) => stage.process([locked, free]).pipe(Effect.map(keep(memory))))
        const elapsed = Date.now() - started
        expect(outcomes(first).map(tagOf)).toEqual([
          "Failed lock timeout: canceling statement due to lock timeout",
          "Plan direct"
        ])
        expect(elapsed).toBeLessThan(2500)
        expect(memory.get(memoryKey(locked.fingerprint!.queryId))).toMatchObject({
          status: "failed",
          reason: "lock timeout: canceling statement due to lock timeout"
        })

        // The next run, within error_ttl: not tried again, nothing waits on the lock.
        const retryStarted = Date.now()
        const second = yield* withStage(config, context, (stage) => stage.process([locked]).pipe(Effect.map(keep(memory))))
        expect(outcomes(second)).toEqual([undefined])
        expect(Date.now() - retryStarted).toBeLessThan(1000)

        // Lock released and error_ttl over: explained again.
        yield* Scope.close(lockScope, Exit.void)
        yield* Effect.sleep("3100 millis")
        const third = yield* withStage(config, context, (stage) => stage.process([locked]).pipe(Effect.map(keep(memory))))
        expect(outcomes(third).map(tagOf)).toEqual(["Plan direct"])
        expect(memory.get(memoryKey(locked.fingerprint!.queryId))).toMatchObject({ status: "plan" })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "MariaDB: behind LOCK TABLES … WRITE the EXPLAIN gives up at lock_wait_timeout, the batch completes, the failure is remembered for error_ttl",
    () =>
      Effect.gen(function* () {
        const db = yield* mariadbDatabase("CREATE TABLE locked (id INT PRIMARY KEY, v VARCHAR(8)); INSERT INTO locked VALUES (1, 'a');")
        const holder = yield* MysqlClient.make({ url: Redacted.make(db.url), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const lockScope = yield* Scope.make()
        const connection = yield* holder.reserve.pipe(Scope.extend(lockScope))
        yield* connection.execute("LOCK TABLES locked WRITE", [], undefined)
        yield* Scope.addFinalizer(lockScope, Effect.orDie(connection.execute("UNLOCK TABLES", [], undefined)))

        const memory = new Map<string, unknown>()
        const context = contextFor("mysql", db.url, memoryIn(memory))
        // lock_wait_timeout takes whole seconds: 1000 ms is 1 s.
        const config = { type: "explain", lock_timeout_ms: 1000, statement_timeout_ms: 10_000, error_ttl: "3s" }
        const locked = eventOf("SELECT * FROM locked WHERE id = 1", { db: db.name })
        const free = eventOf("SELECT 1 AS unlocked", { db: db.name })

        const started = Date.now()
        const first = yield* withStage(config, context, (stage) => stage.process([locked, free]).pipe(Effect.map(keep(memory))))
        const elapsed = Date.now() - started
        expect(outcomes(first).map(tagOf)).toEqual([
          "Failed lock timeout: Lock wait timeout exceeded; try restarting transaction",
          "Plan direct"
        ])
        expect(elapsed).toBeGreaterThanOrEqual(900)
        expect(elapsed).toBeLessThan(3000)

        const second = yield* withStage(config, context, (stage) => stage.process([locked]).pipe(Effect.map(keep(memory))))
        expect(outcomes(second)).toEqual([undefined])

        yield* Scope.close(lockScope, Exit.void)
        yield* Effect.sleep("3100 millis")
        const third = yield* withStage(config, context, (stage) => stage.process([locked]).pipe(Effect.map(keep(memory))))
        expect(outcomes(third).map(tagOf)).toEqual(["Plan direct"])
      }).pipe(Effect.scoped),
    30_000
  )
})

describe("explain stage: budget, TTL and samples", () => {
  it.live("explains the slowest queries first within max_per_run, once per explain_ttl, and applies each outcome to all of a query's events", () =>
    Effect.gen(function* () {
      const db = yield* pgDatabase("CREATE TABLE t (id int PRIMARY KEY, v text);")
      const memory = new Map<string, unknown>()
      const context = contextFor("postgres", db.url, memoryIn(memory))
      const config = { type: "explain", max_per_run: 2 }
      const slow = eventOf("SELECT * FROM t WHERE id = 1", { queryTimeMs: 300 })
      const medium = eventOf("SELECT * FROM t WHERE v = 'x'", { queryTimeMs: 200 })
      const fast = eventOf("SELECT count(*) FROM t", { queryTimeMs: 100 })
      const refused = eventOf("DROP TABLE t", { queryTimeMs: 1000 })
      // One query id, three samples: the slowest is cut off, so the next slowest is explained, for all three.
      const shared = { queryId: "shared" }
      const samples = [
        eventOf("SELECT * FROM t WHERE id = 1 /* cut", { queryTimeMs: 500, fingerprint: { ...shared, truncated: true } }),
        eventOf("SELECT * FROM t WHERE id = 2", { queryTimeMs: 400, fingerprint: shared }),
        eventOf("SELECT * FROM t WHERE id = 3", { queryTimeMs: 1, fingerprint: shared })
      ]

      const run = (events: ReadonlyArray<CollectedEvent>) => withStage(config, context, (stage) => stage.process(events).pipe(Effect.map(keep(memory))))
      const first = yield* run([fast, medium, slow, refused, ...samples])
      // By slowest sample: DROP (refused, costs no budget), the shared query, `slow`; `medium` and `fast` wait.
      expect(outcomes(first).map(tagOf)).toEqual([
        "none",
        "none",
        "Plan direct",
        "Skipped not explainable: DROP",
        "Plan direct",
        "Plan direct",
        "Plan direct"
      ])
      // The samples share one outcome object: the plan of "id = 2".
      expect(new Set(outcomes(first).slice(4)).size).toBe(1)
      expect(valuesOf(outcomes(first)[4], "Index Cond")).toEqual(["(id = 2)"])
      expect([...memory.keys()].sort()).toEqual([memoryKey(slow.fingerprint!.queryId), memoryKey("shared")].sort())

      // The next run: the two explained ones are within explain_ttl, so the budget goes to the rest.
      const second = yield* run([fast, medium, slow, refused])
      expect(outcomes(second).map(tagOf)).toEqual(["Plan direct", "Plan direct", "none", "Skipped not explainable: DROP"])

      // Within one run the budget does not come back.
      const both = yield* withStage(config, contextFor("postgres", db.url, memoryIn(new Map())), (stage) =>
        Effect.all([stage.process([slow, medium]), stage.process([fast])])
      )
      expect([...both[0].events, ...both[1].events].map((e) => tagOf(outcomeOf(e)))).toEqual(["Plan direct", "Plan direct", "none"])
    }).pipe(Effect.scoped)
  )

  it.live("fails to build, with a sentence, when there is nothing to explain on or the URL is of the other dialect", () =>
    Effect.gen(function* () {
      const noDatabase = {
        ...contextFor("mysql", "mysql://root@127.0.0.1:3306", memoryIn(new Map())),
        source: { type: "mysql_slow_log_file", dialect: "mysql" as const, config: {}, connection: Option.none() }
      }
      const built = yield* Effect.either(Layer.build(layer(decodeConfig({ type: "explain" }), noDatabase)).pipe(Effect.scoped))
      expect(Either.isLeft(built) && built.left.message).toBe(
        "source mysql_slow_log_file reads no database, so there is nothing to EXPLAIN on: set explain_url"
      )
      const mismatch = yield* Effect.either(
        Layer.build(
          layer(decodeConfig({ type: "explain", explain_url: "postgres://postgres@127.0.0.1:5432/postgres" }), noDatabase)
        ).pipe(Effect.scoped)
      )
      expect(Either.isLeft(mismatch) && mismatch.left.message).toBe(
        "explain_url is a postgres URL but source mysql_slow_log_file collects mysql statements"
      )
      const unreachable = yield* Effect.either(
        Layer.build(
          layer(decodeConfig({ type: "explain", explain_url: "postgres://postgres@127.0.0.1:1/postgres" }), {
            ...noDatabase,
            source: { ...noDatabase.source, dialect: "postgres" as const }
          })
        ).pipe(Effect.scoped)
      )
      expect(Either.isLeft(unreachable) && unreachable.left.message).toMatch(
        /^cannot connect to PostgreSQL at 127\.0\.0\.1:1 to explain: PgClient: Failed to connect: .*ECONNREFUSED/
      )
    })
  )
})

describe("explain stage: generic plans of pg_stat_statements texts", () => {
  it.live(
    "equality, IN lists, LIKE, ORDER BY/LIMIT, $1 IS NULL, interval $1, date $1 and joins get generic plans on PostgreSQL 15",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(`
          CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
          CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
          CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL);
          CREATE INDEX orders_customer ON orders (customer_id, created_at);
          CREATE INDEX customers_name ON customers (name text_pattern_ops);
          INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 2000) g;
          INSERT INTO orders SELECT g, g % 2000 + 1, CASE WHEN g % 10 = 0 THEN 'open' ELSE 'done' END,
            now() - g * interval '1 minute' FROM generate_series(1, 50000) g;
          ANALYZE;`)
        // The workload, with literals, as an application would send it; pg_stat_statements normalizes it.
        const workload = [
          "SELECT * FROM orders WHERE id = 42",
          "SELECT * FROM orders WHERE customer_id IN (1, 2, 3)",
          "SELECT * FROM customers WHERE name LIKE 'customer 12%'",
          "SELECT * FROM orders WHERE customer_id = 7 ORDER BY created_at DESC LIMIT 10",
          "SELECT count(*) FROM orders WHERE 'open' IS NULL OR status = 'open'",
          "SELECT count(*) FROM orders WHERE created_at > now() - interval '7 days'",
          "SELECT count(*) FROM orders WHERE created_at >= date '2024-01-01'",
          "SELECT c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = 5 GROUP BY c.name"
        ]
        for (const text of workload) yield* db.sql.unsafe(text)
        const collected = yield* db.sql.unsafe<{ query: string }>(
          `SELECT query FROM pg_stat_statements
           WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND query ~ '(orders|customers)' AND query !~* '^(create|insert|analyze)|pg_stat_statements'
           ORDER BY query`
        )
        const texts = collected.map((row) => row.query)
        expect(texts).toEqual(
          [
            "SELECT * FROM orders WHERE id = $1",
            "SELECT * FROM orders WHERE customer_id IN ($1, $2, $3)",
            "SELECT * FROM customers WHERE name LIKE $1",
            "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2",
            "SELECT count(*) FROM orders WHERE $1 IS NULL OR status = $2",
            "SELECT count(*) FROM orders WHERE created_at > now() - interval $1",
            "SELECT count(*) FROM orders WHERE created_at >= date $1",
            "SELECT c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1 GROUP BY c.name"
          ].sort()
        )

        const processed = yield* withStage(
          { type: "explain" },
          contextFor("postgres", db.url, memoryIn(new Map())),
          (stage) => stage.process(texts.map((text) => eventOf(text, { db: db.name })))
        ).pipe(Effect.map(({ events }) => events))
        const byText = new Map(processed.map((e) => [e.event.sqlText, outcomeOf(e)]))
        expect(processed.map((e) => tagOf(outcomeOf(e)))).toEqual(texts.map(() => "Plan prepared_generic"))
        // Generic plans keep the placeholders in their conditions instead of folding NULLs into `false`.
        expect(valuesOf(byText.get("SELECT * FROM orders WHERE id = $1")!, "Index Cond")).toEqual(["(id = $1)"])
        expect(pgRoot(byText.get("SELECT * FROM orders WHERE id = $1"))["Node Type"]).toBe("Index Scan")
        expect(valuesOf(byText.get("SELECT * FROM orders WHERE customer_id IN ($1, $2, $3)")!, "Index Cond")).toEqual([
          "(customer_id = ANY (ARRAY[$1, $2, $3]))"
        ])
        expect(pgRoot(byText.get("SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2"))["Node Type"]).toBe(
          "Limit"
        )
        expect(
          valuesOf(byText.get("SELECT count(*) FROM orders WHERE $1 IS NULL OR status = $2")!, "Filter")
        ).toEqual(["(($1 IS NULL) OR (status = $2))"])
        expect(
          valuesOf(byText.get("SELECT count(*) FROM orders WHERE created_at > now() - interval $1")!, "Filter")
        ).toEqual(["(created_at > (now() - $1))"])
        expect(JSON.stringify(byText.get("SELECT * FROM customers WHERE name LIKE $1"))).toContain("$1")
        const join = byText.get(
          "SELECT c.name, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1 GROUP BY c.name"
        )
        expect(valuesOf(join, "Relation Name").slice().sort()).toEqual(["customers", "orders"])
        expect(JSON.stringify(processed.map(outcomeOf))).not.toContain("One-Time Filter")
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("explain stage with the README's least-privilege users", () => {
  it.live("MariaDB: SELECT and SHOW VIEW are enough for plans, and stored functions are refused rather than run", () =>
    Effect.gen(function* () {
      const user = `slowq_x_${Date.now().toString(36)}`
      const db = yield* mariadbDatabase(`
        CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(8));
        CREATE TABLE audit (what VARCHAR(8));
        DELIMITER //
        CREATE FUNCTION f() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO audit VALUES ('ran'); RETURN 1; END//
        CREATE FUNCTION g() RETURNS INT DETERMINISTIC BEGIN RETURN GET_LOCK('${user}', 0); END//
        DELIMITER ;`)
      yield* runMariadbCli(
        `CREATE USER '${user}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 4;
         GRANT SELECT, SHOW VIEW ON ${db.name}.* TO '${user}'@'%';`
      )
      yield* Effect.addFinalizer(() => Effect.orDie(runMariadbCli(`DROP USER '${user}'@'%';`)))
      const context = contextFor("mysql", `mysql://${user}:pw@127.0.0.1:3306/${db.name}`, memoryIn(new Map()))
      const { events: processed } = yield* withStage({ type: "explain" }, context, (stage) =>
        stage.process([
          eventOf("SELECT * FROM t WHERE id = 1", { db: db.name }),
          eventOf("UPDATE t SET v = 'x' WHERE id = 1", { db: db.name }),
          eventOf("SELECT * FROM t WHERE id = f()", { db: db.name }),
          eventOf("SELECT * FROM t WHERE id = g()", { db: db.name })
        ])
      )
      // f writes a table: opening it for the write is refused in the read-only transaction before anything runs.
      // g takes a user lock, which a read-only transaction allows: without EXECUTE it does not run.
      expect(outcomes(processed).map(tagOf)).toEqual([
        "Plan direct",
        "Plan rewritten",
        "Failed write blocked: Cannot execute statement in a READ ONLY transaction",
        `Failed error 1370: execute command denied to user '${user}'@'%' for routine '${db.name}.g'`
      ])
      expect(yield* db.sql.unsafe("SELECT COUNT(*) AS n FROM audit")).toEqual([{ n: 0 }])
    }).pipe(Effect.scoped)
  )

  it.live("PostgreSQL: CONNECT, USAGE and SELECT are enough for plans of reads; DML needs its own privilege", () =>
    Effect.gen(function* () {
      const role = `slowq_x_${Date.now().toString(36)}`
      const admin = yield* PgClient.make({ url: Redacted.make(pgAdminUrl), maxConnections: 1 }).pipe(
        Effect.provide(Reactivity.layer)
      )
      yield* admin.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD 'pw' CONNECTION LIMIT 4 NOSUPERUSER NOCREATEDB NOCREATEROLE`)
      // Registered before the database exists, so it runs after the database is dropped.
      yield* Effect.addFinalizer(() => Effect.orDie(admin.unsafe(`DROP ROLE ${role}`)))
      yield* admin.unsafe(`ALTER ROLE ${role} SET default_transaction_read_only = on`)
      const db = yield* pgDatabase(`
        CREATE TABLE t (id int PRIMARY KEY, v text);
        CREATE TABLE audit (what text);
        CREATE FUNCTION w() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN INSERT INTO audit VALUES ('ran'); RETURN 1; END $$;
        CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN w(); END $$;`)
      yield* db.sql.unsafe(`
        GRANT CONNECT ON DATABASE ${db.name} TO ${role};
        GRANT USAGE ON SCHEMA public TO ${role};
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role};`)
      const url = new URL(db.url)
      url.username = role
      url.password = "pw"
      const { events: processed } = yield* withStage({ type: "explain" }, contextFor("postgres", url.toString(), memoryIn(new Map())), (stage) =>
        stage.process([
          eventOf("SELECT * FROM t WHERE id = 1"),
          eventOf("SELECT * FROM t WHERE id = $1"),
          eventOf("UPDATE t SET v = 'x' WHERE id = 1"),
          eventOf("SELECT * FROM t WHERE id = f()")
        ])
      )
      expect(outcomes(processed).map(tagOf)).toEqual([
        "Plan direct",
        "Plan prepared_generic",
        "Failed error 42501: permission denied for table t",
        "Failed write blocked: cannot execute INSERT in a read-only transaction"
      ])
      expect(yield* db.sql.unsafe("SELECT count(*)::int AS n FROM audit")).toEqual([{ n: 0 }])
    }).pipe(Effect.scoped)
  )
})

describe("explain stage across databases", () => {
  it.live("MariaDB: each statement is explained in the database it ran in, whatever ran before on the pool", () =>
    Effect.gen(function* () {
      const indexed = yield* mariadbDatabase(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(8), KEY t_v (v)); INSERT INTO t SELECT seq, seq FROM seq_1_to_100;"
      )
      const plain = yield* mariadbDatabase("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(8)); INSERT INTO t SELECT seq, seq FROM seq_1_to_100;")
      const text = (n: number) => `SELECT * FROM t WHERE v = '${n}'`
      const { events: processed } = yield* withStage({ type: "explain" }, contextFor("mysql", indexed.url, memoryIn(new Map())), (stage) =>
        stage.process([
          eventOf(text(1), { db: indexed.name, queryTimeMs: 6 }),
          eventOf(text(2), { db: null, queryTimeMs: 5 }),
          eventOf(text(3), { db: plain.name, queryTimeMs: 4 }),
          eventOf(text(4), { db: indexed.name, queryTimeMs: 3 }),
          eventOf(text(5), { db: "slowq_explain_no_such_db", queryTimeMs: 2 }),
          eventOf(text(6), { db: plain.name, queryTimeMs: 1 })
        ])
      )
      const access = processed.map((e) => {
        const outcome = outcomeOf(e)
        return outcome?._tag === "Plan" ? valuesOf(outcome.plan, "access_type")[0] : tagOf(outcome).slice(0, 40)
      })
      expect(access).toEqual([
        "ref",
        "Failed error 1046: No database selected",
        "ALL",
        "ref",
        "Failed error: cannot connect to MySQL/Ma",
        "ALL"
      ])
    }).pipe(Effect.scoped)
  )

  it.live("PostgreSQL: each statement is explained in the database it ran in", () =>
    Effect.gen(function* () {
      const indexed = yield* pgDatabase("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX t_v ON t (v); INSERT INTO t SELECT g, g::text FROM generate_series(1, 10000) g; ANALYZE t;")
      const plain = yield* pgDatabase("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, g::text FROM generate_series(1, 10000) g; ANALYZE t;")
      const { events: processed } = yield* withStage({ type: "explain" }, contextFor("postgres", indexed.url, memoryIn(new Map())), (stage) =>
        stage.process([
          eventOf("SELECT * FROM t WHERE v = $1", { db: plain.name, queryTimeMs: 3 }),
          eventOf("SELECT * FROM t WHERE v = '7'", { db: indexed.name, queryTimeMs: 2 }),
          eventOf("SELECT * FROM t WHERE v = '8'", { db: null, queryTimeMs: 1 })
        ])
      )
      expect(processed.map((e) => pgRoot(outcomeOf(e))["Node Type"])).toEqual(["Seq Scan", "Index Scan", "Index Scan"])
    }).pipe(Effect.scoped)
  )
})

describe("explain stage: one pool per database for the run", () => {
  it.live(
    "PostgreSQL: a database's pool opens on first use and is shared, an unreachable database stays unreachable for the run, every pool closes with the stage",
    () =>
      Effect.gen(function* () {
        const own = yield* pgDatabase("")
        const other = yield* pgDatabase("")
        const later = `${other.name}_later`
        const admin = yield* PgClient.make({ url: Redacted.make(pgAdminUrl), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        yield* Effect.addFinalizer(() => Effect.orDie(admin.unsafe(`DROP DATABASE IF EXISTS ${later} WITH (FORCE)`)))
        /** The stage's connections to a database, by backend pid. */
        const backends = (database: string) =>
          admin
            .unsafe<{ readonly pid: number }>(
              "SELECT pid FROM pg_stat_activity WHERE application_name = 'slowq-explain' AND datname = $1 ORDER BY pid",
              [database]
            )
            .pipe(Effect.map((rows) => rows.map((row) => row.pid)))
        const explainIn = (stage: { readonly process: (events: ReadonlyArray<CollectedEvent>) => Effect.Effect<StageOutput, unknown> }, db: string | null, n: number) =>
          stage.process([eventOf(`SELECT id FROM generate_series(1, ${n}) AS id`, { db })]).pipe(Effect.map(({ events }) => outcomes(events).map(tagOf)))
        const unreachable = `Failed error: cannot connect to PostgreSQL at 127.0.0.1:5432 (database ${later}) to explain: PgClient: Failed to connect: database "${later}" does not exist`

        const seen = yield* withStage({ type: "explain" }, contextFor("postgres", own.url, memoryIn(new Map())), (stage) =>
          Effect.gen(function* () {
            const before = yield* backends(other.name)
            expect(yield* explainIn(stage, other.name, 1)).toEqual(["Plan direct"])
            const first = yield* backends(other.name)
            expect(yield* explainIn(stage, other.name, 2)).toEqual(["Plan direct"])
            const second = yield* backends(other.name)

            expect(yield* explainIn(stage, later, 3)).toEqual([unreachable])
            yield* admin.unsafe(`CREATE DATABASE ${later}`)
            // Remembered for the run: not tried again although it exists now.
            expect(yield* explainIn(stage, later, 4)).toEqual([unreachable])

            expect(yield* explainIn(stage, null, 5)).toEqual(["Plan direct"])
            return { before, first, second, own: yield* backends(own.name), later: yield* backends(later) }
          })
        )
        expect(seen.before).toEqual([])
        expect(seen.first.length).toBe(1)
        expect(seen.second).toEqual(seen.first)
        expect(seen.own.length).toBe(1)
        expect(seen.later).toEqual([])
        // Closed by the stage's scope, well before the drivers' 5 s idle timeout would have closed them.
        yield* eventually(
          "the stage's connections to close",
          Effect.map(Effect.all([backends(own.name), backends(other.name)]), ([a, b]) => a.length + b.length === 0),
          "2 seconds"
        )

        // The next run tries again.
        const next = yield* withStage({ type: "explain" }, contextFor("postgres", own.url, memoryIn(new Map())), (stage) =>
          explainIn(stage, later, 6)
        )
        expect(next).toEqual(["Plan direct"])
      }).pipe(Effect.scoped)
  )
})

describe("explain stage: plans a source logged", () => {
  it.live("keeps the plan an event carries (method logged, no EXPLAIN, no database needed), the latest per query", () =>
    Effect.gen(function* () {
      const memory = new Map<string, unknown>()
      const context = {
        ...contextFor("postgres", "postgres://postgres@127.0.0.1:1/none", memoryIn(memory)),
        source: { type: "postgres_log_file", dialect: "postgres" as const, config: {}, connection: Option.none(), logsPlans: true }
      }
      const planA = [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "(v = 'a'::text)" } }]
      const planB = [{ Plan: { "Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_v" } }]
      const base = eventOf("SELECT * FROM t WHERE v = 'a'")
      const withPlan = (event: CollectedEvent, plan: unknown, startTimeUs: number): CollectedEvent => ({
        ...event,
        event: { ...event.event, startTimeUs, plan }
      })
      const older = withPlan(base, planA, 1_700_000_000_000_000)
      const newer = withPlan(eventOf("SELECT * FROM t WHERE v = 'b'", { fingerprint: base.fingerprint }), planB, 1_700_000_060_000_000)
      const without = eventOf("SELECT * FROM u WHERE id = 1")
      const output = yield* withStage({ type: "explain" }, context, (stage) => stage.process([newer, older, without]))
      const kept = output.events.map(outcomeOf)
      expect(kept.map(tagOf)).toEqual(["Plan logged", "Plan logged", "none"])
      // The latest execution's plan (it ran 60 s later), captured at its end, for every event of the query.
      expect(kept[0]).toMatchObject({ plan: planB, capturedAt: new Date(1_700_000_060_010) })
      expect(kept[1]).toEqual(kept[0])
      expect(output.remember.map((entry) => entry.key)).toEqual([memoryKey(base.fingerprint.queryId)])
    })
  )

  it.live("a source that logs no plans still needs a database to explain on", () =>
    Effect.gen(function* () {
      const context = {
        ...contextFor("postgres", "postgres://postgres@127.0.0.1:1/none", memoryIn(new Map())),
        source: { type: "postgres_other", dialect: "postgres" as const, config: {}, connection: Option.none() }
      }
      const built = yield* Effect.either(Layer.build(layer(decodeConfig({ type: "explain" }), context)).pipe(Effect.scoped))
      expect(Either.isLeft(built) && built.left.message).toBe(
        "source postgres_other reads no database, so there is nothing to EXPLAIN on: set explain_url"
      )
    })
  )
})
