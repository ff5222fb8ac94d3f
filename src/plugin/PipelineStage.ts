import { Context, Data, type Effect } from "effect"
import type { CollectedEvent } from "../domain/CollectedEvent.js"
import type { QueryFindings } from "./Finding.js"

export class StageError extends Data.TaggedError("StageError")<{
  readonly stage: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** One entry of a stage's memory (see StageMemory): JSON. */
export interface MemoryEntry {
  readonly key: string
  readonly value: unknown
}

/**
 * What a stage made of a batch. Nothing in it is stored by the stage: the runtime writes the events (with what was
 * attached to them) and `remember` in the batch's one transaction, so a crash keeps all of it or none.
 */
export interface StageOutput {
  readonly events: ReadonlyArray<CollectedEvent>
  /** Entries of this stage's memory to set, read back by later batches and runs through `StageContext.memory`. */
  readonly remember: ReadonlyArray<MemoryEntry>
  /**
   * For each query the stage examined in this batch, everything it finds wrong with it now. Its earlier findings of
   * those queries that are not among them are resolved; queries it did not examine keep theirs.
   */
  readonly findings?: ReadonlyArray<QueryFindings>
}

/**
 * The stage port: enriches a batch of events. A stage that cannot enrich one event records why on that
 * event and goes on; it fails the batch only when it cannot work at all.
 */
export class PipelineStage extends Context.Tag("slowq/plugin/PipelineStage")<
  PipelineStage,
  {
    readonly process: (events: ReadonlyArray<CollectedEvent>) => Effect.Effect<StageOutput, StageError>
  }
>() {}
