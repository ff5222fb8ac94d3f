import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Schema, Stream } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { attach, type Enrichment } from "../../src/plugin/Enrichment.js"
import { PipelineStage, StageError } from "../../src/plugin/PipelineStage.js"
import { defineSource, defineStage } from "../../src/plugin/Plugin.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// A stage written the way a plugin author would, entirely outside src/: it measures each statement's length, keeps the
// longest per query in its own table (created by its own migration) and remembers how many batches it saw. Nothing
// under src/ knows it; the runtime stores what it attached, and what it remembers, with the batch.

/** The longest text length seen per query. */
const lengths: Enrichment<number> = {
  name: "lengths",
  migrations: {
    "0001_lengths": Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE test_lengths (pipeline text, query_id text, longest int CHECK (longest < 1000), PRIMARY KEY (pipeline, query_id))`
    })
  },
  write: (pipeline, attached) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const longest = new Map<string, number>()
      for (const { event, value } of attached) {
        longest.set(event.fingerprint.queryId, Math.max(value, longest.get(event.fingerprint.queryId) ?? 0))
      }
      yield* sql.unsafe(
        `INSERT INTO test_lengths SELECT $1, q, l FROM unnest($2::text[], $3::int[]) AS i(q, l)
         ON CONFLICT (pipeline, query_id) DO UPDATE SET longest = greatest(test_lengths.longest, excluded.longest)`,
        [pipeline, [...longest.keys()], [...longest.values()]]
      )
    })
}

const Batches = Schema.Struct({ batches: Schema.Number })

const lengthStage = defineStage({
  type: "lengths",
  description: "test stage",
  config: Schema.Struct({
    type: Schema.Literal("lengths"),
    /** The stage fails on a batch holding this text. */
    fail_on: Schema.optional(Schema.String),
    /** The stage attaches a length its table refuses to this text, so that the batch's write fails. */
    oversize: Schema.optional(Schema.String)
  }),
  enrichments: [lengths],
  layer: (config, context) =>
    Layer.succeed(PipelineStage, {
      process: (events: ReadonlyArray<CollectedEvent>) =>
        Effect.gen(function* () {
          const seen = (yield* context.memory.get(["seen"])).get("seen")
          const batches = seen === undefined ? 0 : Schema.decodeUnknownSync(Batches)(seen).batches
          if (events.some((e) => e.event.sqlText === config.fail_on)) {
            return yield* new StageError({ stage: "lengths", message: `refusing ${config.fail_on}` })
          }
          return {
            events: events.map((e) => attach(e, lengths, e.event.sqlText === config.oversize ? 1000 : e.event.sqlText.length)),
            remember: [{ key: "seen", value: { batches: batches + 1 } }]
          }
        })
    })
})

/** Two batches of statements, the checkpoint being the batch number; `SELECT 7` is the first of the second batch. */
const texts = [
  ["SELECT 1", "SELECT 22", "SELECT a FROM t"],
  ["SELECT 7", "SELECT abc FROM t"]
]
const twoBatches = defineSource({
  type: "two_batches",
  description: "test double",
  dialect: "mysql",
  config: Schema.Struct({ type: Schema.Literal("two_batches") }),
  layer: () =>
    Layer.succeed(SlowQuerySource, {
      read: (checkpoint) =>
        Stream.fromIterable(texts.map((batch, i) => ({ batch, i }))).pipe(
          Stream.filter(({ i }) => Option.match(checkpoint, { onNone: () => true, onSome: (c) => i > Number(c) })),
          Stream.map(({ batch, i }) => ({
            events: batch.map((sqlText, j) =>
              makeEvent({ key: `b${i}e${j}`, startTimeUs: 1_700_000_000_000_000 + i * 10 + j, queryTimeMs: 1, sqlText })
            ),
            checkpoint: i
          }))
        )
    })
})

const spec = (options: { readonly fail_on?: string; readonly oversize?: string } = {}): PipelineSpec => ({
  name: "lengths_lab",
  file: "lengths_lab.yaml",
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: { plugin: twoBatches, config: { type: "two_batches" } },
  stages: [{ plugin: lengthStage, config: { type: "lengths", ...options } }],
  sink: { type: "store", samples: "raw" }
})

describe("a stage's enrichment and memory, stored by the runtime", () => {
  it.scoped("are written with their batch, and not at all when the batch is not", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const sql = yield* storeClient(db.url)
      const state = Effect.all({
        lengths: sql.unsafe<{ longest: number }>(`SELECT longest FROM test_lengths ORDER BY longest`),
        memory: sql.unsafe(`SELECT stage, key, value FROM slowq_stage_memory WHERE pipeline = 'lengths_lab'`),
        checkpoint: sql.unsafe(`SELECT checkpoint FROM slowq_checkpoints WHERE pipeline = 'lengths_lab'`),
        events: sql.unsafe(`SELECT count(*)::int AS n FROM slowq_events WHERE pipeline = 'lengths_lab'`)
      })
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        // The second batch fails in the stage: the first is stored whole, nothing of the second.
        const failed = yield* Effect.flip(runner.runOnce(spec({ fail_on: "SELECT 7" })))
        expect(failed.message).toContain("refusing SELECT 7")
        const afterFailure = yield* state
        expect(afterFailure.checkpoint).toEqual([{ checkpoint: 0 }])
        expect(afterFailure.events).toEqual([{ n: 3 }])
        expect(afterFailure.memory).toEqual([{ stage: "lengths", key: "seen", value: { batches: 1 } }])
        // "SELECT 1" and "SELECT 22" share a fingerprint: the longest of the two is kept.
        expect(afterFailure.lengths.map((row) => row.longest)).toEqual([9, 15])

        // The second batch's enrichment write fails inside its transaction: its events, checkpoint and memory roll
        // back with it.
        const refused = yield* Effect.flip(runner.runOnce(spec({ oversize: "SELECT 7" })))
        expect(refused.message).toContain("storing lengths failed")
        expect(yield* state).toEqual(afterFailure)

        const summary = yield* runner.runOnce(spec())
        expect([summary.batches, summary.rowsWritten]).toEqual([1, 2])
        const after = yield* state
        expect(after.checkpoint).toEqual([{ checkpoint: 1 }])
        expect(after.events).toEqual([{ n: 5 }])
        expect(after.memory).toEqual([{ stage: "lengths", key: "seen", value: { batches: 2 } }])
        // "SELECT 7" joins the "SELECT ?" query (9 stays the longest); "SELECT abc FROM t" is a query of its own.
        expect(after.lengths.map((row) => row.longest)).toEqual([9, 15, 17])
        const migrated = yield* sql.unsafe(`SELECT migration_id, name FROM slowq_migrations_lengths`)
        expect(migrated).toEqual([{ migration_id: 1, name: "lengths" }])
      }).pipe(Effect.provide(Runner.layer.pipe(Layer.provide(storeAt(db.url, [lengths])))))
    })
  )
})
