import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"

// Issue 16: one NUL byte in a header field reached a jsonb column, the store refused the batch on every retry and
// nothing after that entry was ever stored.

interface EntryParts {
  readonly bytesSent?: string
  readonly use?: string
  readonly user?: string
  readonly threadId?: string
  readonly sql?: string
}

const entry = (n: number, parts: EntryParts = {}) =>
  Buffer.from(
    `# Time: 240115 10:00:00\n# User@Host: ${parts.user ?? "app[app]"} @ localhost []\n# Thread_id: ${parts.threadId ?? "7"}  Schema: shop  QC_hit: No\n# Query_time: 0.000100  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\n# Rows_affected: 0  Bytes_sent: ${parts.bytesSent ?? "8"}\n${parts.use ?? ""}SET timestamp=${1705312800 + n};\n${parts.sql ?? `SELECT ${n} AS n`};\n`,
    "latin1"
  )

const logDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-nul-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const pipeline = (name: string, path: string) =>
  `name: ${name}\nschedule:\n  every: 1h\nsource:\n  type: mysql_slow_log_file\n  path: ${path}\n  settle_ms: 0\nstages:\n  - type: fingerprint\n`

const R = "\uFFFD"

describe("mysql_slow_log_file with NUL bytes and values the store refuses, through the CLI", () => {
  it.live("NULs in header attributes, `use`, User@Host and a zero-filled block are stored as U+FFFD, and so is all after them", () =>
    Effect.gen(function* () {
      const store = yield* freshStoreDatabase
      const dir = yield* logDir
      const path = join(dir, "slow.log")
      writeFileSync(
        path,
        Buffer.concat([
          entry(1),
          entry(2, { bytesSent: "8\u0000\u0000656" }),
          entry(3, { use: "use sh\u0000op;\n" }),
          entry(4, { user: "ap\u0000p[app]", sql: "SELECT '\u0000' AS n" }),
          // What a crash leaves: a zero-filled block, then the server writes on.
          Buffer.alloc(4096),
          entry(5)
        ])
      )
      const pipelines = yield* pipelinesDir({ "nul.yaml": pipeline("nul_lab", path) })
      const env = { SLOWQ_STORE_URL: store.url }
      const first = yield* runCli(["once", "nul_lab", "--pipelines", pipelines], env)
      expect(first.stdout).toMatch(/^nul_lab {2}ok {2}events=5 new_fingerprints=2 written=5 duplicates=0 dropped=0 /m)
      expect(first.code).toBe(0)

      const sql = yield* storeClient(store.url)
      const rows = yield* sql.unsafe(
        `SELECT rows_examined::int AS n, db, user_host, attributes FROM slowq_events ORDER BY rows_examined`
      )
      // QC_hit: false is not kept: an attribute's zero is what its absence reads as (src/store/KeptAttributes.ts).
      const attributes = { Bytes_sent: 8 }
      expect(rows).toEqual([
        { n: 1, db: "shop", user_host: "app[app] @ localhost []", attributes },
        { n: 2, db: "shop", user_host: "app[app] @ localhost []", attributes: { Bytes_sent: `8${R}${R}656` } },
        { n: 3, db: `sh${R}op`, user_host: "app[app] @ localhost []", attributes },
        { n: 4, db: "shop", user_host: `ap${R}p[app] @ localhost []`, attributes },
        { n: 5, db: "shop", user_host: "app[app] @ localhost []", attributes }
      ])
      // The statements, as samples: each query's first of the hour is also its slowest (equal times, the earlier).
      // The zero block has no line break: it runs into the statement up to the next entry's `# Time:`.
      const zeroBlock = `SELECT '${R}' AS n;\n${R.repeat(4096)}# Time: 240115 10:00:00`
      expect(yield* sql.unsafe(`SELECT kind, sql_text FROM slowq_samples ORDER BY start_time, kind`)).toEqual([
        { kind: "first", sql_text: "SELECT 1 AS n" },
        { kind: "slowest", sql_text: "SELECT 1 AS n" },
        { kind: "first", sql_text: zeroBlock },
        { kind: "slowest", sql_text: zeroBlock }
      ])

      appendFileSync(path, entry(6))
      const second = yield* runCli(["once", "nul_lab", "--pipelines", pipelines], env)
      expect(second.stdout).toMatch(/^nul_lab {2}ok {2}events=1 new_fingerprints=0 written=1 duplicates=0 dropped=0 /m)
    }).pipe(Effect.scoped),
    180_000
  )

  it.live("an entry the store refuses is dropped and reported with its position; the others are stored; the next run goes on", () =>
    Effect.gen(function* () {
      const store = yield* freshStoreDatabase
      const dir = yield* logDir
      const path = join(dir, "slow.log")
      // MySQL's thread ids are unsigned 64-bit; PostgreSQL's bigint stops at 2^63-1.
      const refused = entry(2, { threadId: "18446744073709551615" })
      writeFileSync(path, Buffer.concat([entry(1), refused, entry(3)]))
      const pipelines = yield* pipelinesDir({ "drop.yaml": pipeline("drop_lab", path) })
      const env = { SLOWQ_STORE_URL: store.url }
      const first = yield* runCli(["once", "drop_lab", "--pipelines", pipelines], env)
      expect(first.stdout).toMatch(/^drop_lab {2}ok {2}events=3 new_fingerprints=1 written=2 duplicates=0 dropped=1 /m)
      expect(first.code).toBe(0)

      const sql = yield* storeClient(store.url)
      const key = (yield* sql.unsafe<{ key: string }>(
        `SELECT checkpoint->'files'->0->>'key' AS key FROM slowq_checkpoints WHERE pipeline = 'drop_lab'`
      ))[0]?.key
      expect(key).toMatch(/^[0-9a-f]{16}$/)
      const offset = entry(1).length
      const reason = 'value \\"18446744073709552000\\" is out of range for type bigint [SQLSTATE 22003]'
      const warnings = first.stderr.split("\n").filter((line) => line.includes("event dropped"))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(`level=WARN`)
      expect(warnings[0]).toContain(`message="event dropped: the store refused it: ${reason}"`)
      expect(warnings[0]).toContain(`pipeline=drop_lab event=${key}:${offset}`)
      // The pipeline still lists the deprecated "- type: fingerprint": accepted, and said once, at load.
      const deprecations = first.stderr.split("\n").filter((line) => line.includes("deprecated:"))
      expect(deprecations).toHaveLength(1)
      expect(deprecations[0]).toContain('level=WARN')
      expect(deprecations[0]).toContain(`file=${pipelines}/drop.yaml:9:11 pipeline=drop_lab`)
      expect(warnings[0]).toContain(`position="${path} byte ${offset}"`)
      expect(
        yield* sql.unsafe(`SELECT rows_examined::int AS n FROM slowq_events ORDER BY rows_examined`)
      ).toEqual([{ n: 1 }, { n: 3 }])
      expect(yield* sql.unsafe(`SELECT pipeline, event_key, position FROM slowq_dropped_events`)).toEqual([
        { pipeline: "drop_lab", event_key: `${key}:${offset}`, position: `${path} byte ${offset}` }
      ])

      appendFileSync(path, entry(4))
      const second = yield* runCli(["once", "drop_lab", "--pipelines", pipelines], env)
      expect(second.stdout).toMatch(/^drop_lab {2}ok {2}events=1 new_fingerprints=0 written=1 duplicates=0 dropped=0 /m)
      expect(second.stderr).not.toContain("event dropped")
    }).pipe(Effect.scoped),
    180_000
  )
})
