import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { projectRoot, runCli } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"

const testdata = (name: string) => join(projectRoot, "plugins/mysql_slow_log_file/testdata", name)

const logDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-formats-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const pipeline = (name: string, path: string) =>
  `name: ${name}\nschedule:\n  every: 1h\nsource:\n  type: mysql_slow_log_file\n  path: ${path}\n  settle_ms: 0\n`

describe("mysql_slow_log_file with unusual slow log formats, into the store (issue 17)", () => {
  it.live(
    "headers without @Host or # Time: one query with a clean sample; each event its own user, thread and schema",
    () =>
      Effect.gen(function* () {
        const store = yield* freshStoreDatabase
        const dir = yield* logDir
        copyFileSync(testdata("percona-user-without-host.log"), join(dir, "slow.log"))
        copyFileSync(testdata("blank-line-at-end.log"), join(dir, "other-slow.log"))
        const pipelines = yield* pipelinesDir({ "formats.yaml": pipeline("formats", join(dir, "*slow.log")) })
        const result = yield* runCli(["once", "formats", "--pipelines", pipelines], {
          SLOWQ_STORE_URL: store.url,
          SLOWQ_HTTP_ADDR: "127.0.0.1:0"
        })
        expect(result.code).toBe(0)
        expect(result.stdout).toMatch(/^formats {2}ok {2}events=4 new_fingerprints=2 written=4 duplicates=0 /m)
        expect(result.stderr).not.toContain("level=WARN")

        const sql = yield* storeClient(store.url)
        const events = yield* sql.unsafe<{ fingerprint: string; user_host: string; thread_id: string; db: string; query_time_ms: number }>(
          `SELECT q.fingerprint, e.user_host, e.thread_id::text, e.db, e.query_time_ms
           FROM slowq_events e JOIN slowq_queries q USING (pipeline, query_id)
           WHERE e.pipeline = 'formats' ORDER BY e.query_time_ms, q.fingerprint`
        )
        expect(events).toEqual([
          { fingerprint: "select ? from foo", user_host: "u[u] @ [1.2.3.4]", thread_id: "1", db: "db", query_time_ms: 100 },
          { fingerprint: "select a from t?", user_host: "app[app] @ localhost [127.0.0.1]", thread_id: "7", db: "shop", query_time_ms: 100 },
          { fingerprint: "select ? from foo", user_host: "u[u] @ [1.2.3.4]", thread_id: "2", db: "db", query_time_ms: 200 },
          { fingerprint: "select a from t?", user_host: "app[app] @ localhost [127.0.0.1]", thread_id: "7", db: "shop", query_time_ms: 300 }
        ])
        expect(yield* sql.unsafe(`SELECT DISTINCT sql_text FROM slowq_samples WHERE pipeline = 'formats' ORDER BY 1`)).toEqual([
          { sql_text: "SELECT 1 FROM foo" },
          { sql_text: "SELECT 2 FROM foo" },
          { sql_text: "SELECT a FROM t1" }
        ])
        // The sample is the slowest statement of the query, as pt-query-digest's.
        const queries = yield* sql.unsafe<{ fingerprint: string; events: string; total_ms: number; sample: string }>(
          `SELECT fingerprint, events::text, total_ms, sample FROM slowq_queries WHERE pipeline = 'formats' ORDER BY fingerprint`
        )
        expect(queries).toEqual([
          { fingerprint: "select ? from foo", events: "2", total_ms: 300, sample: "SELECT 2 FROM foo" },
          { fingerprint: "select a from t?", events: "2", total_ms: 400, sample: "SELECT a FROM t1" }
        ])
      }).pipe(Effect.scoped),
    120_000
  )
})
