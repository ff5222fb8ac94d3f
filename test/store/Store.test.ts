import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { Fingerprinted } from "../../src/domain/Fingerprint.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import type { MemoryEntry } from "../../src/plugin/PipelineStage.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { QueryReads } from "../../src/store/QueryReads.js"
import { StageMemoryStore } from "../../src/store/StageMemoryStore.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerEmbedded } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeAt } from "../support/StoreServices.js"

const fingerprint = (queryId: string, text: string): Fingerprinted => ({
  fingerprint: text,
  queryId,
  statementType: "select",
  readOnly: true,
  tables: ["test.t"],
  multiStatement: false,
  truncated: false,
  tags: {},
  parser: "tokenizer"
})

const event = (key: string, queryId: string, queryTimeMs: number, startTimeUs: number, sqlText: string): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs, queryTimeMs, sqlText, rowsExamined: 10, lockTimeMs: 0.5 }),
  fingerprint: fingerprint(queryId, "select * from t where id = ?")
})

/** The services a store layer provides (storeServices in StoreLive.ts). */
type StoreServices = StoreClient | EventWriter | QueryReads | StageMemoryStore

const postgresStore = <A, E>(body: Effect.Effect<A, E, StoreServices>) =>
  Effect.gen(function* () {
    const db = yield* freshStoreDatabase
    return yield* body.pipe(Effect.provide(storeAt(db.url)))
  }).pipe(Effect.scoped)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-embedded-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const embeddedStore = <A, E>(body: Effect.Effect<A, E, StoreServices>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* body.pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir))))
  }).pipe(Effect.scoped)

/** What the explain stage asks to remember, as a batch carries it to the store. */
const rememberExplain = (...entries: ReadonlyArray<MemoryEntry>) => ({ remember: [{ stage: "explain", entries }] })

/** MySQL thread ids are unsigned 64-bit; 2^64-1 is beyond PostgreSQL's bigint, so the store refuses the event. */
const refusedEvent = (key: string): CollectedEvent => ({
  event: makeEvent({
    key,
    startTimeUs: 1_700_000_000_000_009,
    queryTimeMs: 1,
    sqlText: "select * from t where id = 9",
    threadId: Number("18446744073709551615")
  }),
  fingerprint: fingerprint("AAAA", "select * from t where id = ?")
})

