import { readFileSync, statSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import pg from "pg"
import { fingerprintPostgres, loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"
import { runCli } from "../../test/support/Cli.js"
import { pipelinesDir } from "../../test/support/Pipelines.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { storeClient } from "../../test/support/StoreQueries.js"
import { pgDatabase } from "../../test/support/explain/Harness.js"

// The local PostgreSQL's real server log (Debian's stderr log, log_line_prefix '%m [%p] %q%u@%d ') → postgres_log_file
// → fingerprint → explain (keeping auto_explain's plans, no EXPLAIN) → a real store, through `slowq once` as a user
// runs it. auto_explain is loaded in this test's session only (LOAD as superuser), so nothing else on the shared
// server changes; the pipelines start at the log's end and the assertions keep to this test's own database.

/** Debian's server log of the local cluster (pg_ctlcluster redirects stderr there; pg_current_logfile() is null). */
const logOf = (versionNum: number) => `/var/log/postgresql/postgresql-${Math.floor(versionNum / 10000)}-main.log`

const pipeline = (log: string, name: string, samples: "raw" | "normalized") =>
  [
    `name: ${name}`,
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: postgres_log_file",
    `  path: ${log}`,
    "  start_at: end",
    "  settle_ms: 0",
    "stages:",
    "  - type: explain",
    "  - type: analyze",
    "sink:",
    "  type: store",
    `  samples: ${samples}`,
    ""
  ].join("\n")

/** The lines the server wrote for `database` after byte `from`: each entry's first line and its continuation lines. */
const loggedEntries = (log: string, from: number, database: string) => {
  const text = readFileSync(log).subarray(from).toString("utf8")
  const entries: Array<{ readonly head: string; readonly body: Array<string> }> = []
  for (const line of text.split("\n")) {
    if (line.startsWith("\t")) entries.at(-1)?.body.push(line.slice(1))
    else entries.push({ head: line, body: [] })
  }
  return entries.filter((entry) => entry.head.includes(`@${database} LOG:  duration: `))
}

const durationOf = (head: string) => Number(/duration: ([\d.]+) ms/.exec(head)![1])

describe("postgres_log_file: the real server log with auto_explain, into the store, through the CLI", () => {
  it.live(
    "one event per execution with the logged durations, libpg_query's ids, the logged plan stored as the query's plan; nothing of the literals under normalized",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() => loadPostgresParser())
        const db = yield* pgDatabase(`
          CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text NOT NULL);
          INSERT INTO orders SELECT g, g % 100, 'note ' || g FROM generate_series(1, 20000) g;
          ANALYZE orders;`)
        const [server] = yield* db.sql.unsafe<{ server_version_num: string }>("SHOW server_version_num")
        const log = logOf(Number(server!.server_version_num))
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({
          "raw.yaml": pipeline(log, "pglog_raw", "raw"),
          "normalized.yaml": pipeline(log, "pglog_normalized", "normalized")
        })
        const env = { SLOWQ_STORE_URL: store.url }
        const once = (name: string) =>
          runCli(["once", name, "--pipelines", dir], env).pipe(
            Effect.tap((result) => {
              expect(result.stderr).not.toContain("level=ERROR")
              expect(result.stdout).toMatch(new RegExp(`^${name} {2}ok {2}events=\\d+ `, "m"))
              expect(result.code).toBe(0)
            })
          )
        // First runs: each pipeline's checkpoint at the log's current end.
        yield* once("pglog_raw")
        yield* once("pglog_normalized")
        const from = statSync(log).size

        const client = new pg.Client({ connectionString: db.url, application_name: "slowq_pglog_e2e" })
        yield* Effect.acquireRelease(
          Effect.promise(() => client.connect()),
          () => Effect.promise(() => client.end())
        )
        const run = (text: string, values?: ReadonlyArray<unknown>) => Effect.promise(() => client.query(text, values as Array<unknown>))
        yield* run("LOAD 'auto_explain'")
        yield* run("SET auto_explain.log_min_duration = 0")
        yield* run("SET auto_explain.log_format = 'json'")
        // What pganalyze recommends: the rows each node really produced and its buffers, without the timing's cost.
        yield* run("SET auto_explain.log_analyze = on")
        yield* run("SET auto_explain.log_buffers = on")
        yield* run("SET auto_explain.log_timing = off")
        // Simple protocol, several lines: the plan and then the statement line, one event.
        const scan = "SELECT *\n  FROM orders\n WHERE note = 'note 4242'"
        yield* run("SET log_min_duration_statement = 0")
        yield* run(scan)
        // Extended protocol, twice: execute lines, their parameters, then their plans.
        const byCustomer = "SELECT id FROM orders WHERE customer = $1 ORDER BY id DESC LIMIT 3"
        yield* run(byCustomer, [17])
        yield* run(byCustomer, [42])
        // Below log_min_duration_statement: auto_explain's entry alone.
        yield* run("SET log_min_duration_statement = -1")
        const alone = "SELECT count(*) FROM orders WHERE customer < 10"
        yield* run(alone)
        yield* run("SET log_min_duration_statement = 0")
        yield* run("SELECT 'end of the slowq e2e workload'")

        const entries = loggedEntries(log, from, db.name)
        const statementsOf = (text: string) => entries.filter((e) => e.head.endsWith(`statement: ${text.split("\n")[0]}`))
        const statementOf = (text: string) => statementsOf(text)[0]!
        const plansOf = (queryText: string) =>
          entries
            .filter((e) => e.head.endsWith("plan:"))
            .map((e) => JSON.parse(e.body.join("\n")) as Record<string, unknown>)
            .filter((plan) => plan["Query Text"] === queryText)
        const executes = entries.filter((e) => e.head.includes("  execute <unnamed>: "))
        expect(executes.length).toBe(2)
        expect(plansOf(scan).length).toBe(1)
        expect(plansOf(byCustomer).length).toBe(2)
        expect(plansOf(alone).length).toBe(1)
        const withoutText = (plan: Record<string, unknown>) => {
          const { "Query Text": _, ...rest } = plan
          return [rest]
        }

        yield* once("pglog_raw")
        yield* once("pglog_normalized")
        const sql = yield* storeClient(store.url)
        const events = (pipelineName: string) =>
          sql.unsafe<{ query_id: string; calls: number; query_time_ms: number; user_host: string; thread_id: string }>(
            `SELECT query_id, calls::int AS calls, query_time_ms, user_host, thread_id::text AS thread_id FROM slowq_events
             WHERE pipeline = $1 AND db = $2 ORDER BY split_part(event_key, ':', 2)::bigint`,
            [pipelineName, db.name]
          )
        const id = (text: string) => fingerprintPostgres(text).queryId
        const pid = String(/\[(\d+)\]/.exec(statementOf(scan).head)![1])
        // In the log's order (the key is the entry's offset): the times have milliseconds only.
        const stored = yield* events("pglog_raw")
        // SET statements are events too; the LOAD and the first SETs ran before log_min_duration_statement was set, the
        // one to -1 is not logged (the setting applies when the statement ends).
        const sets = statementsOf("SET log_min_duration_statement = 0")
        expect(sets.length).toBe(2)
        expect(stored.map((e) => [e.query_id, e.calls, e.query_time_ms, e.user_host, e.thread_id])).toEqual([
          [id("SET log_min_duration_statement = 0"), 1, durationOf(sets[0]!.head), "postgres", pid],
          [id(scan), 1, durationOf(statementOf(scan).head), "postgres", pid],
          [id(byCustomer), 1, durationOf(executes[0]!.head), "postgres", pid],
          [id(byCustomer), 1, durationOf(executes[1]!.head), "postgres", pid],
          [
            id(alone),
            1,
            durationOf(entries.find((e) => e.head.endsWith("plan:") && e.body.join("\n").includes(alone))!.head),
            "postgres",
            pid
          ],
          [id("SET log_min_duration_statement = 0"), 1, durationOf(sets[1]!.head), "postgres", pid],
          [id("SELECT 'end of the slowq e2e workload'"), 1, durationOf(statementOf("SELECT 'end of the slowq e2e workload'").head), "postgres", pid]
        ])
        // The log's literal and pg_stat_statements' $1 are the same query.
        expect(id("SELECT id FROM orders WHERE customer = 17 ORDER BY id DESC LIMIT 3")).toBe(id(byCustomer))
        expect(yield* events("pglog_normalized")).toEqual(stored)

        const plans = (pipelineName: string) =>
          sql.unsafe<{ query_id: string; method: string; plan: unknown }>(
            "SELECT query_id, method, plan FROM slowq_plans WHERE pipeline = $1 AND query_id = ANY($2) ORDER BY query_id",
            [pipelineName, [id(scan), id(byCustomer), id(alone)]]
          )
        const expectedPlans = [
          { query_id: id(scan), method: "logged", plan: withoutText(plansOf(scan)[0]!) },
          // One plan shape, kept once: the latest execution's.
          { query_id: id(byCustomer), method: "logged", plan: withoutText(plansOf(byCustomer)[1]!) },
          { query_id: id(alone), method: "logged", plan: withoutText(plansOf(alone)[0]!) }
        ].sort((a, b) => a.query_id.localeCompare(b.query_id))
        expect(yield* plans("pglog_raw")).toEqual(expectedPlans)
        expect((plansOf(byCustomer)[1]!.Plan as { Plans: Array<Record<string, unknown>> }).Plans[0]).toMatchObject({
          "Node Type": "Index Scan",
          "Scan Direction": "Backward",
          "Index Name": "orders_pkey"
        })
        // The plan rules read the logged plans (their actual rows: no connection needed for table statistics).
        const findings = yield* sql.unsafe<{ rule: string; message: string }>(
          "SELECT rule, message FROM slowq_findings WHERE pipeline = 'pglog_raw' AND query_id = $1 ORDER BY rule",
          [id(scan)]
        )
        expect(findings.filter((f) => f.rule === "pg_seq_scan_filter").map((f) => f.message)).toEqual([
          "Seq Scan on orders reads 20,000 rows to keep 1 (actual) by filter (note = ?::text)"
        ])
        // The raw samples keep the values bound to the execution; the normalized pipeline keeps no literal anywhere.
        const samples = yield* sql.unsafe<{ sql_text: string }>(
          `SELECT s.sql_text FROM slowq_samples s JOIN slowq_events e ON e.pipeline = s.pipeline AND e.event_key = s.event_key
           WHERE s.pipeline = 'pglog_raw' AND e.db = $1 AND s.query_id = ANY($2) AND s.kind = 'first' ORDER BY 1`,
          [db.name, [id(scan), id(byCustomer)]]
        )
        expect(samples.map((s) => s.sql_text)).toEqual([
          scan,
          "SELECT id FROM orders WHERE customer = '17' ORDER BY id DESC LIMIT 3"
        ])
        const normalized = yield* sql.unsafe<{ text: string }>(
          `SELECT string_agg(t, ' ') AS text FROM (
             SELECT sql_text AS t FROM slowq_samples WHERE pipeline = 'pglog_normalized'
             UNION ALL SELECT plan::text FROM slowq_plans WHERE pipeline = 'pglog_normalized'
             UNION ALL SELECT message || evidence::text FROM slowq_findings WHERE pipeline = 'pglog_normalized') x`
        )
        expect(normalized[0]!.text).toContain("customer = ?")
        for (const literal of ["4242", "'17'", "'42'", "end of the slowq"]) expect(normalized[0]!.text).not.toContain(literal)
      }).pipe(Effect.scoped),
    180_000
  )
})
