import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Option } from "effect"
import type { SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import {
  captureLogs,
  eventsOf,
  freePort,
  pgClient,
  readOnce,
  scratchDatabase,
  unprivilegedRole,
  urlFor
} from "./PgTestSupport.js"
import { decodeCheckpoint } from "./Snapshot.js"

// Against the shared local PostgreSQL 15: every test works in a database of its own and reads only it
// (include_databases), so other suites' statements and resets do not matter. Full resets and evictions need a
// cluster of their own: see PgStatStatementsCluster.test.ts.

interface Runner {
  readonly unsafe: (text: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<unknown>, unknown>
}

const run = (sql: Runner, text: string, times: number, params: ReadonlyArray<unknown> = []) =>
  Effect.forEach(Array.from({ length: times }, (_, i) => i), () => sql.unsafe(text, params), { discard: true })

const snapshotAt = (checkpoint: unknown): number => {
  const decoded = decodeCheckpoint(checkpoint)
  if (Either.isLeft(decoded)) throw new Error(decoded.left)
  return decoded.right.atUs
}

const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return yield* Effect.dieMessage("expected a failure")
    return Option.getOrThrow(Cause.failureOption(exit.cause))
  })

/** Calls of the source's text read in a database, as pg_stat_statements counts them. */
const textReads = (sql: Runner, dbid: number) =>
  sql
    .unsafe(
      "SELECT coalesce(sum(calls), 0)::int AS n FROM pg_stat_statements WHERE dbid = $1 AND query LIKE '/* slowq */ SELECT s.dbid, s.queryid::text AS queryid, s.query%'",
      [dbid]
    )
    .pipe(Effect.map((rows) => (rows as ReadonlyArray<{ n: number }>)[0]!.n))

const one = (events: ReadonlyArray<SlowQueryEvent>, fragment: string) => {
  const found = eventsOf(events, fragment)
  expect(found.length, `events for ${fragment}`).toBe(1)
  return found[0]!
}

