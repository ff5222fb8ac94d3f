import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { startCli, waitForExit, waitForLog } from "../support/Cli.js"
import { newMarker } from "../support/Marker.js"
import { runMariadb, truncateSlowLog } from "../support/Mariadb.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { killWhileWorking } from "../support/KillLoop.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"

// Distinct fingerprints (the alias is an identifier, so each statement is its own query), each EXPLAINed once: the
// explain stage then has real work in every batch, which widens the moment between explaining and storing.
const QUERIES = 1_500
const KILLS = 5

/** `i` in letters: pt-query-digest's fingerprint turns digits inside identifiers into `?`. */
const letters = (i: number): string => {
  let out = ""
  do {
    out = String.fromCharCode(97 + (i % 26)) + out
    i = Math.floor(i / 26)
  } while (i > 0)
  return out
}

const pipeline = (name: string) =>
  [
    `name: ${name}`,
    "schedule:",
    "  every: 1s",
    "source:",
    "  type: mysql_slow_log_table",
    "  url: mysql://root@127.0.0.1:3306/test",
    "  batch_size: 100",
    "stages:",
    "  - type: explain",
    `    max_per_run: ${QUERIES * 2}`,
    ""
  ].join("\n")

describe("crash safety with the explain stage", () => {
  it.live(
    "SIGKILL at random moments: the explain stage's memory never says explained for a query whose outcome is not stored, and every query ends explained",
    () =>
      Effect.gen(function* () {
        const marker = newMarker("xcrash")
        const table = `${marker}_t`
        yield* truncateSlowLog
        yield* runMariadb(
          `CREATE TABLE ${table} (id INT PRIMARY KEY, a INT);\n` +
            Array.from({ length: QUERIES }, (_, i) => `SELECT /* ${marker} */ a AS c_${letters(i)} FROM ${table} WHERE id = ${i};`).join(
              "\n"
            )
        )

        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "xcrash.yaml": pipeline("xcrash_lab") })
        const env = { SLOWQ_STORE_URL: store.url }
        const sql = yield* storeClient(store.url)

        // Queries of the marker stored, and of those, the ones with a stored explain outcome.
        const progress = sql
          .unsafe<{ queries: string; explained: string }>(
            `SELECT count(*)::text AS queries, count(e.query_id)::text AS explained
             FROM slowq_queries q LEFT JOIN slowq_explains e USING (pipeline, query_id)
             WHERE q.pipeline = 'xcrash_lab' AND q.fingerprint LIKE $1 AND q.statement_type = 'select'`,
            [`%${marker}%`]
          )
          .pipe(
            Effect.map((rows) => ({ queries: Number(rows[0]!.queries), explained: Number(rows[0]!.explained) })),
            Effect.orElseSucceed(() => ({ queries: 0, explained: 0 }))
          )
        // "Remembered but missing": memory says the query was explained (plan or failure) while the store has no
        // outcome of it, or has another plan than the one remembered. The query would not be explained again.
        const rememberedButMissing = sql.unsafe<{ key: string }>(
          `SELECT m.key FROM slowq_stage_memory m
           LEFT JOIN slowq_explains e ON e.pipeline = m.pipeline AND 'query:' || e.query_id = m.key
           WHERE m.pipeline = 'xcrash_lab' AND m.stage = 'explain'
             AND (e.query_id IS NULL OR e.status <> m.value->>'status' OR e.plan_hash IS DISTINCT FROM m.value->>'hash')
           ORDER BY m.key`
        )

        const killedAt = yield* killWhileWorking({
          dir,
          env,
          kills: KILLS,
          maxExtraMs: 500,
          progress,
          moved: (before, now) => now.queries > before.queries || now.queries >= QUERIES,
          afterKill: () =>
            Effect.gen(function* () {
              expect(yield* rememberedButMissing).toEqual([])
              expect(yield* totalsMismatches(sql)).toEqual([])
            })
        })

        const daemon = startCli(["run", "--pipelines", dir], env)
        const exited = yield* Effect.fork(waitForExit(daemon))
        yield* waitForLog(daemon, "slowq is running").pipe(Effect.timeout("60 seconds"))
        yield* eventually(
          "every query stored and explained",
          progress.pipe(Effect.map((now) => now.queries >= QUERIES && now.explained >= QUERIES)),
          "180 seconds"
        )
        daemon.kill("SIGTERM")
        const final = yield* Fiber.join(exited)
        expect({ code: final.code, signal: final.signal }).toEqual({ code: 0, signal: null })

        expect(yield* progress).toEqual({ queries: QUERIES, explained: QUERIES })
        expect(yield* rememberedButMissing).toEqual([])
        expect(yield* totalsMismatches(sql)).toEqual([])
        // Each query was stored once and has a plan (the scratch table exists, so every EXPLAIN succeeds).
        const outcomes = yield* sql.unsafe<{ status: string; queries: string; events: string }>(
          `SELECT e.status, count(*)::text AS queries, sum(q.events)::text AS events
           FROM slowq_queries q JOIN slowq_explains e USING (pipeline, query_id)
           WHERE q.pipeline = 'xcrash_lab' AND q.fingerprint LIKE $1 AND q.statement_type = 'select' GROUP BY e.status`,
          [`%${marker}%`]
        )
        expect(outcomes).toEqual([{ status: "plan", queries: String(QUERIES), events: String(QUERIES) }])
        // At least one kill must have landed while queries were being stored and explained.
        expect(killedAt.some((at) => at.queries > 0 && at.queries < QUERIES)).toBe(true)
        yield* runMariadb(`DROP TABLE ${table}`)
        yield* truncateSlowLog
      }).pipe(Effect.scoped),
    300_000
  )
})
