import type { Effect } from "effect"
import type { StageError } from "./PipelineStage.js"

/**
 * What a stage remembers between runs and restarts (e.g. "explained query X at T"), kept by the runtime in the
 * store per pipeline and stage type. A stage reads it here and sets it by returning `remember` from `process`: the
 * entries are stored with the batch, so the memory never runs ahead of what the store holds.
 */
export interface StageMemory {
  /** The remembered values of these keys; keys never set are absent from the map. */
  readonly get: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, unknown>, StageError>
}
