import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"

const entry = (marker: string, n: number, sql = `SELECT /* ${marker} */ ${n} AS n`) =>
  `# Time: 240115 10:00:00\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: shop  QC_hit: No\n# Query_time: 0.000${100 + n}  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\n# Rows_affected: 0  Bytes_sent: 10\nSET timestamp=${1705312800 + n};\n${sql};\n`

const logDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-badlog-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const pipeline = (name: string, path: string) =>
  `name: ${name}\nschedule:\n  every: 1h\nsource:\n  type: mysql_slow_log_file\n  path: ${path}\n  settle_ms: 0\n`

describe("mysql_slow_log_file with bad input, through the CLI", () => {
  it.live(
    "binary garbage, a file that is not a slow log and a 50 MB statement: clear warnings, no crash, nothing else lost",
    () =>
      Effect.gen(function* () {
        const marker = `bad_${Date.now().toString(36)}`
        const store = yield* freshStoreDatabase
        const dir = yield* logDir
        const garbage = join(dir, "garbage-slow.log")
        const services = join(dir, "services-slow.log")
        const huge = join(dir, "huge-slow.log")
        const bytes = Buffer.alloc(2 * 1024 * 1024)
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
        writeFileSync(garbage, bytes)
        writeFileSync(services, "# Network services, Internet style\ntcpmux\t\t1/tcp\necho\t\t7/tcp\n".repeat(2000))
        const values = "(1, 'abcdefghij'), ".repeat(Math.ceil((50 * 1024 * 1024) / 18))
        const statement = `INSERT /* ${marker} */ INTO t VALUES ${values}(2, 'z')`
        writeFileSync(huge, `${entry(marker, 1)}${entry(marker, 2, statement)}${entry(marker, 3)}`)
        const pipelines = yield* pipelinesDir({ "bad.yaml": pipeline("bad_lab", join(dir, "*-slow.log")) })
        const env = { SLOWQ_STORE_URL: store.url, SLOWQ_HTTP_ADDR: "127.0.0.1:0" }

        const first = yield* runCli(["once", "bad_lab", "--pipelines", pipelines], env)
        expect(first.code).toBe(0)
        expect(first.stdout).toMatch(/^bad_lab {2}ok {2}events=3 new_fingerprints=2 written=3 duplicates=0 /m)
        expect(first.stderr).not.toContain("level=ERROR")
        expect(first.stderr).toContain(`${garbage}: skipped`)
        expect(first.stderr).toContain(
          `${garbage} does not look like a MySQL slow query log: no entry (# Time: / # User@Host: / # Query_time: lines) in ${bytes.length} bytes.`
        )
        expect(first.stderr).toContain(`${services} does not look like a MySQL slow query log`)

        const sql = yield* storeClient(store.url)
        const stored = yield* sql.unsafe<{ n: number }>(
          `SELECT rows_examined::int AS n FROM slowq_events WHERE pipeline = 'bad_lab' ORDER BY rows_examined`
        )
        expect(stored).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
        // The statements whole, as samples: 1 and 3 are one query (its first and its slowest), the 50 MB one another.
        const samples = yield* sql.unsafe<{ kind: string; length: number }>(
          `SELECT kind, length(sql_text) AS length FROM slowq_samples WHERE pipeline = 'bad_lab' ORDER BY start_time, kind`
        )
        expect(samples).toEqual([
          { kind: "first", length: `SELECT /* ${marker} */ 1 AS n`.length },
          { kind: "first", length: statement.length },
          { kind: "slowest", length: statement.length },
          { kind: "slowest", length: `SELECT /* ${marker} */ 3 AS n`.length }
        ])

        // The damaged files are behind the checkpoint now: entries appended to them are read, the garbage is not
        // read (nor reported) again.
        appendFileSync(garbage, `\n${entry(marker, 4)}`)
        const second = yield* runCli(["once", "bad_lab", "--pipelines", pipelines], env)
        expect(second.stdout).toMatch(/^bad_lab {2}ok {2}events=1 new_fingerprints=0 written=1 duplicates=0 /m)
        expect(second.stderr).not.toContain("does not look like")
      }).pipe(Effect.scoped),
    180_000
  )
})
