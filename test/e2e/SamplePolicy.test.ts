import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { request, startHttpDaemon } from "../http/HttpDaemon.js"
import { mariadbDatabase } from "../support/explain/Harness.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { tempDir } from "../support/Pipelines.js"

// A slow log of statements whose literals are personal data, collected with explain (on the local MariaDB, so the
// plans' conditions hold the literals) and analyze (whose statement rules quote clauses), under each sample policy.
// Under `normalized` none of the literals may be anywhere: in any text or jsonb column of the store, in any answer of
// the API, in the daemon's log at debug level. Under `raw` the same scan finds them, which shows that it can.

const literals = [
  "zq-alice@example.org",
  "zq-bob@example.net",
  "987654321",
  "+49-151-7654321",
  "Kx7-secret-token",
  "zq-carol@example.com",
  "Zq Dave O'Hara",
  "ZQ-ERIN@EXAMPLE.ORG",
  "31415926"
]

const statements = [
  "SELECT * FROM customers WHERE email = 'zq-alice@example.org'",
  "SELECT id FROM customers WHERE email LIKE '%zq-bob@example.net'",
  "SELECT * FROM customers WHERE id = 987654321 OR phone = '+49-151-7654321'",
  "UPDATE customers SET note = 'Kx7-secret-token' WHERE email = 'zq-carol@example.com'",
  `SELECT * FROM customers WHERE name = "Zq Dave O'Hara"`,
  "SELECT * FROM customers WHERE UPPER(email) = 'ZQ-ERIN@EXAMPLE.ORG' LIMIT 31415926"
]

const slowLog = (db: string) =>
  [
    "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-0+deb12u1-log (Debian 12). started with:",
    "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock",
    "Time\t\t    Id Command\tArgument",
    ...statements.flatMap((statement, n) => [
      `# Time: 241207 10:0${n}:00`,
      "# User@Host: app[app] @ localhost []",
      `# Thread_id: ${n + 1}  Schema: ${db}  QC_hit: No`,
      `# Query_time: 0.${n + 1}00000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 20000`,
      "# Rows_affected: 0  Bytes_sent: 120",
      `use ${db};`,
      `SET timestamp=${1733565600 + n * 60};`,
      `${statement};`
    ]),
    ""
  ].join("\n")

/** Every text, varchar, text[] and jsonb column of the store, as `table.column`, with the literals found in it. */
const literalsInStore = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* storeClient(url)
    const columns = yield* sql.unsafe<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')
       ORDER BY table_name, column_name`
    )
    const found: Array<string> = []
    for (const { table_name, column_name } of columns) {
      for (const literal of literals) {
        const rows = yield* sql.unsafe<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${table_name}" WHERE strpos(lower("${column_name}"::text), lower($1)) > 0`,
          [literal]
        )
        if (rows[0]!.n > 0) found.push(`${table_name}.${column_name}: ${literal}`)
      }
    }
    return { columns: columns.length, found }
  })

const literalsIn = (text: string) => literals.filter((literal) => text.toLowerCase().includes(literal.toLowerCase()))

