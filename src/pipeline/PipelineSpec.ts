import { type Cron, Data, type Duration } from "effect"
import type { SourcePlugin, StagePlugin } from "../plugin/Plugin.js"

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
  readonly sink: { readonly type: "store" }
}

/** One problem in a pipeline file, located as `file:line:col  path  message`. */
export interface ConfigProblem {
  readonly file: string
  readonly line: number
  readonly column: number
  /** Dotted path into the document, e.g. `source.batch_size` or `stages.0.type`; empty for the document. */
  readonly path: string
  readonly message: string
}

/** A pipeline file that cannot be used, with every problem found in it. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly file: string
  readonly problems: ReadonlyArray<ConfigProblem>
  /** Problems found after the first ones in `problems`, counted but not listed. */
  readonly omitted?: number
}> {
  override get message(): string {
    return formatConfigError(this)
  }
}

export const formatConfigError = (error: ConfigError): string => {
  const located = error.problems.map((p) => ({ where: `${p.file}:${p.line}:${p.column}`, problem: p }))
  const whereWidth = Math.max(...located.map((l) => l.where.length))
  const pathWidth = Math.max(...located.map((l) => l.problem.path.length))
  const omitted = error.omitted ?? 0
  const count = error.problems.length + omitted
  return [
    `${error.file} is invalid (${count} problem${count === 1 ? "" : "s"})`,
    ...located.map((l) => `  ${l.where.padEnd(whereWidth)}  ${l.problem.path.padEnd(pathWidth)}  ${l.problem.message}`),
    ...(omitted > 0 ? [`  and ${omitted} more`] : [])
  ].join("\n")
}
