// test group: other
// (slow log files and a store of its own: no MariaDB.)

import { appendFileSync, copyFileSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { runCli, startCli, waitForExit } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"

/**
 * A slow log entry as MariaDB writes it, with a statement unique to (marker, n): the store must end up with
 * each n exactly once.
 */
const entry = (marker: string, n: number) =>
  `# Time: 240115 10:${String(Math.floor(n / 60) % 60).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: shop  QC_hit: No\n# Query_time: 0.000${String(100 + (n % 900)).padStart(3, "0")}  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\n# Rows_affected: 0  Bytes_sent: 10\nSET timestamp=${1705312800 + n};\nSELECT /* ${marker} */ ${n} AS n;\n`
const entries = (marker: string, from: number, to: number) => {
  let text = ""
  for (let n = from; n < to; n++) text += entry(marker, n)
  return text
}

const logDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-slowlog-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const pipeline = (name: string, path: string, options: { every?: string; batchSize?: number } = {}) =>
  [
    `name: ${name}`,
    "schedule:",
    `  every: ${options.every ?? "1h"}`,
    "source:",
    "  type: mysql_slow_log_file",
    `  path: ${path}`,
    "  settle_ms: 0",
    `  batch_size: ${options.batchSize ?? 1000}`,
    ""
  ].join("\n")

/** The sorted n of each event the store holds for a pipeline (an entry's Rows_examined is its n). */
const storedOf = (url: string, name: string) =>
  Effect.gen(function* () {
    const sql = yield* storeClient(url)
    const rows = yield* sql.unsafe<{ n: string }>(
      `SELECT rows_examined::bigint::text AS n FROM slowq_events_all WHERE pipeline = $1`,
      [name]
    )
    return rows.map((row) => Number(row.n)).sort((a, b) => a - b)
  })

/** The daemon's HTTP API on a free port: other daemons on this machine may hold the default one. */
const daemonEnv = (storeUrl: string) => ({ SLOWQ_STORE_URL: storeUrl, SLOWQ_HTTP_ADDR: "127.0.0.1:0" })

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe("mysql_slow_log_file through the CLI", () => {
  it.live(
    "rename rotation, copytruncate and a replaced file between runs: every entry stored exactly once",
    () =>
      Effect.gen(function* () {
        const marker = `rot_${Date.now().toString(36)}`
        const store = yield* freshStoreDatabase
        const dir = yield* logDir
        const path = join(dir, "slow.log")
        const pipelines = yield* pipelinesDir({ "rot.yaml": pipeline("rot_lab", path) })
        const env = daemonEnv(store.url)
        const once = Effect.gen(function* () {
          const result = yield* runCli(["once", "rot_lab", "--pipelines", pipelines], env)
          expect(result.stderr).not.toContain("level=ERROR")
          expect(result.code).toBe(0)
          return result
        })
        const stored = storedOf(store.url, "rot_lab")

        writeFileSync(path, entries(marker, 0, 100))
        const first = yield* once
        expect(first.stdout).toMatch(/^rot_lab {2}ok {2}events=100 new_fingerprints=1 written=100 duplicates=0 /m)
        expect(yield* stored).toEqual(range(0, 100))

        // Rename rotation: more entries went to the old file before it was renamed, then a new file began.
        appendFileSync(path, entries(marker, 100, 150))
        renameSync(path, join(dir, "slow.log.1"))
        writeFileSync(path, entries(marker, 150, 200))
        yield* once
        expect(yield* stored).toEqual(range(0, 200))

        // copytruncate after everything was read: the file shrinks and starts again.
        copyFileSync(path, join(dir, "slow.log.2"))
        truncateSync(path, 0)
        appendFileSync(path, entries(marker, 200, 260))
        yield* once
        expect(yield* stored).toEqual(range(0, 260))

        // Replaced while stopped: a new file under the same name.
        unlinkSync(path)
        writeFileSync(path, entries(marker, 260, 300))
        const last = yield* once
        expect(last.stdout).toMatch(/^rot_lab {2}ok {2}events=40 new_fingerprints=0 written=40 duplicates=0 /m)
        expect(yield* stored).toEqual(range(0, 300))

        // Nothing new: nothing written.
        expect((yield* once).stdout).toMatch(/^rot_lab {2}ok {2}events=0 new_fingerprints=0 written=0 duplicates=0 /m)
        const sql = yield* storeClient(store.url)
        expect(yield* totalsMismatches(sql)).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "rotations while the daemon runs: a writer appends, renames and copytruncates; every entry stored exactly once",
    () =>
      Effect.gen(function* () {
        const marker = `live_${Date.now().toString(36)}`
        const store = yield* freshStoreDatabase
        const dir = yield* logDir
        const path = join(dir, "slow.log")
        const pipelines = yield* pipelinesDir({ "live.yaml": pipeline("live_lab", path, { every: "1s", batchSize: 50 }) })
        const stored = storedOf(store.url, "live_lab")
        const storedAll = (count: number) =>
          eventually(`${count} entries in the store`, stored.pipe(Effect.map((ns) => ns.length >= count)), "90 seconds")

        writeFileSync(path, entries(marker, 0, 50))
        const daemon = startCli(["run", "--pipelines", pipelines], daemonEnv(store.url))
        const exited = yield* Effect.fork(waitForExit(daemon))
        // The daemon must have seen the file once: a file rotated away before slowq ever read it is not followed.
        yield* storedAll(50)
        // The server appends entry by entry while the daemon reads.
        for (let n = 50; n < 400; n += 10) {
          appendFileSync(path, entries(marker, n, n + 10))
          yield* Effect.sleep("20 millis")
        }
        // Rename rotation under the daemon's feet, with entries written to both files around it.
        renameSync(path, join(dir, "slow.log.1"))
        appendFileSync(join(dir, "slow.log.1"), entries(marker, 400, 420))
        writeFileSync(path, entries(marker, 420, 500))
        yield* storedAll(500)
        // copytruncate once the daemon has caught up (what is written between its last read and the truncation
        // is lost for every reader: that is copytruncate's own race).
        copyFileSync(path, join(dir, "slow.log.2"))
        truncateSync(path, 0)
        for (let n = 500; n < 700; n += 20) {
          appendFileSync(path, entries(marker, n, n + 20))
          yield* Effect.sleep("20 millis")
        }
        yield* storedAll(700)
        daemon.kill("SIGTERM")
        const result = yield* Fiber.join(exited)
        expect(result.code).toBe(0)
        expect(result.stderr).not.toContain("level=ERROR")
        expect(yield* stored).toEqual(range(0, 700))
        const sql = yield* storeClient(store.url)
        expect(yield* totalsMismatches(sql)).toEqual([])
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "SIGKILL at random moments while ingesting a 150k-entry log: after restarts every entry is stored exactly once",
    () =>
      Effect.gen(function* () {
        const marker = `kill_${Date.now().toString(36)}`
        const total = 150_000
        const store = yield* freshStoreDatabase
        const dir = yield* logDir
        const path = join(dir, "slow.log")
        writeFileSync(path, entries(marker, 0, total))
        const pipelines = yield* pipelinesDir({ "kill.yaml": pipeline("kill_lab", path, { every: "1s", batchSize: 500 }) })
        const env = daemonEnv(store.url)
        const sql = yield* storeClient(store.url)
        // -1 until the daemon has created the store's tables. The log spans 42 hours: at each start the daemon's pruner
        // packs the events past the pipeline's replay window (a day) into blocks, so they are counted in both places.
        const count = sql
          .unsafe<{ count: string }>(`SELECT count(*)::text AS count FROM slowq_events_all WHERE pipeline = 'kill_lab'`)
          .pipe(
            Effect.map((rows) => Number(rows[0]!.count)),
            Effect.catchTag("SqlError", () => Effect.succeed(-1))
          )

        const killedAt: Array<number> = []
        for (let kill = 0; kill < 5; kill++) {
          const before = yield* count
          if (before >= total) break
          const daemon = startCli(["run", "--pipelines", pipelines], env)
          const exited = yield* Effect.fork(waitForExit(daemon))
          // Kill while it stores: once a new batch is in, after a random further delay.
          yield* eventually("progress", count.pipe(Effect.map((n) => n > before)), "90 seconds")
          yield* Effect.sleep(`${Math.floor(Math.random() * 1500)} millis`)
          killedAt.push(yield* count)
          daemon.kill("SIGKILL")
          expect((yield* Fiber.join(exited)).signal).toBe("SIGKILL")
          expect(yield* totalsMismatches(sql)).toEqual([])
        }
        // The server goes on writing while slowq is down.
        appendFileSync(path, entries(marker, total, total + 1000))
        const daemon = startCli(["run", "--pipelines", pipelines], env)
        const exited = yield* Effect.fork(waitForExit(daemon))
        yield* eventually("every entry in the store", count.pipe(Effect.map((n) => n >= total + 1000)), "150 seconds")
        daemon.kill("SIGTERM")
        expect((yield* Fiber.join(exited)).code).toBe(0)

        expect(yield* storedOf(store.url, "kill_lab")).toEqual(range(0, total + 1000))
        expect(yield* totalsMismatches(sql)).toEqual([])
        const calls = yield* sql.unsafe<{ calls: string; events: string }>(
          `SELECT sum(calls)::text AS calls, sum(events)::text AS events FROM slowq_queries WHERE pipeline = 'kill_lab'`
        )
        expect(calls).toEqual([{ calls: String(total + 1000), events: String(total + 1000) }])
        // At least one kill must have landed in the middle of the ingest for the test to mean something.
        expect(killedAt.some((n) => n > 0 && n < total)).toBe(true)
      }).pipe(Effect.scoped),
    300_000
  )
})
