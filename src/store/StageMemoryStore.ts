import { SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Schema } from "effect"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { StageError } from "../plugin/PipelineStage.js"
import type { StageMemory } from "../plugin/StageMemory.js"
import { storableText } from "./Storable.js"
import { StoreClient } from "./StoreClient.js"

// The stages' memory, per pipeline and stage type (slowq_stage_memory, migration 0002). Stages read it here; what they
// remember is written by EventWriter, in the transaction of the batch that produced it.

const make = Effect.gen(function* () {
  const { sql } = yield* StoreClient
  const findEntries = SqlSchema.findAll({
    Request: Schema.Struct({ pipeline: Schema.String, stage: Schema.String, keys: Schema.Array(Schema.String) }),
    Result: Schema.Struct({ key: Schema.String, value: Schema.Unknown }),
    execute: ({ pipeline, stage, keys }) =>
      sql.unsafe(
        `${SLOWQ_MARKER} SELECT key, value FROM slowq_stage_memory WHERE pipeline = $1 AND stage = $2 AND key = ANY($3::text[])`,
        [pipeline, stage, keys]
      )
  })

  /** The memory of stage `stage` in `pipeline`, as the stage sees it. */
  const reader = (pipeline: string, stage: string): StageMemory => ({
    get: (keys) =>
      findEntries({ pipeline, stage, keys: keys.map(storableText) }).pipe(
        Effect.map((rows) => new Map(rows.map((row) => [row.key, row.value]))),
        Effect.mapError(
          (cause) => new StageError({ stage, message: `stage memory in the store failed: ${cause.message}`, cause })
        )
      )
  })
  return { reader } as const
})

/** What stages remember between runs, read from the store. */
export class StageMemoryStore extends Context.Tag("slowq/store/StageMemoryStore")<
  StageMemoryStore,
  Effect.Effect.Success<typeof make>
>() {
  static readonly layer = Layer.effect(this, make)
}
