import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { SamplePolicy } from "../../src/domain/SamplePolicy.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerEmbedded } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// Events carry no statement text: per query and hour the store keeps the first event's and the slowest's (per call),
// under the pipeline's sample policy, and the query's all-time slowest as its sample. A replay changes none of it.

const HOUR_US = 3_600_000_000
const t0 = 1_700_002_800_000_000 // 2023-11-14T23:00:00Z, a whole hour

const event = (key: string, queryId: string, startTimeUs: number, queryTimeMs: number, sqlText: string, calls = 1): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs, queryTimeMs, calls, sqlText, db: "shop" }),
  fingerprint: {
    fingerprint: "select * from t where email = ?",
    queryId,
    statementType: "select",
    readOnly: true,
    tables: ["t"],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})

const first = [
  event("a", "AAAA", t0 + 10_000_000, 5, "select * from t where email = 'a@x.org'"),
  event("b", "AAAA", t0 + 20_000_000, 50, "select * from t where email = 'b@x.org'"),
  event("c", "AAAA", t0 + 30_000_000, 20, "select * from t where email = 'c@x.org'"),
  // The next hour: its own first and slowest.
  event("d", "AAAA", t0 + HOUR_US + 1_000_000, 7, "select * from t where email = 'd@x.org'"),
  // 3 calls of 6 ms: 18 ms in all, but per call faster than d.
  event("e", "AAAA", t0 + HOUR_US + 2_000_000, 18, "select * from t where email = 'e@x.org'", 3)
]
// A later batch of the same hours: one earlier event (a new first) and one slower (a new slowest); one replayed.
const second = [
  event("f", "AAAA", t0 + 5_000_000, 1, "select * from t where email = 'f@x.org'"),
  event("g", "AAAA", t0 + HOUR_US + 3_000_000, 90, "select * from t where email = 'g@x.org'"),
  first[2]!
]

const samplesOf = (sql: { readonly unsafe: <A extends object>(text: string) => Effect.Effect<ReadonlyArray<A>, unknown> }) =>
  sql.unsafe<{ hour: string; kind: string; event_key: string; sql_text: string; query_time_ms: number; calls: string }>(
    `SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24:MI') AS hour, kind, event_key, sql_text, query_time_ms,
       calls::text AS calls
     FROM slowq_samples ORDER BY hour, kind`
  )

const write = (policy: SamplePolicy) =>
  Effect.gen(function* () {
    const writer = yield* EventWriter
    const a = yield* writer.writeBatch("p1", "mysql", first, 1, { samples: policy })
    const b = yield* writer.writeBatch("p1", "mysql", second, 2, { samples: policy })
    return [a.inserted, b.inserted, b.duplicates]
  })

const expectedRaw = [
  { hour: "23:00", kind: "first", event_key: "f", sql_text: "select * from t where email = 'f@x.org'", query_time_ms: 1, calls: "1" },
  { hour: "23:00", kind: "slowest", event_key: "b", sql_text: "select * from t where email = 'b@x.org'", query_time_ms: 50, calls: "1" },
  { hour: "00:00", kind: "first", event_key: "d", sql_text: "select * from t where email = 'd@x.org'", query_time_ms: 7, calls: "1" },
  { hour: "00:00", kind: "slowest", event_key: "g", sql_text: "select * from t where email = 'g@x.org'", query_time_ms: 90, calls: "1" }
]

