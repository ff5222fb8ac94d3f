import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Readable } from "node:stream"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startCli } from "../support/Cli.js"

// test group: other
// (mysql:// is named only in configs that are validated, never connected.)

const OK_FILES = 2_001
const BAD_FILES = 21
// Each bad file has 150 problems: its header, the first 100, "and 50 more".
const LINES_PER_BAD_FILE = 102

/** 2,001 valid pipelines (2,001 lines on stdout) and 21 invalid ones (2,143 lines on stderr): far over a pipe's 64 KiB. */
const manyPipelines = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "slowq-cli-output-"))
    for (let i = 0; i < OK_FILES; i++) {
      writeFileSync(
        join(dir, `ok_${String(i).padStart(4, "0")}.yaml`),
        `name: ok_${i}\nschedule: { every: 30s }\nsource: { type: mysql_slow_log_table, url: "mysql://root@127.0.0.1/test" }\n`
      )
    }
    for (let i = 0; i < BAD_FILES; i++) {
      const keys = Array.from({ length: 150 }, (_, k) => `  unknown_${k}: 1\n`).join("")
      writeFileSync(
        join(dir, `bad_${String(i).padStart(2, "0")}.yaml`),
        `name: bad_${i}\nschedule: { every: 30s }\nsource:\n  type: mysql_slow_log_table\n  url: mysql://root@127.0.0.1/test\n${keys}`
      )
    }
    return dir
  }),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/**
 * Runs `slowq validate` and reads one of its streams like a slow reader: not at all until the other stream shows
 * `marker` (written after everything on the held stream) and a second has passed, so that the held stream's pipe is
 * full when the command finishes. A process that exits before its writes are flushed loses what was still queued.
 */
const validateWithSlowReader = (dir: string, held: "stdout" | "stderr", marker: string) =>
  Effect.async<{ readonly code: number | null; readonly held: string; readonly other: string }>((resume) => {
    const child = startCli(["validate", "--pipelines", dir])
    const slow = child[held] as Readable
    const fast = child[held === "stdout" ? "stderr" : "stdout"] as Readable
    let heldText = ""
    let otherText = ""
    slow.pause()
    fast.on("data", (chunk: Buffer) => {
      otherText += chunk.toString("utf8")
      if (slow.isPaused() && otherText.includes(marker)) setTimeout(() => slow.resume(), 1_000)
    })
    slow.on("data", (chunk: Buffer) => {
      heldText += chunk.toString("utf8")
    })
    child.on("close", (code) => resume(Effect.succeed({ code, held: heldText, other: otherText })))
  })

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

describe("CLI output through a pipe", () => {
  it.live(
    "validate with 2,143 lines of problems and 2,001 ok lines delivers every line on both streams",
    () =>
      Effect.gen(function* () {
        const dir = yield* manyPipelines
        const summary = `${BAD_FILES} of ${OK_FILES + BAD_FILES} pipeline files are invalid`

        // stderr held: the ok lines on stdout come after every problem, and the summary line right after them.
        const heldStderr = yield* validateWithSlowReader(dir, "stderr", `ok  ${dir}/ok_2000.yaml  (ok_2000)`)
        expect(heldStderr.code).toBe(1)
        const stderr = lines(heldStderr.held)
        expect(stderr.length).toBe(BAD_FILES * LINES_PER_BAD_FILE + 1)
        expect(stderr.filter((line) => line === "  and 50 more").length).toBe(BAD_FILES)
        expect(stderr.at(-1)).toBe(summary)
        expect(lines(heldStderr.other).length).toBe(OK_FILES)

        // stdout held: the summary on stderr is written after every ok line.
        const heldStdout = yield* validateWithSlowReader(dir, "stdout", summary)
        expect(heldStdout.code).toBe(1)
        const stdout = lines(heldStdout.held)
        expect(stdout.length).toBe(OK_FILES)
        expect(stdout[0]).toBe(`ok  ${dir}/ok_0000.yaml  (ok_0)`)
        expect(stdout.at(-1)).toBe(`ok  ${dir}/ok_2000.yaml  (ok_2000)`)
      }).pipe(Effect.scoped),
    240_000
  )
})
