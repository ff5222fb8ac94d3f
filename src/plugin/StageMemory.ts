import type { Effect } from "effect"
import type { StageError } from "./PipelineStage.js"

/**
 * What a stage may remember between runs and restarts (e.g. "explained query X at T"), kept by the runtime in
 * the store per pipeline and stage type. Values are JSON.
 */
export interface StageMemory {
  /** The remembered values of these keys; keys never set are absent from the map. */
  readonly get: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, unknown>, StageError>
  readonly set: (entries: ReadonlyArray<{ readonly key: string; readonly value: unknown }>) => Effect.Effect<void, StageError>
}
