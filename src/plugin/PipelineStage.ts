import { Context, Data, type Effect } from "effect"
import type { CollectedEvent } from "../domain/CollectedEvent.js"

export class StageError extends Data.TaggedError("StageError")<{
  readonly stage: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The stage port: enriches a batch of events. A stage that cannot enrich one event records why on that
 * event and goes on; it fails the batch only when it cannot work at all.
 */
export class PipelineStage extends Context.Tag("slowq/plugin/PipelineStage")<
  PipelineStage,
  {
    readonly process: (events: ReadonlyArray<CollectedEvent>) => Effect.Effect<ReadonlyArray<CollectedEvent>, StageError>
  }
>() {}
