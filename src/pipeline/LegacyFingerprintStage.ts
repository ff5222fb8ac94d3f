/**
 * `- type: fingerprint` in a pipeline's stages, from when fingerprinting was a stage. The runtime now fingerprints
 * every event before the stages, so the entry is accepted for compatibility, its option becomes the pipeline's
 * `fingerprint` block, and the file gets a deprecation note. This is the one place `src/` names that stage type;
 * delete the file (and its call in DecodePipeline) when the entry is no longer accepted.
 */
import { Schema } from "effect"
import { isRecord } from "./DecodeIssues.js"

export const legacyType = "fingerprint"

/** The stage's old config, so that a typo in it is still reported where it is. */
export const LegacyFingerprintStage = Schema.Struct({
  type: Schema.Literal(legacyType),
  match_embedded_numbers: Schema.optionalWith(Schema.Boolean, { exact: true })
})

export const isLegacyFingerprintStage = (block: unknown): boolean => isRecord(block) && block.type === legacyType

export const legacyNote =
  'deprecated: slowq fingerprints every event before the stages; remove "- type: fingerprint" (its match_embedded_numbers goes in the pipeline\'s fingerprint block)'
