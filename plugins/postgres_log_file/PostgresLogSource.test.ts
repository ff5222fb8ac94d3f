import { appendFileSync, copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, ParseResult, Schema, Stream } from "effect"
import type { SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { formatConfigError } from "../../src/pipeline/ConfigProblems.js"
import { parsePipeline } from "../../src/pipeline/Loader.js"
import { Checkpoint } from "../../src/plugin/LogFileTail.js"
import { plugins } from "../index.js"
import { Config, type ConfigInput } from "./config.js"
import { make } from "./PostgresLogSource.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-pglog-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const decodeConfig = Schema.decodeUnknownSync(Config)

/** Plays the runtime: one `read` from the stored checkpoint, each batch "stored" (by key, once) with its checkpoint. */
const makeRuntime = (input: Omit<ConfigInput, "type">) => {
  const store = new Map<string, SlowQueryEvent>()
  let checkpoint: Option.Option<unknown> = Option.none()
  const run = (settleMs: number) =>
    Effect.gen(function* () {
      const source = yield* make(decodeConfig({ type: "postgres_log_file", ...input, settle_ms: settleMs }))
      const batches = yield* Stream.runCollect(source.read(checkpoint))
      const fresh: Array<SlowQueryEvent> = []
      for (const batch of batches) {
        for (const event of batch.events) {
          if (!store.has(event.key)) {
            store.set(event.key, event)
            fresh.push(event)
          }
        }
        checkpoint = Option.some(JSON.parse(JSON.stringify(batch.checkpoint)))
      }
      return fresh
    })
  return {
    run,
    offsets: () =>
      Option.map(checkpoint, (value) => Either.getOrThrow(Schema.decodeUnknownEither(Checkpoint)(value)).files.map((f) => f.offset))
  }
}

const line = (pid: number, text: string) => `2026-12-07 23:30:50.414 UTC [${pid}] app@shop LOG:  ${text}\n`
const plan = (pid: number, query: string, node: string) =>
  `${line(pid, "duration: 1.000 ms  plan:")}\t{ "Query Text": "${query}", "Plan": { "Node Type": "${node}" } }\n`

describe("postgres_log_file source", () => {
  it.scoped(
    "a plan waiting for its statement line holds the checkpoint before it; the next run pairs them, nothing is counted twice",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "postgresql.log")
        const first = plan(100, "select a", "Seq Scan") + line(200, "duration: 2.000 ms  statement: select b")
        writeFileSync(path, first + line(300, "duration: 3.000 ms  statement: select c"))
        const runtime = makeRuntime({ path })
        // The file has not settled (10 minutes): the last entry may go on, the plan waits for its line.
        const one = yield* runtime.run(600_000)
        expect(one.map((e) => [e.sqlText, e.queryTimeMs, e.plan])).toEqual([["select b", 2, undefined]])
        expect(Option.getOrThrow(runtime.offsets())).toEqual([0])

        appendFileSync(path, line(100, "duration: 2.500 ms  statement: select a"))
        const two = yield* runtime.run(0)
        expect(two.map((e) => [e.sqlText, e.queryTimeMs, e.threadId, e.plan])).toEqual([
          ["select c", 3, 300, undefined],
          ["select a", 2.5, 100, [{ Plan: { "Node Type": "Seq Scan" } }]]
        ])
        // Everything read: the checkpoint at the end of the file.
        const whole = first + line(300, "duration: 3.000 ms  statement: select c") + line(100, "duration: 2.500 ms  statement: select a")
        expect(Option.getOrThrow(runtime.offsets())).toEqual([Buffer.byteLength(whole)])

        // Rotated by renaming, then a new file: the rest of the old one is finished, the new one read whole.
        appendFileSync(path, line(200, "duration: 4.000 ms  statement: select d"))
        renameSync(path, `${path}.1`)
        writeFileSync(path, line(200, "duration: 5.000 ms  statement: select e"))
        const three = yield* runtime.run(0)
        expect(three.map((e) => e.sqlText)).toEqual(["select d", "select e"])
      })
  )

  it.scoped("a crash after any batch of the demo's real log, then a restart from its checkpoint: every event once, the same pairing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "postgresql.log")
      copyFileSync(new URL("../../pipelines/demo/sample-postgresql.log", import.meta.url), path)
      const source = yield* make(decodeConfig({ type: "postgres_log_file", path, settle_ms: 0, batch_size: 7 }))
      const read = (checkpoint: Option.Option<unknown>) =>
        Stream.runCollect(source.read(checkpoint)).pipe(Effect.map((batches) => [...batches]))
      const batches = yield* read(Option.none())
      const all = new Map(batches.flatMap((batch) => batch.events.map((event) => [event.key, event] as const)))
      expect(all.size).toBe(batches.reduce((sum, batch) => sum + batch.events.length, 0))
      // The demo's executions (statement and execute lines), 44 logged plans, all paired.
      expect([all.size, [...all.values()].filter((e) => e.plan !== undefined).length]).toEqual([502, 44])
      for (let i = 0; i < batches.length; i++) {
        const stored = new Set(batches.slice(0, i + 1).flatMap((batch) => batch.events.map((event) => event.key)))
        const again = (yield* read(Option.some(JSON.parse(JSON.stringify(batches[i]!.checkpoint))))).flatMap((batch) => batch.events)
        for (const event of again) expect(event).toEqual(all.get(event.key))
        expect(new Set([...stored, ...again.map((event) => event.key)]).size).toBe(all.size)
      }
    })
  )

  it("slowq validate: a log_line_prefix with escapes it does not understand is a located problem naming them", () => {
    const text = [
      "name: pglog",
      "schedule: { every: 30s }",
      "source:",
      "  type: postgres_log_file",
      "  path: /var/log/postgresql/postgresql-15-main.log",
      '  log_line_prefix: "%m [%p] %Z %-10u "',
      ""
    ].join("\n")
    const result = parsePipeline({ file: "pipelines/pglog.yaml", text, registry: plugins, env: {}, readSecretFile: () => Either.left("none") })
    expect(Either.isLeft(result) && formatConfigError(result.left)).toBe(
      [
        "pipelines/pglog.yaml is invalid (1 problem)",
        "  pipelines/pglog.yaml:6:20  source.log_line_prefix  log_line_prefix escapes %Z, %- not understood (understood: %m %t %n %p %u %d %a %h %r %c %l %s %v %x %e %b %i %Q %q %%; no padding such as %-10u)"
      ].join("\n")
    )
  })

  it("refuses a log_line_prefix with escapes it does not understand, naming them", () => {
    const decoded = Schema.decodeUnknownEither(Config)({ type: "postgres_log_file", path: "/var/log/pg.log", log_line_prefix: "%m %Z %-10u" })
    expect(Either.isLeft(decoded) && ParseResult.TreeFormatter.formatErrorSync(decoded.left)).toContain(
      "log_line_prefix escapes %Z, %- not understood (understood: %m %t %n %p %u %d %a %h %r %c %l %s %v %x %e %b %i %Q %q %%; no padding such as %-10u)"
    )
  })
})
