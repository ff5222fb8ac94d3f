import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type CliResult, projectRoot, runCli } from "../../../test/support/Cli.js"
import { writeSlowLog } from "../../../test/support/slowlog/GenerateSlowLog.js"
import { parsePlainArgs } from "./DigestCli.js"

// test group: other
// (MariaDB is named only as a slow log flavour: these tests read files, never a server.)

const testdata = (name: string) => join(projectRoot, "plugins/mysql_slow_log_file/testdata", name)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-digest-cli-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** `slowq ARGS…` through src/main.ts alone: the full CLI, @effect/cli parsing every argument. */
const runFullCli = (args: ReadonlyArray<string>) =>
  Effect.async<CliResult>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
  })

/** The text report without its first two lines, which hold the CPU time, the RSS and the date. */
const steady = (result: CliResult) => ({ ...result, stdout: result.stdout.split("\n").slice(2).join("\n") })

describe("slowq digest without Effect", () => {
  it("reads the plain forms of the arguments, and leaves every other form to the full CLI", () => {
    expect(parsePlainArgs(["a.log"])).toEqual({
      files: ["a.log"],
      format: "report",
      top: 20,
      orderBy: "Query_time:sum",
      since: undefined,
      until: undefined,
      threads: undefined
    })
    expect(
      parsePlainArgs(["a.log", "--top=3", "-", "--format", "json", "--order-by", "Rows_sent:max", "--since", "12h", "--until=2024-01-15", "--threads", "0", "b.log"])
    ).toEqual({
      files: ["a.log", "-", "b.log"],
      format: "json",
      top: 3,
      orderBy: "Rows_sent:max",
      since: "12h",
      until: "2024-01-15",
      threads: 0
    })
    for (const args of [
      [],
      ["--help"],
      ["-h", "a.log"],
      ["--version"],
      ["--wizard"],
      ["--completions", "bash"],
      ["--", "a.log"],
      ["--top", "1", "--top", "2", "a.log"],
      ["--format", "JSON", "a.log"],
      ["--top", "1.0", "a.log"],
      ["--top", "01", "a.log"],
      ["--top", "-1", "a.log"],
      ["--threads", "+2", "a.log"],
      ["--since=", "a.log"],
      ["--since", "-1", "a.log"],
      ["--top"],
      ["a.log", "--format"],
      ["--Top", "1", "a.log"],
      ["--log-level", "debug", "a.log"]
    ]) {
      expect([args, parsePlainArgs(args)]).toEqual([args, undefined])
    }
  })

  it.scopedLive(
    "prints what the full CLI prints, on stdout and stderr, with its exit code",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        yield* Effect.promise(() => writeSlowLog(file, { events: 2_000, seed: 4 }))
        const garbage = join(dir, "garbage.log")
        writeFileSync(garbage, "not a slow log\n".repeat(100))
        const cases: ReadonlyArray<ReadonlyArray<string>> = [
          ["--format", "json", "--top", "3", file],
          [file, "--top=2", "--format=json", "--order-by", "Rows_examined:max", testdata("mariadb-11.4.log")],
          ["--format", "json", "--since", "2024-01-15T00:10:00", "--until", "1705278000", file],
          ["--top", "2", testdata("mysql-5.7.log"), garbage],
          ["--threads", "0", file],
          ["--top", "0", file],
          ["--since", "yesterday", file],
          ["--order-by", "Nope:sum", file],
          [join(dir, "nope.log")],
          [garbage]
        ]
        for (const args of cases) expect(parsePlainArgs(args)).toBeDefined()
        const results = yield* Effect.forEach(
          cases,
          (args) => Effect.all([runCli(["digest", ...args]), runFullCli(["digest", ...args])]),
          { concurrency: 2 }
        )
        for (const [k, [plain, full]] of results.entries()) {
          expect([cases[k], steady(plain)]).toEqual([cases[k], steady(full)])
        }
        // Not vacuous: reports, failures with their messages, problems beside a report.
        expect(results.map(([plain]) => plain.code)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        expect(results[4]![0].stderr).toBe("--threads must be at least 1, not 0\n")
        expect(results[3]![0].stderr).toContain(`${garbage}: no slow log entries in 1500 bytes`)
        expect((JSON.parse(results[0]![0].stdout) as { classes: ReadonlyArray<unknown> }).classes).toHaveLength(3)
      }),
    240_000
  )
})