describe("postgres_pg_stat_statements on the local PostgreSQL", () => {
  it.live(
    "a runs, collect, b runs, collect: the second interval has exactly b calls; a scoped reset then c runs: c, never negative",
    () =>
      Effect.gen(function* () {
        const db = yield* scratchDatabase()
        yield* db.sql.unsafe("CREATE TABLE pgss_t (id int PRIMARY KEY, v text)")
        yield* db.sql.unsafe("INSERT INTO pgss_t SELECT g, 'v' || g FROM generate_series(1, 10) g")
        const statement = "SELECT v FROM pgss_t WHERE id = $1"
        const config = { url: db.url, include_databases: [db.name] }

        yield* run(db.sql, statement, 3, [1])
        const first = yield* readOnce(config)
        expect(first.batches).toBe(1)
        const baseline = one(first.events, "FROM pgss_t WHERE id")
        expect(baseline.calls).toBe(3)
        expect(baseline.rowsSent).toBe(3)
        expect(baseline.attributes.baseline).toBe(true)
        expect(baseline.attributes.origin).toBe("baseline")
        expect(baseline.db).toBe(db.name)
        expect(baseline.user).toBe("postgres")
        expect(baseline.sqlText).toBe(statement)
        expect(baseline.attributes.toplevel).toBe(true)
        expect(baseline.attributes.dbid).toBe(db.oid)

        yield* run(db.sql, statement, 2, [2])
        const second = yield* readOnce(config, Option.some(first.checkpoint))
        const interval = one(second.events, "FROM pgss_t WHERE id")
        expect(interval.calls).toBe(2)
        expect(interval.rowsSent).toBe(2)
        expect(interval.attributes.baseline).toBe(false)
        expect(interval.attributes.origin).toBe("delta")
        expect(interval.intervalStartUs).toBe(baseline.startTimeUs)
        expect(interval.startTimeUs).toBeGreaterThan(baseline.startTimeUs)
        expect(interval.key).not.toBe(baseline.key)
        expect(interval.queryTimeMs).toBeGreaterThan(0)
        expect(interval.metrics.shared_blks_hit).toBeGreaterThanOrEqual(2)
        expect(interval.metrics.max_exec_time_ms_since_reset).toBeGreaterThan(0)
        expect(baseline.calls + interval.calls).toBe(5)

        // A poll with no run of the statement: nothing for it.
        const idle = yield* readOnce(config, Option.some(second.checkpoint))
        expect(eventsOf(idle.events, "FROM pgss_t WHERE id")).toEqual([])

        // pg_stat_statements_reset scoped to this database's entry of the statement (a full reset would hit the
        // other suites sharing the server). c = 4 < a + b: the counter went down, so the entry starts afresh.
        const [entry] = yield* db.sql.unsafe<{ queryid: string }>(
          "SELECT queryid::text AS queryid FROM pg_stat_statements WHERE dbid = $1 AND query = $2",
          [db.oid, statement]
        )
        yield* db.sql.unsafe("SELECT pg_stat_statements_reset(0, $1, $2::bigint)", [db.oid, entry!.queryid])
        yield* run(db.sql, statement, 4, [3])
        const third = yield* readOnce(config, Option.some(idle.checkpoint))
        const afterReset = one(third.events, "FROM pgss_t WHERE id")
        expect(afterReset.calls).toBe(4)
        expect(afterReset.rowsSent).toBe(4)
        expect(afterReset.attributes.origin).toBe("restarted")
        expect(afterReset.intervalStartUs).toBe(snapshotAt(idle.checkpoint))
        expect(baseline.calls + interval.calls + afterReset.calls).toBe(9)
        for (const event of [...first.events, ...second.events, ...idle.events, ...third.events]) {
          expect(event.calls).toBeGreaterThan(0)
          expect(event.queryTimeMs).toBeGreaterThanOrEqual(0)
          for (const value of Object.values(event.metrics)) expect(value).toBeGreaterThanOrEqual(0)
        }
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "leaves its own statements out and reads texts only for statements whose text the checkpoint lacks",
    () =>
      Effect.gen(function* () {
        const db = yield* scratchDatabase()
        const statement = "SELECT $1::int + 1 AS next_value"
        const config = { url: db.url, include_databases: [db.name] }
        yield* run(db.sql, statement, 2, [1])
        const reads0 = yield* textReads(db.sql, db.oid)
        const first = yield* readOnce(config)
        const reads1 = yield* textReads(db.sql, db.oid)
        // The first poll reads the texts of everything; the second those of the statements the first one ran.
        expect(reads1 - reads0).toBe(1)
        const second = yield* readOnce(config, Option.some(first.checkpoint))
        const reads2 = yield* textReads(db.sql, db.oid)
        yield* run(db.sql, statement, 3, [2])
        const third = yield* readOnce(config, Option.some(second.checkpoint))
        const reads3 = yield* textReads(db.sql, db.oid)
        // Every statement active in the third interval had its text in the checkpoint: no text read at all.
        expect(reads3 - reads2).toBe(0)
        const cached = one(third.events, "next_value")
        expect(cached.calls).toBe(3)
        expect(cached.sqlText).toBe("SELECT $1::int + $2 AS next_value")

        // Without a text cache the checkpoint keeps no text, so every poll with activity reads texts.
        yield* run(db.sql, statement, 1, [3])
        const fourth = yield* readOnce({ ...config, text_cache_bytes: 0 }, Option.some(third.checkpoint))
        expect(decodeCheckpoint(fourth.checkpoint).pipe(Either.map((s) => s.texts.size))).toEqual(Either.right(0))
        const reads4 = yield* textReads(db.sql, db.oid)
        yield* run(db.sql, statement, 1, [4])
        const fifth = yield* readOnce({ ...config, text_cache_bytes: 0 }, Option.some(fourth.checkpoint))
        const reads5 = yield* textReads(db.sql, db.oid)
        expect(reads5 - reads4).toBe(1)
        expect(one(fifth.events, "next_value").calls).toBe(1)

        // slowq's statements are in pg_stat_statements, and in no event.
        const own = yield* db.sql.unsafe<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_statements WHERE dbid = $1 AND query LIKE '/* slowq */%' AND calls > 0",
          [db.oid]
        )
        expect(own[0]!.n).toBeGreaterThanOrEqual(5)
        const all = [...first.events, ...second.events, ...third.events, ...fourth.events, ...fifth.events]
        expect(all.filter((event) => event.sqlText.includes("/* slowq */"))).toEqual([])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "filters apply to the interval's delta, and filtered-out statements stay in the snapshot",
    () =>
      Effect.gen(function* () {
        const db = yield* scratchDatabase()
        yield* db.sql.unsafe("CREATE TABLE pgss_f (id int PRIMARY KEY, v text)")
        const a = "SELECT v FROM pgss_f WHERE id = $1"
        const b = "SELECT count(*) FROM pgss_f WHERE v = $1"
        const c = "SELECT pg_sleep($1::float8) AS slept"
        const config = { url: db.url, include_databases: [db.name] }
        const texts = (events: ReadonlyArray<SlowQueryEvent>) =>
          events.map((event) => `${event.sqlText} x${event.calls}`).sort()
        const baseline = yield* readOnce(config)

        yield* run(db.sql, a, 2, [1])
        yield* run(db.sql, b, 5, ["x"])
        yield* run(db.sql, c, 2, [0.03])
        const second = yield* readOnce({ ...config, min_calls: 3 }, Option.some(baseline.checkpoint))
        expect(texts(second.events)).toEqual([`${b} x5`])

        // a was filtered out, but its values were kept: one more run is one call, not three.
        yield* run(db.sql, a, 1, [2])
        const third = yield* readOnce(config, Option.some(second.checkpoint))
        expect(texts(third.events)).toEqual([`${a} x1`])

        yield* run(db.sql, a, 2, [3])
        yield* run(db.sql, c, 2, [0.03])
        const fourth = yield* readOnce({ ...config, min_mean_ms: 20 }, Option.some(third.checkpoint))
        expect(texts(fourth.events)).toEqual([`${c} x2`])
        expect(one(fourth.events, "pg_sleep").queryTimeMs).toBeGreaterThanOrEqual(60)

        yield* run(db.sql, a, 3, [4])
        yield* run(db.sql, c, 1, [0.03])
        const fifth = yield* readOnce({ ...config, top_n: 1 }, Option.some(fourth.checkpoint))
        expect(texts(fifth.events)).toEqual([`${c} x1`])

        yield* db.sql.unsafe("ANALYZE pgss_f")
        yield* db.sql.unsafe("ANALYZE pgss_f")
        yield* run(db.sql, a, 1, [5])
        const withoutUtility = yield* readOnce({ ...config, include_utility: false }, Option.some(fifth.checkpoint))
        expect(texts(withoutUtility.events)).toEqual([`${a} x1`])
        const withUtility = yield* readOnce(config, Option.some(fifth.checkpoint))
        expect(texts(withUtility.events)).toEqual([`${a} x1`, "ANALYZE pgss_f x2"].sort())
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "nested statements only with include_nested; turning it on later brings them in as a baseline, then as deltas",
    () =>
      Effect.gen(function* () {
        const db = yield* scratchDatabase()
        const [track] = yield* db.sql.unsafe<{ track: string }>("SELECT current_setting('pg_stat_statements.track') AS track")
        expect(track!.track, ".ci/prepare-services sets pg_stat_statements.track = all").toBe("all")
        yield* db.sql.unsafe("CREATE TABLE pgss_n (id int)")
        yield* db.sql.unsafe(
          "CREATE FUNCTION pgss_nested() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT count(*) FROM pgss_n WHERE id > 0); END $$"
        )
        const config = { url: db.url, include_databases: [db.name] }
        const baseline = yield* readOnce(config)
        yield* run(db.sql, "SELECT pgss_nested()", 2)
        const second = yield* readOnce(config, Option.some(baseline.checkpoint))
        expect(one(second.events, "pgss_nested()").calls).toBe(2)
        expect(second.events.filter((event) => event.attributes.toplevel === false)).toEqual([])

        yield* run(db.sql, "SELECT pgss_nested()", 1)
        const third = yield* readOnce({ ...config, include_nested: true }, Option.some(second.checkpoint))
        const nested = one(third.events, "FROM pgss_n WHERE")
        expect(nested.sqlText).toBe("(SELECT count(*) FROM pgss_n WHERE id > $1)")
        expect(nested.attributes.toplevel).toBe(false)
        expect(nested.attributes.baseline).toBe(true)
        expect(nested.calls).toBe(3)
        const top = one(third.events, "pgss_nested()")
        expect([top.calls, top.attributes.origin]).toEqual([1, "delta"])

        yield* run(db.sql, "SELECT pgss_nested()", 1)
        const fourth = yield* readOnce({ ...config, include_nested: true }, Option.some(third.checkpoint))
        const again = one(fourth.events, "FROM pgss_n WHERE")
        expect([again.calls, again.attributes.origin, again.attributes.baseline]).toEqual([1, "delta", false])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a role without pg_read_all_stats: a warning naming the role to grant, its own statements still collected",
    () =>
      Effect.gen(function* () {
        const db = yield* scratchDatabase()
        const role = yield* unprivilegedRole()
        const asRole = yield* pgClient(urlFor(db.url, db.name, role))
        yield* run(asRole, "SELECT $1::text || 'x' AS mine", 2, ["a"])
        const hiddenCount = db.sql.unsafe<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE s.dbid = $1 AND s.toplevel AND r.rolname <> $2",
          [db.oid, role]
        )
        yield* hiddenCount
        const [hidden] = yield* hiddenCount
        const [result, logs] = yield* captureLogs(readOnce({ url: urlFor(db.url, db.name, role), include_databases: [db.name] }))
        const warnings = logs.filter((line) => line.level === "WARN").map((line) => line.message)
        expect(warnings).toEqual([
          `pg_stat_statements hides ${hidden!.n} entries of other users from role '${role}' (queryid and text show as NULL / <insufficient privilege>); they are not collected. Grant the role pg_read_all_stats: GRANT pg_read_all_stats TO "${role}";`
        ])
        const mine = one(result.events, "AS mine")
        expect([mine.calls, mine.user]).toEqual([2, role])
        expect(result.events.map((event) => event.user)).toEqual(result.events.map(() => role))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "clear errors: extension missing, function revoked, no such database, server down, a checkpoint it did not write",
    () =>
      Effect.gen(function* () {
        const bare = yield* scratchDatabase({ extension: false })
        const missing = yield* failureOf(readOnce({ url: bare.url }))
        expect(missing._tag).toBe("SourceError")
        expect([missing.operation, missing.message]).toEqual([
          "connect",
          `pg_stat_statements is not installed in database '${bare.name}' on PostgreSQL at 127.0.0.1:5432: run CREATE EXTENSION pg_stat_statements; in that database (its statistics cover every database of the server, so one is enough), or point source.url at a database where it is installed.`
        ])

        const db = yield* scratchDatabase()
        const role = yield* unprivilegedRole()
        yield* db.sql.unsafe("REVOKE EXECUTE ON FUNCTION pg_stat_statements(boolean) FROM PUBLIC")
        const denied = yield* failureOf(readOnce({ url: urlFor(db.url, db.name, role) }))
        expect([denied.operation, denied.message]).toEqual([
          "poll",
          `user '${role}' may not read pg_stat_statements in database '${db.name}' on PostgreSQL at 127.0.0.1:5432 (permission denied for function pg_stat_statements). Grant it, e.g. GRANT pg_read_all_stats TO "${role}"; and, if EXECUTE was revoked, GRANT EXECUTE ON FUNCTION "public".pg_stat_statements(boolean) TO "${role}";`
        ])

        // CONNECT revoked from PUBLIC: refused at login.
        const closed = yield* scratchDatabase()
        yield* closed.sql.unsafe(`REVOKE CONNECT ON DATABASE ${closed.name} FROM PUBLIC`)
        const refused = yield* failureOf(readOnce({ url: urlFor(closed.url, closed.name, role) }))
        expect([refused.operation, refused.message]).toEqual([
          "connect",
          `user '${role}' may not connect to database '${closed.name}' on PostgreSQL at 127.0.0.1:5432: GRANT CONNECT ON DATABASE "${closed.name}" TO "${role}";`
        ])

        const noDatabase = yield* failureOf(readOnce({ url: urlFor(db.url, "slowq_pgss_no_such_db") }))
        expect([noDatabase.operation, noDatabase.message]).toEqual([
          "connect",
          "PostgreSQL at 127.0.0.1:5432 has no database 'slowq_pgss_no_such_db': fix the database in source.url (one where CREATE EXTENSION pg_stat_statements was run)."
        ])

        const port = yield* freePort
        const down = yield* failureOf(readOnce({ url: `postgres://postgres@127.0.0.1:${port}/postgres` }))
        expect([down.operation, down.message]).toEqual([
          "connect",
          `cannot connect to PostgreSQL at 127.0.0.1:${port}: connection refused. Check that the server is running and that the host and port in source.url are right.`
        ])

        const foreign = yield* failureOf(readOnce({ url: db.url }, Option.some({ endUs: 5 })))
        expect(foreign.operation).toBe("decode")
        expect(foreign.message).toMatch(
          /^the stored checkpoint is not a pg_stat_statements snapshot this source wrote \(.+\); reset the pipeline's checkpoint to start again from a baseline$/s
        )
      }).pipe(Effect.scoped),
    60_000
  )
})
