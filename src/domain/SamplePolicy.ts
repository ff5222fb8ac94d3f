import { Schema } from "effect"

/**
 * What a pipeline's store keeps of its statements' text (the sink's `samples`). `raw`: samples as the database
 * logged them. `normalized`: every literal replaced by `?` before anything reaches the store, in samples, plans,
 * findings and the stages' memory alike. `none`: no statement text at all, only fingerprints (plans and findings
 * as under `normalized`).
 */
export const SamplePolicy = Schema.Literal("raw", "normalized", "none").annotations({
  description:
    "What the store keeps of the statements' text: raw (as logged), normalized (every literal replaced by ?, in samples, plans, findings and memory) or none (fingerprints only)."
})
export type SamplePolicy = typeof SamplePolicy.Type
