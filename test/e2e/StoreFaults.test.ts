import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Client } from "pg"
import { request, startHttpDaemon } from "../http/HttpDaemon.js"
import { eventually } from "../support/Poll.js"
import { adminUrl, freshStoreDatabase } from "../support/StoreDatabase.js"

const entry = (n: number) =>
  `# Time: 240115 10:00:00\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: shop  QC_hit: No\n# Query_time: 0.00${100 + n}  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\nSET timestamp=${1705312800 + n};\nSELECT * FROM orders WHERE id = ${n};\n`

const logDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-storefaults-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Events of the pipeline in the store, on a connection of its own (the database is dropped under the test). */
const storedKeys = (url: string) =>
  Effect.tryPromise(async () => {
    const client = new Client({ connectionString: url })
    await client.connect()
    try {
      const result = await client.query<{ rows_examined: string }>(
        "SELECT rows_examined::text FROM slowq_events WHERE pipeline = 'faults' ORDER BY rows_examined"
      )
      return result.rows.map((row) => Number(row.rows_examined))
    } finally {
      await client.end()
    }
  }).pipe(Effect.orElseSucceed(() => [] as Array<number>))

describe("the store's faults under a running daemon", () => {
  it.live(
    "a store database dropped and created empty is migrated again and the next run stores its events; a read-only store is not ready",
    () =>
      Effect.gen(function* () {
        const store = yield* freshStoreDatabase
        const dir = yield* logDir
        const log = join(dir, "slow.log")
        writeFileSync(log, `${entry(1)}${entry(2)}${entry(3)}`)
        const admin = yield* PgClient.make({ url: Redacted.make(adminUrl), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        const daemon = yield* startHttpDaemon(
          {
            "faults.yaml": `name: faults\nschedule:\n  every: 1s\nsource:\n  type: mysql_slow_log_file\n  path: ${log}\n  settle_ms: 0\n`
          },
          { SLOWQ_STORE_URL: store.url }
        )
        const readyz = request(daemon, "GET", "/readyz").pipe(Effect.map((a) => ({ status: a.status, body: JSON.parse(a.text) })))
        const ready = { status: 200, body: { status: "ready", store: true, pipelines: 1 } }

        yield* eventually("the first run's events", storedKeys(store.url).pipe(Effect.map((keys) => keys.length === 3)))
        expect(yield* readyz).toEqual(ready)

        // Dropped and created empty, as a restore or a careless `dropdb && createdb` leaves it.
        yield* admin.unsafe(`DROP DATABASE ${store.name} WITH (FORCE)`)
        yield* admin.unsafe(`CREATE DATABASE ${store.name}`)
        yield* eventually(
          "the events to be stored again in the new database",
          storedKeys(store.url).pipe(Effect.map((keys) => keys.join(",") === "1,2,3")),
          "90 seconds"
        )
        expect(daemon.log()).toContain(
          "store schema missing (relation slowq_checkpoints does not exist): migrating the store again"
        )
        expect(yield* readyz).toEqual(ready)

        yield* admin.unsafe(`ALTER DATABASE ${store.name} SET default_transaction_read_only = on`)
        expect(yield* readyz).toEqual({
          status: 503,
          body: {
            _tag: "NotReadyError",
            message: "store is read-only: default_transaction_read_only is on",
            store: false,
            pipelines: 1
          }
        })
        yield* admin.unsafe(`ALTER DATABASE ${store.name} RESET default_transaction_read_only`)
        expect(yield* readyz).toEqual(ready)
      }).pipe(Effect.scoped),
    240_000
  )
})
