import { Data } from "effect"

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

/** Problems shown per file: past this a listing only hides the first ones, and costs time to print. */
export const maxProblemsShown = 100

/** A file that could not be read at all: the problem is the file itself, so it points at its start. */
export const unreadable = (file: string, message: string): ConfigError =>
  new ConfigError({ file, problems: [{ file, line: 1, column: 1, path: "", message }] })

/**
 * The error for a file's decoding problems: each said once (a schema and the checks around it may find the same
 * thing), in file order so the listing reads top to bottom, the first `maxProblemsShown` listed and the rest counted.
 */
export const invalidFile = (file: string, problems: ReadonlyArray<ConfigProblem>): ConfigError => {
  const seen = new Set<string>()
  const all = problems
    .filter((problem) => {
      const id = `${problem.line}:${problem.column}:${problem.path}:${problem.message}`
      const first = !seen.has(id)
      seen.add(id)
      return first
    })
    .sort((a, b) => a.line - b.line || a.column - b.column)
  const omitted = Math.max(0, all.length - maxProblemsShown)
  return new ConfigError({ file, problems: all.slice(0, maxProblemsShown), ...(omitted > 0 ? { omitted } : {}) })
}

/** `  file:line:col  path  message` per problem, the columns aligned. */
const problemLines = (problems: ReadonlyArray<ConfigProblem>): Array<string> => {
  const located = problems.map((p) => ({ where: `${p.file}:${p.line}:${p.column}`, problem: p }))
  const whereWidth = Math.max(...located.map((l) => l.where.length))
  const pathWidth = Math.max(...located.map((l) => l.problem.path.length))
  return located.map((l) => `  ${l.where.padEnd(whereWidth)}  ${l.problem.path.padEnd(pathWidth)}  ${l.problem.message}`)
}

export const formatConfigError = (error: ConfigError): string => {
  const omitted = error.omitted ?? 0
  const count = error.problems.length + omitted
  return [
    `${error.file} is invalid (${count} problem${count === 1 ? "" : "s"})`,
    ...problemLines(error.problems),
    ...(omitted > 0 ? [`  and ${omitted} more`] : [])
  ].join("\n")
}

/** A valid file's notes (deprecations), located and aligned as problems are, one line each. */
export const formatNotes = (notes: ReadonlyArray<ConfigProblem>): string => problemLines(notes).join("\n")
