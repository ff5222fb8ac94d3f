import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { cliPath, projectRoot, waitForExit } from "../support/Cli.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"

// test group: other
// (mysql:// is named only in a config that is validated, never connected.)

/** The packages that cost a command memory when it loads them without using them (see src/cli/Commands.ts). */
const HEAVY = ["@libpg-query/parser", "@electric-sql/pglite", "@electric-sql/pglite-socket", "mysql2", "pg"] as const

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-lazy-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Runs `slowq ARGS…` and answers which of HEAVY it imported, in HEAVY's order. */
const heavyPackagesOf = (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const trace = join(dir, `trace-${args[0]}.txt`)
    writeFileSync(trace, "")
    const child = spawn(
      process.execPath,
      ["--import", join(projectRoot, "test/support/PackageTrace.mjs"), cliPath, ...args],
      {
        cwd: projectRoot,
        env: { ...process.env, SLOWQ_LOG_LEVEL: "warning", SLOWQ_TEST_PACKAGE_TRACE: trace, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    const result = yield* waitForExit(child)
    const loaded = new Set(readFileSync(trace, "utf8").split("\n"))
    return { result, heavy: HEAVY.filter((name) => loaded.has(name)) }
  })

describe("a command loads what it uses only", () => {
  it.scoped("slowq validate loads no database driver, no PGlite and no PostgreSQL parser", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      writeFileSync(
        join(dir, "table.yaml"),
        [
          "name: table",
          "schedule: { every: 30s }",
          'source: { type: mysql_slow_log_table, url: "mysql://root@127.0.0.1/test" }',
          "stages:",
          "  - type: explain",
          "  - type: analyze",
          ""
        ].join("\n")
      )
      writeFileSync(
        join(dir, "pgss.yaml"),
        'name: pgss\nschedule: { every: 30s }\nsource: { type: postgres_pg_stat_statements, url: "postgres://postgres@127.0.0.1/test" }\n'
      )
      const { result, heavy } = yield* heavyPackagesOf(dir, ["validate", "--pipelines", dir])
      expect(result.stdout).toBe(`ok  ${join(dir, "pgss.yaml")}  (pgss)\nok  ${join(dir, "table.yaml")}  (table)\n`)
      expect(result.code).toBe(0)
      expect(heavy).toEqual([])
    })
  )

  it.scoped("slowq once of a MySQL slow log file into a PostgreSQL store loads node-pg only", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = yield* freshStoreDatabase
      const log = join(dir, "slow.log")
      writeFileSync(
        log,
        [
          "# Time: 2024-05-01T10:00:00.000000Z",
          "# User@Host: app[app] @ localhost []",
          "# Query_time: 1.500000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 1000",
          "SET timestamp=1714557600;",
          "SELECT * FROM orders WHERE id = 42;",
          ""
        ].join("\n")
      )
      writeFileSync(
        join(dir, "file.yaml"),
        `name: file\nschedule: { every: 1h }\nsource: { type: mysql_slow_log_file, path: ${JSON.stringify(log)}, settle_ms: 0 }\n`
      )
      const { result, heavy } = yield* heavyPackagesOf(dir, ["once", "file", "--pipelines", dir], {
        SLOWQ_STORE_URL: store.url
      })
      expect(result.stderr).toBe("")
      expect(result.stdout).toMatch(/^file {2}ok {2}events=1 new_fingerprints=1 written=1 /)
      expect(result.code).toBe(0)
      expect(heavy).toEqual(["pg"])
    })
  )
})
