import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { embeddedStore } from "../../src/store/EmbeddedStore.js"
import { StoreClient } from "../../src/store/StoreClient.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-embedded-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The embedded store's client in `dir`, for the current scope. */
const clientIn = (dir: string) =>
  Layer.build(Layer.fresh(StoreClient.layerEmbedded(dir, []))).pipe(Effect.map((context) => Context.get(context, StoreClient).sql))

describe("embedded store (PGlite)", () => {
  it.live(
    "a new store is created, then served with a 32 MB buffer pool; reopened, it keeps its rows and its pool size",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const created = yield* Effect.gen(function* () {
          const sql = yield* clientIn(dir)
          yield* sql`CREATE TABLE kept (n int)`
          yield* sql`INSERT INTO kept VALUES (7)`
          return yield* sql<{ shared_buffers: string }>`SHOW shared_buffers`
        }).pipe(Effect.scoped)
        expect(created).toEqual([{ shared_buffers: "32MB" }])
        expect(existsSync(join(dir, "data", "PG_VERSION"))).toBe(true)
        const reopened = yield* Effect.gen(function* () {
          const sql = yield* clientIn(dir)
          return {
            rows: yield* sql<{ n: number }>`SELECT n FROM kept`,
            pool: yield* sql<{ shared_buffers: string }>`SHOW shared_buffers`
          }
        }).pipe(Effect.scoped)
        expect(reopened).toEqual({ rows: [{ n: 7 }], pool: [{ shared_buffers: "32MB" }] })
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a store that cannot be created fails with the folder and the cause, and leaves no lock behind",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // The database folder's place is taken by a file: emscripten says ENOTDIR (its errno 54).
        writeFileSync(join(dir, "data"), "not a folder")
        const error = yield* Effect.flip(Effect.scoped(embeddedStore(dir)))
        expect({ tag: error._tag, operation: error.operation, message: error.message }).toEqual({
          tag: "StoreError",
          operation: "connect",
          message: `cannot create the embedded store in ${dir}: ErrnoError (errno 54)`
        })
        expect(existsSync(join(dir, "slowq.lock"))).toBe(false)
      }).pipe(Effect.scoped),
    60_000
  )
})
