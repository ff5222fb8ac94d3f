import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type CliResult, cliPath, projectRoot, runCli } from "../support/Cli.js"
import { writeSlowLog } from "../support/slowlog/GenerateSlowLog.js"

// test group: other
// (MariaDB is named only as a slow log flavour: these tests read files, never a server.)

const testdata = (name: string) => join(projectRoot, "plugins/mysql_slow_log_file/testdata", name)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-digest-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** `slowq ARGS…` with `input` on stdin. */
const runWithStdin = (args: ReadonlyArray<string>, input: Buffer) =>
  Effect.async<CliResult>((resume) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: projectRoot, stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    child.stdin.end(input)
  })

interface DigestJson {
  readonly global: { readonly count: number; readonly unique: number; readonly files: ReadonlyArray<string> }
  readonly classes: ReadonlyArray<{
    readonly rank: number
    readonly id: string
    readonly count: number
    readonly fingerprint: string
    readonly sample: { readonly file: string }
  }>
}

/** The classes with the sample's file name set aside: it names the input, which differs between the runs. */
const classesOf = (report: DigestJson) => ({
  files: [...new Set(report.classes.map((c) => c.sample.file))],
  classes: report.classes.map((c) => ({ ...c, sample: { ...c.sample, file: "" } }))
})

describe("slowq digest, as a user runs it", () => {
  it.live("prints the report of a slow log, with no database", () =>
    Effect.gen(function* () {
      const result = yield* runCli(["digest", "--top", "2", testdata("mysql-5.7.log")])
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      // Everything after the lines that depend on the machine and the moment is the golden report.
      const golden = readFileSync(testdata("mysql-5.7.report.txt"), "utf8").split("\n").slice(1).join("\n")
      expect(result.stdout).toContain(golden.trimEnd())
      expect(result.stdout).toMatch(/^# [\d.]+m?s user time, [\d.]+m?s system time, [\d.]+[kMG]? rss\n# Current date: /)
    })
  )

  it.scopedLive("--format json, stdin, gzip: the same classes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "slow.log")
      yield* Effect.promise(() => writeSlowLog(file, { events: 3000, seed: 5 }))
      writeFileSync(`${file}.gz`, gzipSync(readFileSync(file)))
      const plain = yield* runCli(["digest", "--format", "json", "--top", "5", file])
      expect(plain.code).toBe(0)
      const expected = JSON.parse(plain.stdout) as DigestJson
      expect(expected.global.count).toBe(3000)
      expect(expected.classes.map((c) => c.rank)).toEqual([1, 2, 3, 4, 5])
      const gz = JSON.parse((yield* runCli(["digest", "--format", "json", "--top", "5", `${file}.gz`])).stdout) as DigestJson
      expect(classesOf(gz)).toEqual({ files: [`${file}.gz`], classes: classesOf(expected).classes })
      const stdin = yield* runWithStdin(["digest", "--format", "json", "--top", "5", "-"], gzipSync(readFileSync(file)))
      expect(stdin.code).toBe(0)
      const fromStdin = JSON.parse(stdin.stdout) as DigestJson
      expect(fromStdin.global.files).toEqual(["(stdin)"])
      expect(classesOf(fromStdin)).toEqual({ files: ["(stdin)"], classes: classesOf(expected).classes })
    })
  )

  it.scopedLive(
    "a large file is read on worker threads: the same report as one thread, no warning",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        // Over 64 MiB, so that two threads each get their 32 MiB at least.
        const bytes = yield* Effect.promise(() => writeSlowLog(file, { events: 140_000, seed: 12 }))
        expect(bytes).toBeGreaterThan(64 * 1024 * 1024)
        const alone = yield* runCli(["digest", "--threads", "1", "--format", "json", "--top", "50", file])
        const parallel = yield* runCli(["digest", "--threads", "2", "--format", "json", "--top", "50", file])
        expect([alone.code, alone.stderr]).toEqual([0, ""])
        expect([parallel.code, parallel.stderr]).toEqual([0, ""])
        expect((JSON.parse(parallel.stdout) as DigestJson).global.count).toBe(140_000)
        expect(parallel.stdout).toBe(alone.stdout)
      }),
    60_000
  )

  it.scopedLive("bad input: a clear message and a non-zero exit, never a crash", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const missing = yield* runCli(["digest", join(dir, "nope.log")])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toContain(`${join(dir, "nope.log")}: no such file`)

      const garbage = join(dir, "garbage.bin")
      const bytes = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
      writeFileSync(garbage, bytes)
      const notALog = yield* runCli(["digest", garbage])
      expect(notALog.code).toBe(1)
      expect(notALog.stderr).toContain(`${garbage}: skipped`)
      expect(notALog.stderr).toContain(
        `no slow log entries found in ${garbage} (${bytes.length} bytes): is this a MySQL slow query log?`
      )

      const badGzip = join(dir, "broken.gz")
      writeFileSync(badGzip, Buffer.concat([Buffer.from([0x1f, 0x8b]), bytes.subarray(0, 1000)]))
      const broken = yield* runCli(["digest", badGzip])
      expect(broken.code).toBe(1)
      expect(broken.stderr).toContain(`${badGzip}: not a valid gzip file`)

      const order = yield* runCli(["digest", "--order-by", "Nope:sum", testdata("mysql-5.7.log")])
      expect(order.code).toBe(1)
      expect(order.stderr).toContain("--order-by Nope:sum is not ATTRIBUTE:FUNCTION")
      const threads = yield* runCli(["digest", "--threads", "0", testdata("mysql-5.7.log")])
      expect(threads.code).toBe(1)
      expect(threads.stderr).toContain("--threads must be at least 1, not 0")
      const since = yield* runCli(["digest", "--since", "yesterday", testdata("mysql-5.7.log")])
      expect(since.code).toBe(1)
      expect(since.stderr).toContain("--since yesterday is not a time")

      // A damaged file with entries after the damage: the problem on stderr with its offset, the report on stdout.
      // (Damage after a statement cannot be told from the statement: it runs until the next entry header.)
      const damaged = join(dir, "damaged.log")
      writeFileSync(damaged, Buffer.concat([bytes.subarray(0, 5000), Buffer.from("\n"), readFileSync(testdata("mysql-5.7.log")), readFileSync(testdata("mariadb-11.4.log"))]))
      const partly = yield* runCli(["digest", "--format", "json", damaged])
      expect(partly.code).toBe(0)
      expect(partly.stderr).toMatch(/^\S*damaged\.log: skipped \d+ bytes at byte 0 that are not slow log entries\n$/)
      expect((JSON.parse(partly.stdout) as DigestJson).global.count).toBe(4)
    })
  )
})
