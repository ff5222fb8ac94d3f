import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { startCli, waitForExit } from "../support/Cli.js"
import { newMarker } from "../support/Marker.js"
import { markedStatements, runMariadb, truncateSlowLog } from "../support/Mariadb.js"
import { mariadbPipeline, pipelinesDir } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { markedEvents, storeClient, totalsMismatches } from "../support/StoreQueries.js"

const countStored = (sql: Effect.Effect.Success<ReturnType<typeof storeClient>>, pipeline: string, marker: string) =>
  markedEvents(sql, pipeline, marker).pipe(Effect.map((marked) => marked.events))

describe("daemon lifecycle", () => {
  it.live(
    "SIGTERM in the middle of a run exits 0 within seconds and leaves the store consistent",
    () =>
      Effect.gen(function* () {
        const marker = newMarker("term")
        yield* truncateSlowLog
        yield* runMariadb(markedStatements(marker, 40_000))
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "term.yaml": mariadbPipeline("term_lab", { batchSize: 1000 }) })
        const sql = yield* storeClient(store.url)
        const daemon = startCli(["run", "--pipelines", dir], { SLOWQ_STORE_URL: store.url })
        const exited = yield* Effect.fork(waitForExit(daemon))
        yield* eventually("the first batches to be stored", countStored(sql, "term_lab", marker).pipe(Effect.map((n) => n > 0)))
        const midRun = yield* countStored(sql, "term_lab", marker)
        const signalled = Date.now()
        daemon.kill("SIGTERM")
        const result = yield* Fiber.join(exited)
        expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null })
        expect(Date.now() - signalled).toBeLessThan(5_000)
        expect(midRun).toBeLessThan(40_000)
        expect(yield* totalsMismatches(sql)).toEqual([])
        expect(result.stderr).toContain("slowq stopped")
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a pipeline whose source is down is retried and logged; a healthy pipeline carries on",
    () =>
      Effect.gen(function* () {
        const marker = newMarker("healthy")
        yield* truncateSlowLog
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({
          "down.yaml": mariadbPipeline("down_lab", { every: "1s", url: "mysql://root@127.0.0.1:1/test" }),
          "healthy.yaml": mariadbPipeline("healthy_lab", { every: "1s" })
        })
        const sql = yield* storeClient(store.url)
        const daemon = startCli(["run", "--pipelines", dir], { SLOWQ_STORE_URL: store.url })
        const exited = yield* Effect.fork(waitForExit(daemon))
        yield* runMariadb(markedStatements(marker, 10))
        yield* eventually("the healthy pipeline to store the new rows", countStored(sql, "healthy_lab", marker).pipe(Effect.map((n) => n === 10)))
        // New statements keep arriving while the other pipeline keeps failing.
        yield* runMariadb(markedStatements(`${marker}_later`, 5))
        yield* eventually(
          "the healthy pipeline's next runs",
          countStored(sql, "healthy_lab", `${marker}_later`).pipe(Effect.map((n) => n === 5))
        )
        daemon.kill("SIGTERM")
        const result = yield* Fiber.join(exited)
        expect(result.code).toBe(0)
        const downLines = result.stderr.split("\n").filter((line) => line.includes("pipeline=down_lab"))
        expect(downLines.some((line) => line.includes("run failed; retrying") && line.includes("127.0.0.1:1"))).toBe(true)
        expect(yield* countStored(sql, "down_lab", marker)).toBe(0)
      }).pipe(Effect.scoped),
    120_000
  )
})
