import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { startCli, waitForExit, waitForLog } from "../support/Cli.js"
import { newMarker } from "../support/Marker.js"
import { markedStatements, runMariadb, slowLogDigest, truncateSlowLog } from "../support/Mariadb.js"
import { mariadbPipeline, pipelinesDir } from "../support/Pipelines.js"
import { killWhileWorking } from "../support/KillLoop.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"

const ROWS = 100_000
const KILLS = 6

describe("crash safety", () => {
  it.live(
    "SIGKILL at random moments while storing 100k slow_log rows: after restarts every row is stored exactly once",
    () =>
      Effect.gen(function* () {
        const marker = newMarker("crash")
        yield* truncateSlowLog
        yield* runMariadb(markedStatements(marker, ROWS))
        const expected = yield* slowLogDigest(marker)
        expect(expected.count).toBe(ROWS)

        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "crash.yaml": mariadbPipeline("crash_lab", { every: "1s", batchSize: 2000 }) })
        const env = { SLOWQ_STORE_URL: store.url }
        const sql = yield* storeClient(store.url)
        const storedDigest = sql
          // The test's statements by their fingerprints, which keep the marker (an alias); events carry no text.
          .unsafe<{ count: string; sum_us: string }>(
            `SELECT count(*)::text AS count, coalesce(sum(e.start_us), 0)::text AS sum_us
             FROM slowq_events e JOIN slowq_queries q USING (pipeline, query_id)
             WHERE e.pipeline = 'crash_lab' AND q.fingerprint LIKE $1`,
            [`%${marker}%`]
          )
          .pipe(Effect.map((rows) => rows[0]!))

        const storedCount = storedDigest.pipe(
          Effect.map((digest) => Number(digest.count)),
          // Until a first start has migrated the store there is no table: nothing stored yet.
          Effect.orElseSucceed(() => 0)
        )
        // Kill while it writes: once each start has stored something, after a random extra moment.
        const killedAt = yield* killWhileWorking({
          dir,
          env,
          kills: KILLS,
          maxExtraMs: 700,
          progress: storedCount,
          moved: (before, now) => now > before || now >= ROWS,
          afterKill: () => Effect.map(totalsMismatches(sql), (mismatches) => expect(mismatches).toEqual([]))
        })

        const daemon = startCli(["run", "--pipelines", dir], env)
        const exited = yield* Effect.fork(waitForExit(daemon))
        // SIGTERM before start-up has installed its handlers would just kill the process.
        yield* waitForLog(daemon, "slowq is running").pipe(Effect.timeout("60 seconds"))
        yield* eventually(
          "every row in the store",
          storedDigest.pipe(Effect.map((digest) => Number(digest.count) >= ROWS)),
          "120 seconds"
        )
        daemon.kill("SIGTERM")
        const final = yield* Fiber.join(exited)
        expect({ code: final.code, signal: final.signal, stderr: final.stderr.split("\n").slice(-4) }).toMatchObject({
          code: 0,
          signal: null
        })

        expect(yield* storedDigest).toEqual({ count: String(ROWS), sum_us: expected.sumUs })
        expect(yield* totalsMismatches(sql)).toEqual([])
        const calls = yield* sql.unsafe<{ calls: string }>(
          `SELECT sum(calls)::text AS calls FROM slowq_queries WHERE pipeline = 'crash_lab' AND fingerprint LIKE $1`,
          [`%${marker}%`]
        )
        expect(calls).toEqual([{ calls: String(ROWS) }])
        // At least one kill must have landed in the middle of the ingest for the test to mean something.
        expect(killedAt.some((count) => count > 0 && count < ROWS)).toBe(true)
        yield* truncateSlowLog
      }).pipe(Effect.scoped),
    240_000
  )
})