describe("samples", () => {
  it.live("raw: the first and the slowest of each hour, replaced only by an earlier or a slower event", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const counts = yield* write("raw").pipe(Effect.provide(storeAt(db.url)))
      expect(counts).toEqual([5, 2, 1])
      const sql = yield* storeClient(db.url)
      // The hours sort as text: 00:00 (the next day) before 23:00.
      expect(yield* samplesOf(sql)).toEqual([expectedRaw[2], expectedRaw[3], expectedRaw[0], expectedRaw[1]])
      expect(yield* sql.unsafe("SELECT count(*)::int AS n FROM slowq_events WHERE sql_text IS NOT NULL")).toEqual([{ n: 0 }])
      expect(yield* sql.unsafe("SELECT sample, max_ms FROM slowq_queries")).toEqual([
        { sample: "select * from t where email = 'g@x.org'", max_ms: 90 }
      ])
    }).pipe(Effect.scoped)
  )

  it.live("normalized: every literal a ?, the same events chosen; none: no text at all", () =>
    Effect.gen(function* () {
      const normalized = yield* freshStoreDatabase
      yield* write("normalized").pipe(Effect.provide(storeAt(normalized.url)))
      const sql = yield* storeClient(normalized.url)
      expect((yield* samplesOf(sql)).map((s) => [s.hour, s.kind, s.event_key, s.sql_text])).toEqual([
        ["00:00", "first", "d", "select * from t where email = ?"],
        ["00:00", "slowest", "g", "select * from t where email = ?"],
        ["23:00", "first", "f", "select * from t where email = ?"],
        ["23:00", "slowest", "b", "select * from t where email = ?"]
      ])
      expect(yield* sql.unsafe("SELECT sample FROM slowq_queries")).toEqual([{ sample: "select * from t where email = ?" }])

      const none = yield* freshStoreDatabase
      yield* write("none").pipe(Effect.provide(storeAt(none.url)))
      const bare = yield* storeClient(none.url)
      expect(yield* samplesOf(bare)).toEqual([])
      expect(yield* bare.unsafe("SELECT sample, events::int FROM slowq_queries")).toEqual([{ sample: "", events: 7 }])
    }).pipe(Effect.scoped)
  )

  it.live("a pipeline switched from raw to normalized: the query's raw sample goes with its next batch, slower or not", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        const writer = yield* EventWriter
        yield* writer.writeBatch("p1", "mysql", [first[1]!], 1, { samples: "raw" })
        yield* writer.writeBatch("p1", "mysql", [first[0]!], 2, { samples: "normalized" })
      }).pipe(Effect.provide(storeAt(db.url)))
      const sql = yield* storeClient(db.url)
      expect(yield* sql.unsafe("SELECT sample, max_ms FROM slowq_queries")).toEqual([
        { sample: "select * from t where email = ?", max_ms: 50 }
      ])
    }).pipe(Effect.scoped)
  )

  it.live("the embedded store (PGlite) keeps the same samples", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-samples-"))),
        (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
      )
      yield* Effect.gen(function* () {
        expect(yield* write("raw")).toEqual([5, 2, 1])
        const { sql } = yield* StoreClient
        expect(yield* samplesOf(sql)).toEqual([expectedRaw[2], expectedRaw[3], expectedRaw[0], expectedRaw[1]])
      }).pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir))))
    }).pipe(Effect.scoped)
  )

  it.live("a store whose events carry their text (migration 0010) is upgraded: every row and total kept, samples taken from them", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* (yield* EventWriter).writeBatch("p1", "mysql", first, 1)
      }).pipe(Effect.provide(storeAt(db.url)))
      // Back to 0010: events with their text, no samples table, nothing after 0010 recorded.
      const sql = yield* storeClient(db.url)
      yield* sql.unsafe("DROP TABLE slowq_samples")
      for (const { event } of first) {
        yield* sql.unsafe("UPDATE slowq_events SET sql_text = $1 WHERE event_key = $2", [event.sqlText, event.key])
      }
      yield* sql.unsafe("ALTER TABLE slowq_events ALTER COLUMN sql_text SET NOT NULL")
      yield* sql.unsafe("DELETE FROM slowq_migrations WHERE migration_id >= 11")
      const before = {
        events: yield* sql.unsafe("SELECT event_key, sql_text, query_time_ms FROM slowq_events ORDER BY event_key"),
        queries: yield* sql.unsafe("SELECT * FROM slowq_queries"),
        minutes: yield* sql.unsafe("SELECT * FROM slowq_rollups_minute ORDER BY minute"),
        hours: yield* sql.unsafe("SELECT * FROM slowq_rollups_hour ORDER BY hour")
      }
      expect(before.events.length).toBe(5)
      yield* Effect.gen(function* () {
        yield* StoreClient
      }).pipe(Effect.provide(storeAt(db.url)))
      expect(yield* sql.unsafe("SELECT event_key, sql_text, query_time_ms FROM slowq_events ORDER BY event_key")).toEqual(before.events)
      expect(yield* sql.unsafe("SELECT * FROM slowq_queries")).toEqual(before.queries)
      expect(yield* sql.unsafe("SELECT * FROM slowq_rollups_minute ORDER BY minute")).toEqual(before.minutes)
      expect(yield* sql.unsafe("SELECT * FROM slowq_rollups_hour ORDER BY hour")).toEqual(before.hours)
      expect((yield* samplesOf(sql)).map((s) => [s.hour, s.kind, s.event_key])).toEqual([
        ["00:00", "first", "d"],
        ["00:00", "slowest", "d"],
        ["23:00", "first", "a"],
        ["23:00", "slowest", "b"]
      ])
      // And the upgraded store goes on: the second batch moves the samples as on a new store.
      const counts = yield* Effect.gen(function* () {
        return (yield* (yield* EventWriter).writeBatch("p1", "mysql", second, 2)).inserted
      }).pipe(Effect.provide(storeAt(db.url)))
      expect(counts).toBe(2)
      expect((yield* samplesOf(sql)).map((s) => [s.hour, s.kind, s.event_key])).toEqual([
        ["00:00", "first", "d"],
        ["00:00", "slowest", "g"],
        ["23:00", "first", "f"],
        ["23:00", "slowest", "b"]
      ])
    }).pipe(Effect.scoped)
  )
})
