import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import type { SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { captureLogs, eventsOf, pgClient, readOnce, scratchDatabase, throwawayCluster } from "./PgTestSupport.js"

// What must not happen on the shared server: a full pg_stat_statements_reset(), a pg_stat_statements.max of 100,
// a server without the library preloaded. One cluster of our own, started and deleted by this file.

interface Runner {
  readonly unsafe: (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, unknown>
}

const run = (sql: Runner, text: string, times: number, params: ReadonlyArray<unknown> = []) =>
  Effect.forEach(Array.from({ length: times }, (_, i) => i), () => sql.unsafe(text, params), { discard: true })

const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return yield* Effect.dieMessage("expected a failure")
    return Option.getOrThrow(Cause.failureOption(exit.cause))
  })

const calls = (events: ReadonlyArray<SlowQueryEvent>, fragment: string) => {
  const found = eventsOf(events, fragment)
  return found.map((event) => [event.calls, event.attributes.origin])
}

const STATEMENT = "SELECT count(*) FROM pgss_x WHERE a = $1"
const OPS = ["=", "<", ">", "<=", ">=", "<>"]

/** Distinct statement shapes (a table, an operator, an IN list length) until the statement's entry is evicted. */
const evict = (sql: Runner) =>
  Effect.gen(function* () {
    for (let round = 0; round < 10; round++) {
      const statements: Array<string> = []
      for (const op of OPS) {
        for (let length = 1; length <= 40; length++) {
          const list = Array.from({ length }, (_, i) => i).join(", ")
          statements.push(`SELECT a FROM pgss_flood_${round} WHERE a IN (${list}) AND a ${op} 0`)
        }
      }
      yield* sql.unsafe(statements.join(";\n"))
      const [left] = (yield* sql.unsafe(
        "SELECT count(*)::int AS n FROM pg_stat_statements WHERE query = $1",
        [STATEMENT]
      )) as ReadonlyArray<{ n: number }>
      if (left!.n === 0) return round
    }
    return yield* Effect.dieMessage("the statement was never evicted")
  })

