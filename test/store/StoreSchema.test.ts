import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Option, Redacted } from "effect"
import { Client } from "pg"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { adminUrl, freshStoreDatabase } from "../support/StoreDatabase.js"
import { openStore } from "../support/StoreServices.js"

const admin = PgClient.make({ url: Redacted.make(adminUrl), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))

const event = (key: string): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs: 1_700_000_000_000_000, queryTimeMs: 12, sqlText: "select * from t where id = 1" }),
  fingerprint: {
    fingerprint: "select * from t where id = ?",
    queryId: "AAAA",
    statementType: "select",
    readOnly: true,
    tables: ["t"],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})

/** A raw client of the scratch database: it sends nothing of its own (PgClient.make would send `SELECT 1`). */
const rawClient = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ connectionString: url })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.end())
  )

describe("Store schema and readiness on PostgreSQL", () => {
  it.live("readiness: ready, read-only, writable again, schema behind, schema missing", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const sql = yield* admin
      const store = yield* openStore(db.url)
      expect(yield* store.readiness).toEqual({ _tag: "Ready" })

      // Existing sessions keep their defaults: the probe must still see what new sessions (and writes) will get.
      yield* sql.unsafe(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`)
      expect(yield* store.readiness).toEqual({
        _tag: "NotReady",
        reason: "read-only",
        message: "store is read-only: default_transaction_read_only is on"
      })
      yield* sql.unsafe(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`)
      expect(yield* store.readiness).toEqual({ _tag: "Ready" })

      const direct = yield* rawClient(db.url)
      // The version the store was migrated to when opened: the newest migration slowq ships.
      const newest = yield* Effect.promise(() => direct.query("SELECT max(migration_id) AS id FROM slowq_migrations"))
      const newestId = Number(newest.rows[0].id)
      expect(newestId).toBeGreaterThan(3)
      yield* Effect.promise(() => direct.query("DELETE FROM slowq_migrations WHERE migration_id > 3"))
      expect(yield* store.readiness).toEqual({
        _tag: "NotReady",
        reason: "schema-behind",
        message: `store schema at version 3, expected ${newestId} (the next run migrates it)`
      })
      yield* Effect.promise(() => direct.query("DROP TABLE slowq_migrations"))
      expect(yield* store.readiness).toEqual({
        _tag: "NotReady",
        reason: "schema-missing",
        message: "store schema missing: no slowq_migrations table (the next run migrates it)"
      })
    }).pipe(Effect.scoped)
  )

  it.live("a database dropped and created again under the store is migrated once, and writes go on", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const sql = yield* admin
      const store = yield* openStore(db.url)
      expect((yield* store.writeBatch("p1", "mysql", [event("a")], { at: 1 })).inserted).toBe(1)

      yield* sql.unsafe(`DROP DATABASE ${db.name} WITH (FORCE)`)
      yield* sql.unsafe(`CREATE DATABASE ${db.name}`)
      expect(yield* store.readiness).toMatchObject({ _tag: "NotReady", reason: "schema-missing" })

      // Three pipelines find the empty database at once: one migrates, the others wait and find the tables.
      const logged: Array<string> = []
      const [first, second, written] = yield* Effect.all(
        [
          store.readCheckpoint("p1"),
          store.readCheckpoint("p2"),
          store.writeBatch("p3", "mysql", [event("b"), event("c")], { at: 2 })
        ],
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message))))))
      expect(logged.filter((line) => line.includes("migrating the store again"))).toHaveLength(1)
      expect(logged.filter((line) => line === "store schema migrated again")).toHaveLength(1)
      expect([first, second]).toEqual([Option.none(), Option.none()])
      expect(written).toMatchObject({ inserted: 2, duplicates: 0, newFingerprints: 1 })
      expect(yield* store.readCheckpoint("p3")).toEqual(Option.some({ at: 2 }))
      expect(yield* store.readiness).toEqual({ _tag: "Ready" })

      const direct = yield* rawClient(db.url)
      const events = yield* Effect.promise(() =>
        direct.query<{ key: string }>("SELECT event_key AS key FROM slowq_events ORDER BY event_key")
      )
      expect(events.rows).toEqual([{ key: "b" }, { key: "c" }])
    }).pipe(Effect.scoped)
  )

  it.live("connecting leaves no untagged statement of its own in pg_stat_statements", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const direct = yield* rawClient(db.url)
      yield* Effect.promise(() => direct.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
      yield* Effect.promise(() =>
        direct.query("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = $1), 0)", [db.name])
      )
      yield* openStore(db.url)
      const rows = yield* Effect.promise(() =>
        direct.query<{ query: string; calls: string }>(
          `SELECT query, calls::text AS calls FROM pg_stat_statements
           WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) AND query ~* '^\\s*(/\\*[^*]*\\*/\\s*)?select \\$1\\s*;?\\s*$'
           ORDER BY query`,
          [db.name]
        )
      )
      // The connection check is there, as slowq's own; the untagged one of PgClient.make is not.
      expect(rows.rows).toEqual([{ query: "/* slowq */ SELECT $1", calls: "1" }])
    }).pipe(Effect.scoped)
  )
})