const runUnder = (policy: "raw" | "normalized") =>
  Effect.gen(function* () {
    const db = yield* mariadbDatabase(`
      CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(100) NOT NULL, name VARCHAR(100) NOT NULL,
        phone VARCHAR(40) NOT NULL, note VARCHAR(100) NOT NULL) ENGINE=MyISAM;
      INSERT INTO customers SELECT seq, CONCAT('user', seq, '@shop.test'), CONCAT('User ', seq), CONCAT('+1-', seq), ''
        FROM seq_1_to_20000;
      ANALYZE TABLE customers;`)
    const dir = yield* tempDir("slowq-samples-")
    const logPath = join(dir, "slow.log")
    writeFileSync(logPath, slowLog(db.name))
    const store = yield* freshStoreDatabase
    const pipeline = [
      "name: pii",
      "schedule:",
      "  every: 1h",
      "source:",
      "  type: mysql_slow_log_file",
      `  path: ${logPath}`,
      // The file is complete: its last entry is read at once, not after the file has been still for a second (a
      // daemon that starts within that second read five of the six queries in its first run).
      "  settle_ms: 0",
      "stages:",
      "  - type: explain",
      "    explain_url: mysql://root@127.0.0.1:3306/test",
      "  - type: analyze",
      "sink:",
      "  type: store",
      `  samples: ${policy}`,
      ""
    ].join("\n")
    const daemon = yield* startHttpDaemon({ "pii.yaml": pipeline }, { SLOWQ_STORE_URL: store.url, SLOWQ_LOG_LEVEL: "debug" })
    yield* eventually(
      "the first run",
      Effect.sync(() => daemon.log().includes('message="run finished"'))
    ).pipe(Effect.tapError(() => Effect.sync(() => writeFileSync("/tmp/pii-daemon.log", daemon.log()))))
    const get = (path: string) =>
      request(daemon, "GET", path).pipe(
        Effect.tap((answer) => expect([path, answer.status]).toEqual([path, 200])),
        Effect.map((answer) => answer.text)
      )
    const list = yield* get("/api/v1/queries?limit=100")
    const ids = (JSON.parse(list) as { queries: ReadonlyArray<{ id: string }> }).queries.map((q) => q.id)
    const answers = [list, yield* get("/api/v1/queries?since=3000d&limit=100")]
    for (const id of ids) {
      answers.push(yield* get(`/api/v1/queries/${id}?samples=100`))
      answers.push(yield* get(`/api/v1/queries/${id}/findings`))
      answers.push(yield* get(`/api/v1/queries/${id}/series?since=2024-12-07T10:00:00Z&until=2024-12-07T11:00:00Z&step=1m`))
    }
    answers.push(yield* get("/api/v1/findings?limit=500"), yield* get("/api/v1/suggestions"), yield* get("/api/v1/pipelines"))
    answers.push(yield* get("/metrics"))
    const stored = yield* literalsInStore(store.url)
    const sql = yield* storeClient(store.url)
    const samples = yield* sql.unsafe<{ kind: string; sql_text: string }>(
      "SELECT kind, sql_text FROM slowq_samples ORDER BY sql_text, kind"
    )
    const plans = yield* sql.unsafe<{ n: number }>("SELECT count(*)::int AS n FROM slowq_plans")
    const findings = yield* sql.unsafe<{ rule: string }>("SELECT DISTINCT rule FROM slowq_findings ORDER BY rule")
    yield* daemon.stop
    return {
      ids,
      stored,
      inAnswers: literalsIn(answers.join("\n")),
      inLog: literalsIn(daemon.log()),
      samples,
      plans: plans[0]!.n,
      findings: findings.map((f) => f.rule)
    }
  }).pipe(Effect.scoped)

describe("the sample policy, through the daemon", () => {
  it.live(
    "normalized: no literal in any store column, API answer or debug log line; raw: the same scan finds them",
    () =>
      Effect.gen(function* () {
        const normalized = yield* runUnder("normalized")
        expect(normalized.ids.length).toBe(6)
        // The run really produced what could leak: plans of the statements, and findings quoting their clauses.
        expect(normalized.plans).toBeGreaterThanOrEqual(5)
        expect(normalized.findings).toEqual(
          expect.arrayContaining(["mysql_full_scan", "stmt_function_on_column", "stmt_like_leading_wildcard", "stmt_select_star"])
        )
        expect(normalized.stored.columns).toBeGreaterThan(40)
        expect(normalized.stored.found).toEqual([])
        expect(normalized.inAnswers).toEqual([])
        expect(normalized.inLog).toEqual([])
        // Each statement is its hour's first and slowest: two samples each, every literal a `?`.
        expect(normalized.samples).toEqual(
          [
            "SELECT * FROM customers WHERE UPPER(email) = ? LIMIT ?",
            "SELECT * FROM customers WHERE email = ?",
            "SELECT * FROM customers WHERE id = ? OR phone = ?",
            "SELECT * FROM customers WHERE name = ?",
            "SELECT id FROM customers WHERE email LIKE ?",
            "UPDATE customers SET note = ? WHERE email = ?"
          ].flatMap((text) => [
            { kind: "first", sql_text: text },
            { kind: "slowest", sql_text: text }
          ])
        )

        const raw = yield* runUnder("raw")
        expect(raw.ids.length).toBe(6)
        expect(raw.stored.found).toEqual(expect.arrayContaining(literals.map((l) => `slowq_samples.sql_text: ${l}`)))
        expect(raw.inAnswers).toEqual(literals)
      }),
    180_000
  )
})