describe("postgres_pg_stat_statements on a throwaway cluster", () => {
  it.live(
    "not preloaded: a clear error; full reset: no negative delta; eviction: no double count; another server: a new baseline",
    () =>
      Effect.gen(function* () {
        const cluster = yield* throwawayCluster({})
        const admin = yield* pgClient(cluster.url())
        yield* admin.unsafe("CREATE EXTENSION pg_stat_statements")
        yield* admin.unsafe("CREATE DATABASE bare")
        const notLoaded = yield* failureOf(readOnce({ url: cluster.url() }))
        expect([notLoaded.operation, notLoaded.message]).toEqual([
          "connect",
          `pg_stat_statements is installed in database 'postgres' but not loaded on PostgreSQL at 127.0.0.1:${cluster.port}: add it to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed) and restart the server.`
        ])
        const neither = yield* failureOf(readOnce({ url: cluster.url("bare") }))
        expect([neither.operation, neither.message]).toEqual([
          "connect",
          `pg_stat_statements is neither loaded on PostgreSQL at 127.0.0.1:${cluster.port} nor installed in database 'bare': add it to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed), restart the server, then run CREATE EXTENSION pg_stat_statements; in database 'bare'.`
        ])

        yield* cluster.restart({ shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.max": "100" })
        const sql = yield* pgClient(cluster.url())
        yield* sql.unsafe("CREATE TABLE pgss_x (a int)")
        for (let round = 0; round < 10; round++) yield* sql.unsafe(`CREATE TABLE pgss_flood_${round} (a int)`)
        const config = { url: cluster.url(), include_databases: ["postgres"] }

        // Full reset between two collections, then c = 7 > a + b runs: only stats_reset tells it, and it does.
        yield* run(sql, STATEMENT, 3, [1])
        const first = yield* readOnce(config)
        expect(calls(first.events, "FROM pgss_x")).toEqual([[3, "baseline"]])
        yield* run(sql, STATEMENT, 2, [1])
        const second = yield* readOnce(config, Option.some(first.checkpoint))
        expect(calls(second.events, "FROM pgss_x")).toEqual([[2, "delta"]])
        yield* sql.unsafe("SELECT pg_stat_statements_reset()")
        yield* run(sql, STATEMENT, 7, [1])
        const [third, resetLogs] = yield* captureLogs(readOnce(config, Option.some(second.checkpoint)))
        expect(calls(third.events, "FROM pgss_x")).toEqual([[7, "restarted"]])
        expect(resetLogs.map((line) => line.message)).toContain(
          "pg_stat_statements was reset since the previous poll; every entry starts afresh"
        )
        for (const event of third.events) expect(event.attributes.origin).not.toBe("delta")

        // Eviction with a poll while the entry is gone: it comes back new, with only the calls since.
        yield* run(sql, STATEMENT, 2, [1])
        const fourth = yield* readOnce(config, Option.some(third.checkpoint))
        expect(calls(fourth.events, "FROM pgss_x")).toEqual([[2, "delta"]])
        yield* evict(sql)
        const [fifth, evictionLogs] = yield* captureLogs(readOnce(config, Option.some(fourth.checkpoint)))
        expect(calls(fifth.events, "FROM pgss_x")).toEqual([])
        const capacity = evictionLogs.filter((line) => line.level === "WARN").map((line) => line.message)
        expect(capacity.length).toBe(1)
        const figures = /^pg_stat_statements evicted entries (\d+) times since the previous poll \(dealloc (\d+) → (\d+), pg_stat_statements\.max = 100, (\d+) entries read\): statements evicted between two polls lose what they ran since the previous poll\. Raise pg_stat_statements\.max \(needs a restart\) or poll more often\.$/.exec(
          capacity[0]!
        )
        expect(figures).not.toBeNull()
        const [, times, from, to] = figures!.map(Number)
        expect(to! - from!).toBe(times)
        expect(times).toBeGreaterThan(0)
        yield* run(sql, STATEMENT, 3, [1])
        const sixth = yield* readOnce(config, Option.some(fifth.checkpoint))
        expect(calls(sixth.events, "FROM pgss_x")).toEqual([[3, "new"]])

        // Eviction and readmission within one interval, fewer calls than before: the counter went down.
        yield* run(sql, STATEMENT, 4, [1])
        const seventh = yield* readOnce(config, Option.some(sixth.checkpoint))
        expect(calls(seventh.events, "FROM pgss_x")).toEqual([[4, "delta"]])
        yield* evict(sql)
        yield* run(sql, STATEMENT, 2, [1])
        const eighth = yield* readOnce(config, Option.some(seventh.checkpoint))
        expect(calls(eighth.events, "FROM pgss_x")).toEqual([[2, "restarted"]])

        const everything = [first, second, third, fourth, fifth, sixth, seventh, eighth].flatMap((poll) =>
          eventsOf(poll.events, "FROM pgss_x")
        )
        expect(everything.reduce((sum, event) => sum + event.calls, 0)).toBe(3 + 2 + 7 + 2 + 3 + 4 + 2)
        for (const poll of [first, second, third, fourth, fifth, sixth, seventh, eighth]) {
          for (const event of poll.events) {
            expect(event.calls).toBeGreaterThan(0)
            expect(event.queryTimeMs).toBeGreaterThanOrEqual(0)
            for (const value of Object.values(event.metrics)) expect(value).toBeGreaterThanOrEqual(0)
          }
        }

        // A checkpoint written against the shared server, read against this one (as after a failover): a baseline.
        const other = yield* scratchDatabase()
        const elsewhere = yield* readOnce({ url: other.url, include_databases: [other.name] })
        const systems = (yield* sql.unsafe("SELECT system_identifier::text AS id FROM pg_control_system()")) as ReadonlyArray<{
          id: string
        }>
        yield* run(sql, STATEMENT, 1, [1])
        const [failover, failoverLogs] = yield* captureLogs(readOnce(config, Option.some(elsewhere.checkpoint)))
        expect(failover.events.length).toBeGreaterThan(0)
        expect(failover.events.every((event) => event.attributes.baseline === true)).toBe(true)
        expect(calls(failover.events, "FROM pgss_x")).toEqual([[3, "baseline"]])
        const previousSystem = (elsewhere.checkpoint as { system: string }).system
        expect(failoverLogs.filter((line) => line.level === "WARN").map((line) => line.message)).toContain(
          `the server behind source.url is not the one of the previous poll (system identifier ${previousSystem} → ${systems[0]!.id}, e.g. after a failover); this poll is stored as a new baseline, never differenced against the old server`
        )
      }).pipe(Effect.scoped),
    120_000
  )
})