describe.each([
  ["PostgreSQL", postgresStore],
  ["embedded (PGlite)", embeddedStore]
])("Store on %s", (_, withStore) => {
  it.live("stores a batch with its checkpoint, and a replay of it is a no-op", () =>
    withStore(
      Effect.gen(function* () {
        const store = { ...(yield* EventWriter), ...(yield* QueryReads) }
        expect(Option.isNone(yield* store.readCheckpoint("p1"))).toBe(true)
        const batch = [
          event("a", "AAAA", 10, 1_700_000_000_000_001, "select * from t where id = 1"),
          event("b", "AAAA", 30, 1_700_000_000_000_002, "select * from t where id = 2\u0000"),
          event("c", "BBBB", 5, 1_700_000_000_000_003, "select * from t where id = 3")
        ]
        const first = yield* store.writeBatch("p1", "mysql", batch, { watermark: 42 })
        expect(first).toEqual({ inserted: 3, duplicates: 0, newFingerprints: 2, dropped: [] })
        expect(yield* store.readCheckpoint("p1")).toEqual(Option.some({ watermark: 42 }))

        const replay = yield* store.writeBatch("p1", "mysql", [...batch, event("d", "AAAA", 1, 1_700_000_000_000_004, "x")], {
          watermark: 43
        })
        expect(replay).toEqual({ inserted: 1, duplicates: 3, newFingerprints: 0, dropped: [] })

        const top = yield* store.topQueries({ top: 10 })
        expect(top.map((q) => [q.id, q.calls, q.total_ms, q.max_ms, q.rows_examined, q.lock_ms])).toEqual([
          ["AAAA", 3, 41, 30, 30, 1.5],
          ["BBBB", 1, 5, 5, 10, 0.5]
        ])
        expect(top[0]?.sample).toBe("select * from t where id = 2\uFFFD")
        expect(top[0]?.first_seen.toISOString()).toBe("2023-11-14T22:13:20.000Z")
        expect(top[0]?.tables).toEqual(["test.t"])
        // Another pipeline keeps its own totals and checkpoint.
        expect(yield* store.writeBatch("p2", "mysql", batch.slice(0, 1), "x")).toEqual({
          inserted: 1,
          duplicates: 0,
          newFingerprints: 1,
          dropped: []
        })
        expect((yield* store.topQueries({ top: 10, pipeline: "p2" })).map((q) => [q.pipeline, q.calls])).toEqual([["p2", 1]])
      })
    )
  )

  it.live("remembers stage values per pipeline and stage", () =>
    withStore(
      Effect.gen(function* () {
        const writer = yield* EventWriter
        const memories = yield* StageMemoryStore
        yield* writer.writeBatch(
          "p",
          "mysql",
          [],
          1,
          rememberExplain({ key: "AAAA", value: { explainedAt: 1 } }, { key: "BBBB", value: "x" })
        )
        yield* writer.writeBatch("p", "mysql", [], 2, rememberExplain({ key: "AAAA", value: { explainedAt: 2 } }))
        yield* writer.writeBatch("other", "mysql", [], 1, rememberExplain({ key: "AAAA", value: 0 }))
        const got = yield* memories.reader("p", "explain").get(["AAAA", "BBBB", "CCCC"])
        expect([...got.entries()].sort()).toEqual([
          ["AAAA", { explainedAt: 2 }],
          ["BBBB", "x"]
        ])
      })
    )
  )

  it.live("stores a batch's memory in its transaction: not when any part of the write fails, and past a refused event", () =>
    withStore(
      Effect.gen(function* () {
        const writer = yield* EventWriter
        const { sql } = yield* StoreClient
        const memory = (yield* StageMemoryStore).reader("p", "explain")
        const remembered = memory.get(["AAAA", "BBBB", "CCCC"]).pipe(Effect.map((got) => [...got.entries()].sort()))
        const storedKeys = sql
          .unsafe<{ event_key: string }>(`SELECT event_key FROM slowq_events ORDER BY event_key`)
          .pipe(Effect.map((rows) => rows.map((row) => row.event_key)))
        yield* writer.writeBatch(
          "p",
          "mysql",
          [event("a", "AAAA", 10, 1_700_000_000_000_001, "select * from t where id = 1")],
          { at: 1 },
          rememberExplain({ key: "AAAA", value: 1 })
        )

        // Stands for a connection lost mid-write (SQLSTATE P0001, not the data's): the batch's statement fails, and
        // nothing of the batch is stored, its memory neither.
        yield* sql.unsafe(`CREATE FUNCTION lost() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'lost'; END $$`)
        yield* sql.unsafe(`CREATE TRIGGER lost BEFORE INSERT OR UPDATE ON slowq_checkpoints FOR EACH ROW EXECUTE FUNCTION lost()`)
        const failed = yield* Effect.flip(
          writer.writeBatch(
            "p",
            "mysql",
            [event("b", "AAAA", 20, 1_700_000_000_000_002, "select * from t where id = 2")],
            { at: 2 },
            rememberExplain({ key: "AAAA", value: 2 }, { key: "BBBB", value: 2 })
          )
        )
        expect(failed.message).toBe("store write failed: Failed to execute statement")
        expect(yield* remembered).toEqual([["AAAA", 1]])
        expect(yield* writer.readCheckpoint("p")).toEqual(Option.some({ at: 1 }))
        expect(yield* storedKeys).toEqual(["a"])
        yield* sql.unsafe(`DROP TRIGGER lost ON slowq_checkpoints`)

        // The memory written after the events in the same transaction fails: the events and checkpoint go too.
        yield* sql.unsafe(`CREATE TRIGGER lost BEFORE INSERT OR UPDATE ON slowq_stage_memory FOR EACH ROW EXECUTE FUNCTION lost()`)
        const memoryFailed = yield* Effect.flip(
          writer.writeBatch(
            "p",
            "mysql",
            [event("b", "AAAA", 20, 1_700_000_000_000_002, "select * from t where id = 2")],
            { at: 2 },
            rememberExplain({ key: "AAAA", value: 2 }, { key: "BBBB", value: 2 })
          )
        )
        expect(memoryFailed.message).toBe("storing stage memory failed: Failed to execute statement")
        expect(yield* remembered).toEqual([["AAAA", 1]])
        expect(yield* writer.readCheckpoint("p")).toEqual(Option.some({ at: 1 }))
        expect(yield* storedKeys).toEqual(["a"])
        yield* sql.unsafe(`DROP TRIGGER lost ON slowq_stage_memory`)

        // A refused event is left out; the memory is stored by the last write, with the checkpoint past the batch.
        const result = yield* writer.writeBatch(
          "p",
          "mysql",
          [event("c", "AAAA", 30, 1_700_000_000_000_003, "select * from t where id = 3"), refusedEvent("d")],
          { at: 3 },
          rememberExplain({ key: "AAAA", value: 3 }, { key: "CCCC", value: { explainedAt: 3 } })
        )
        expect(result).toEqual({
          inserted: 1,
          duplicates: 0,
          newFingerprints: 0,
          dropped: [
            { key: "d", position: null, reason: 'value "18446744073709552000" is out of range for type bigint [SQLSTATE 22003]' }
          ]
        })
        expect(yield* remembered).toEqual([
          ["AAAA", 3],
          ["CCCC", { explainedAt: 3 }]
        ])
        expect(yield* writer.readCheckpoint("p")).toEqual(Option.some({ at: 3 }))
        expect(yield* storedKeys).toEqual(["a", "c"])
      })
    )
  )
})

const buildEmbedded = (dir: string) =>
  Layer.build(Layer.fresh(storeLayerEmbedded(dir))).pipe(
    Effect.map((context) => ({ ...Context.get(context, EventWriter), ...Context.get(context, QueryReads) }))
  )

describe("embedded store", () => {
  it.live(
    "a second slowq process on the same folder uses the running one's socket, and data survives a restart",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* Effect.gen(function* () {
          const first = yield* buildEmbedded(dir)
          yield* first.writeBatch("p", "mysql", [event("a", "AAAA", 10, 1, "select 1")], 1)
          // Opening the same folder again while the first serves it must not open the files twice.
          const second = yield* buildEmbedded(dir)
          expect((yield* second.topQueries({ top: 5 })).map((q) => q.calls)).toEqual([1])
        }).pipe(Effect.scoped)
        const reopened = yield* buildEmbedded(dir)
        expect(yield* reopened.readCheckpoint("p")).toEqual(Option.some(1))
      }).pipe(Effect.scoped),
    60_000
  )
})
