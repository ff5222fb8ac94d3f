import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { Fingerprinted } from "../../src/domain/Fingerprint.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { Store } from "../../src/store/Store.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"

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

const postgresStore = <A, E>(body: Effect.Effect<A, E, Store>) =>
  Effect.gen(function* () {
    const db = yield* freshStoreDatabase
    return yield* body.pipe(Effect.provide(Layer.fresh(Store.layerFromUrl(Redacted.make(db.url)))))
  }).pipe(Effect.scoped)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-embedded-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const embeddedStore = <A, E>(body: Effect.Effect<A, E, Store>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* body.pipe(Effect.provide(Layer.fresh(Store.layerEmbedded(dir))))
  }).pipe(Effect.scoped)

describe.each([
  ["PostgreSQL", postgresStore],
  ["embedded (PGlite)", embeddedStore]
])("Store on %s", (_, withStore) => {
  it.live("stores a batch with its checkpoint, and a replay of it is a no-op", () =>
    withStore(
      Effect.gen(function* () {
        const store = yield* Store
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
        const store = yield* Store
        const memory = store.stageMemory("p", "explain")
        yield* memory.set([
          { key: "AAAA", value: { explainedAt: 1 } },
          { key: "BBBB", value: "x" }
        ])
        yield* memory.set([{ key: "AAAA", value: { explainedAt: 2 } }])
        yield* store.stageMemory("other", "explain").set([{ key: "AAAA", value: 0 }])
        const got = yield* memory.get(["AAAA", "BBBB", "CCCC"])
        expect([...got.entries()].sort()).toEqual([
          ["AAAA", { explainedAt: 2 }],
          ["BBBB", "x"]
        ])
      })
    )
  )

  it.live("refuses an event without a fingerprint and writes nothing", () =>
    withStore(
      Effect.gen(function* () {
        const store = yield* Store
        const bare: CollectedEvent = { event: makeEvent({ key: "k", startTimeUs: 1, queryTimeMs: 1, sqlText: "x" }) }
        const error = yield* Effect.flip(store.writeBatch("p", "mysql", [bare], 1))
        expect(error.message).toBe("event k reached the store without a fingerprint: the pipeline needs a fingerprint stage")
        expect(Option.isNone(yield* store.readCheckpoint("p"))).toBe(true)
      })
    )
  )
})

const buildEmbedded = (dir: string) => Layer.build(Layer.fresh(Store.layerEmbedded(dir))).pipe(Effect.map(Context.get(Store)))

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
