import { randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { fingerprintMysqlWithId } from "../../src/fingerprint/MysqlFingerprint.js"
import { runCommand } from "../../test/support/Process.js"
import { mariadbSchema, mixWorkload, postgresSchema } from "../../test/support/explain/WebShopMix.js"
import {
  contextFor,
  eventOf,
  fingerprintOf,
  mariadbDatabase,
  memoryIn,
  outcomeOf,
  pgDatabase,
  runMariadbCli,
  withStage
} from "../../test/support/explain/Harness.js"

/**
 * The share of collected statements that get a plan in a realistic mix, per method and per refusal reason, counted
 * over executed statements and over distinct queries. The workload is seeded, so the figures are exact and pinned;
 * the test prints the table it measured.
 */

const share = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`

const report = (title: string, byStatements: ReadonlyMap<string, number>, byQueries: ReadonlyMap<string, number>) => {
  const statements = [...byStatements.values()].reduce((a, b) => a + b, 0)
  const queries = [...byQueries.values()].reduce((a, b) => a + b, 0)
  const keys = [...new Set([...byStatements.keys(), ...byQueries.keys()])].sort()
  const lines = keys.map((key) => {
    const s = byStatements.get(key) ?? 0
    const q = byQueries.get(key) ?? 0
    return `  ${key.padEnd(60)} ${String(s).padStart(6)} ${share(s, statements).padStart(7)}   ${String(q).padStart(4)} ${share(q, queries).padStart(7)}`
  })
  const planned = (m: ReadonlyMap<string, number>) => [...m.entries()].filter(([k]) => k.startsWith("plan")).reduce((a, [, v]) => a + v, 0)
  return [
    `${title}: ${statements} statements, ${queries} distinct queries`,
    `  ${"outcome".padEnd(60)} ${"stmts".padStart(6)} ${"share".padStart(7)}   ${"qry".padStart(4)} ${"share".padStart(7)}`,
    ...lines,
    `  ${"with a plan".padEnd(60)} ${String(planned(byStatements)).padStart(6)} ${share(planned(byStatements), statements).padStart(7)}   ${String(planned(byQueries)).padStart(4)} ${share(planned(byQueries), queries).padStart(7)}`
  ].join("\n")
}

/** Outcome counts weighted by executions (`calls`) and by distinct query ids. */
const measure = (events: ReadonlyArray<CollectedEvent>) => {
  const byStatements = new Map<string, number>()
  const byQueries = new Map<string, number>()
  const seen = new Set<string>()
  for (const event of events) {
    const outcome = outcomeOf(event)
    const key =
      outcome === undefined
        ? "none"
        : outcome._tag === "Plan"
          ? `plan ${outcome.method}`
          : `${outcome._tag === "Skipped" ? "skipped" : "failed"} ${outcome.reason}`.slice(0, 60)
    byStatements.set(key, (byStatements.get(key) ?? 0) + event.event.calls)
    if (!seen.has(event.fingerprint!.queryId)) {
      seen.add(event.fingerprint!.queryId)
      byQueries.set(key, (byQueries.get(key) ?? 0) + 1)
    }
  }
  return { byStatements, byQueries }
}

describe("share of collected statements that get a plan", () => {
  it.live(
    "MariaDB: a web shop's statements as mysql.slow_log collected them",
    () =>
      Effect.gen(function* () {
        const db = yield* mariadbDatabase(mariadbSchema)
        const marker = `mix_${randomBytes(4).toString("hex")}`
        const statements = mixWorkload("mysql", marker, 300)
        yield* runMariadbCli(`USE ${db.name};\n${statements.map((s) => `${s};`).join("\n")}\n`)
        const rows = yield* db.sql.unsafe<{ sql_text: string; db: string; query_us: number }>(
          `SELECT sql_text, db, CAST(TIME_TO_SEC(query_time) * 1000000 AS UNSIGNED) AS query_us FROM mysql.slow_log
           WHERE sql_text LIKE ? AND sql_text NOT LIKE '%mysql.slow_log%'`,
          [`%${marker}%`]
        )
        expect(rows.length).toBe(statements.length)
        const events = rows.map((row) => {
          const { fingerprint, queryId } = fingerprintMysqlWithId(row.sql_text)
          return eventOf(row.sql_text, { db: row.db, queryTimeMs: Number(row.query_us) / 1000, fingerprint: { fingerprint, queryId } })
        })
        const processed = yield* withStage(
          { type: "explain", max_per_run: 10_000 },
          contextFor("mysql", db.url, memoryIn(new Map())),
          (stage) => stage.process(events)
        )
        const { byStatements, byQueries } = measure(processed.events)
        console.log(report("MariaDB 10.11, mysql.slow_log", byStatements, byQueries))
        expect(Object.fromEntries(byQueries)).toEqual({
          "plan direct": 12,
          "plan rewritten": 6,
          "skipped analyze": 1,
          "skipped not explainable: COMMIT": 1,
          "skipped not explainable: INSERT … VALUES has no query to pla": 3,
          "skipped not explainable: OPTIMIZE": 1,
          "skipped not explainable: SET": 1,
          "skipped not explainable: SHOW": 1,
          "skipped not explainable: START": 1
        })
        expect(Object.fromEntries(byStatements)).toEqual({
          "plan direct": 1193,
          "plan rewritten": 185,
          "skipped analyze": 1,
          "skipped not explainable: COMMIT": 59,
          "skipped not explainable: INSERT … VALUES has no query to pla": 151,
          "skipped not explainable: OPTIMIZE": 1,
          "skipped not explainable: SET": 60,
          "skipped not explainable: SHOW": 12,
          "skipped not explainable: START": 59
        })
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "PostgreSQL: pgbench's TPC-B and a web shop's statements as pg_stat_statements collected them",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(postgresSchema)
        yield* runCommand("pgbench", ["-i", "-s", "1", "-q", db.url])
        // Only the workload counts, not the setup.
        yield* db.sql.unsafe(
          "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
        yield* runCommand("pgbench", ["-n", "-t", "300", "-c", "1", db.url])
        const marker = `mix_${randomBytes(4).toString("hex")}`
        yield* runCommand("psql", ["-q", "-X", db.url], `${mixWorkload("postgres", marker, 300).map((s) => `${s};`).join("\n")}\n`)
        const rows = yield* db.sql.unsafe<{ query: string; queryid: string; calls: string; total_ms: number }>(
          `SELECT query, queryid::text AS queryid, calls::text AS calls, total_exec_time AS total_ms FROM pg_stat_statements
           WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND query NOT LIKE '%pg_stat_statements%'`
        )
        const events: ReadonlyArray<CollectedEvent> = rows.map((row, i) => ({
          event: makeEvent({
            key: `pgss${i}`,
            startTimeUs: 1_700_000_000_000_000,
            calls: Number(row.calls),
            queryTimeMs: row.total_ms,
            sqlText: row.query,
            db: db.name
          }),
          fingerprint: fingerprintOf(row.query, { queryId: row.queryid })
        }))
        const processed = yield* withStage(
          { type: "explain", max_per_run: 10_000 },
          contextFor("postgres", db.url, memoryIn(new Map())),
          (stage) => stage.process(events)
        )
        const { byStatements, byQueries } = measure(processed.events)
        console.log(report("PostgreSQL 15, pg_stat_statements", byStatements, byQueries))
        expect(Object.fromEntries(byQueries)).toEqual({
          "plan direct": 3,
          "plan prepared_generic": 25,
          "skipped analyze": 1,
          "skipped not explainable: BEGIN": 2,
          "skipped not explainable: COMMIT": 1,
          "skipped not explainable: END": 1,
          "skipped not explainable: SET": 1,
          "skipped not explainable: SHOW": 1,
          "skipped not explainable: VACUUM": 1
        })
        expect(Object.fromEntries(byStatements)).toEqual({
          "plan direct": 14,
          "plan prepared_generic": 2999,
          "skipped analyze": 1,
          "skipped not explainable: BEGIN": 359,
          "skipped not explainable: COMMIT": 59,
          "skipped not explainable: END": 300,
          "skipped not explainable: SET": 60,
          "skipped not explainable: SHOW": 30,
          "skipped not explainable: VACUUM": 1
        })
      }).pipe(Effect.scoped),
    120_000
  )
})
