import type { Cron, Duration } from "effect"
import type { SamplePolicy } from "../domain/SamplePolicy.js"
import type { FingerprintOptions } from "../fingerprint/Fingerprinter.js"
import type { SourcePlugin, StagePlugin } from "../plugin/Plugin.js"
import type { ConfigProblem } from "./ConfigProblems.js"

export type PipelineSchedule =
  | { readonly _tag: "Every"; readonly every: Duration.Duration; readonly text: string }
  | { readonly _tag: "Cron"; readonly cron: Cron.Cron; readonly text: string }

/** A pipeline as loaded from its YAML file: every plugin resolved, every config decoded. */
export interface PipelineSpec {
  readonly name: string
  readonly file: string
  readonly schedule: PipelineSchedule
  readonly source: { readonly plugin: SourcePlugin; readonly config: unknown }
  readonly stages: ReadonlyArray<{ readonly plugin: StagePlugin; readonly config: unknown }>
  /** Where the batches go: slowq's store, keeping of the statements' text what `samples` says. */
  readonly sink: { readonly type: "store"; readonly samples: SamplePolicy }
  /** The SQL engine's options (the pipeline's `fingerprint` block); absent: its defaults. */
  readonly fingerprint?: FingerprintOptions
  /** What the file should change but may keep for now (deprecations), located like problems; shown by validate, logged at load. */
  readonly notes?: ReadonlyArray<ConfigProblem>
}

