import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { runCli, startCli, waitForExit, waitForLog } from "../support/Cli.js"
import { newMarker } from "../support/Marker.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-cli-signals-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Just under the 1 MiB limit: 80,000 unknown keys, each a problem to locate. */
const hugePipeline = (name: string) => {
  const lines = [`name: ${name}`, "schedule: { every: 30s }", "source:", "  type: mysql_slow_log_table", "  url: mysql://db/test"]
  for (let i = 0; i < 80_000; i++) lines.push(`  k${i}: 1`)
  return `${lines.join("\n")}\n`
}

/** A MariaDB slow log entry whose statement is unique to (marker, n), as the rotation tests write them. */
const entry = (marker: string, n: number) =>
  `# Time: 240115 10:${String(Math.floor(n / 60) % 60).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: shop  QC_hit: No\n# Query_time: 0.000${String(100 + (n % 900)).padStart(3, "0")}  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\n# Rows_affected: 0  Bytes_sent: 10\nSET timestamp=${1705312800 + n};\nSELECT /* ${marker} */ ${n} AS n;\n`

const filePipeline = (name: string, path: string, batchSize: number) =>
  [
    `name: ${name}`,
    "schedule: { every: 1h }",
    "source:",
    "  type: mysql_slow_log_file",
    `  path: ${path}`,
    "  settle_ms: 0",
    `  batch_size: ${batchSize}`,
    "stages:",
    "  - type: fingerprint",
    ""
  ].join("\n")

describe("signals reach the CLI", () => {
  it.live(
    "SIGTERM while validate works through a folder of 1 MiB files stops it at once, with 143",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        for (let i = 0; i < 20; i++) writeFileSync(join(dir, `p_${String(i).padStart(2, "0")}.yaml`), hugePipeline(`p_${i}`))
        const child = startCli(["validate", "--pipelines", dir], { SLOWQ_LOG_LEVEL: "debug" })
        const exited = yield* Effect.fork(waitForExit(child))
        // The second file read: the first has been parsed and its 80,000 problems are being located.
        yield* waitForLog(child, `file=${dir}/p_01.yaml`).pipe(Effect.timeout("120 seconds"))
        const signalled = Date.now()
        child.kill("SIGTERM")
        const result = yield* Fiber.join(exited)
        const afterSignal = Date.now() - signalled
        expect({ code: result.code, signal: result.signal, stdout: result.stdout }).toEqual({ code: 143, signal: null, stdout: "" })
        expect(result.stderr).not.toContain("is invalid")
        // Unloaded, a step of one file takes well under a second; twenty files take minutes on a shared machine.
        expect(afterSignal).toBeLessThan(15_000)
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "once stopped by SIGTERM names the pipeline interrupted and the one not run, exits 143, and rolls the batch back",
    () =>
      Effect.gen(function* () {
        const ENTRIES = 150_000
        const BATCH = 500
        const marker = newMarker("once_term")
        const logs = yield* tempDir
        const log = join(logs, "slow.log")
        const chunks: Array<string> = []
        for (let n = 0; n < ENTRIES; n++) chunks.push(entry(marker, n))
        writeFileSync(log, chunks.join(""))
        writeFileSync(join(logs, "empty.log"), "")
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({
          "a.yaml": filePipeline("term_first", log, BATCH),
          "b.yaml": filePipeline("term_second", join(logs, "empty.log"), BATCH)
        })
        const env = { SLOWQ_STORE_URL: store.url }
        const sql = yield* storeClient(store.url)
        const stored = sql
          .unsafe<{ n: string }>(
            // Each entry's Rows_examined is its number (events carry no text).
            `SELECT rows_examined::bigint::text AS n FROM slowq_events WHERE pipeline = 'term_first'`
          )
          .pipe(
            Effect.map((rows) => rows.map((row) => Number(row.n)).sort((a, b) => a - b)),
            // Until the run has migrated the store there is no table.
            Effect.orElseSucceed((): Array<number> => [])
          )

        const child = startCli(["once", "term_first", "term_second", "--pipelines", dir], env)
        const exited = yield* Effect.fork(waitForExit(child))
        yield* eventually("the first batches to be stored", stored.pipe(Effect.map((ns) => ns.length > 0)), "120 seconds")
        child.kill("SIGTERM")
        const result = yield* Fiber.join(exited)
        expect({ code: result.code, signal: result.signal, stdout: result.stdout }).toEqual({
          code: 143,
          signal: null,
          stdout: "term_first  interrupted\nterm_second  not run\n"
        })

        // Whole batches only, each once, from the start of the file: the batch in flight was rolled back.
        const kept = yield* stored
        expect(kept.length % BATCH).toBe(0)
        expect(kept.length).toBeLessThan(ENTRIES)
        expect(kept).toEqual(Array.from({ length: kept.length }, (_, n) => n))
        expect(yield* totalsMismatches(sql)).toEqual([])

        // The checkpoint agrees with what was kept: the next run reads exactly the rest.
        const again = yield* runCli(["once", "term_first", "--pipelines", dir], env)
        expect(again.code).toBe(0)
        expect(again.stdout).toMatch(new RegExp(`^term_first  ok  events=${ENTRIES - kept.length} `))
        expect(yield* stored).toEqual(Array.from({ length: ENTRIES }, (_, n) => n))
        expect(yield* totalsMismatches(sql)).toEqual([])
      }).pipe(Effect.scoped),
    300_000
  )
})
