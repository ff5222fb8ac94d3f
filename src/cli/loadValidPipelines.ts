import { Effect, Either } from "effect"
import { formatConfigError } from "../pipeline/ConfigProblems.js"
import { PipelineLoader } from "../pipeline/Loader.js"
import { CliFailure } from "./CliFailure.js"

/** Loads every pipeline of `dir`, or fails listing every invalid file with all its problems. */
export const loadValidPipelines = (dir: string) =>
  Effect.gen(function* () {
    const loader = yield* PipelineLoader
    const results = yield* loader.loadDirectory(dir).pipe(
      Effect.mapError((error) => new CliFailure({ message: formatConfigError(error) }))
    )
    const invalid = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
    if (invalid.length > 0) {
      return yield* new CliFailure({
        message: [
          `refusing to start: ${invalid.length} invalid pipeline file${invalid.length === 1 ? "" : "s"} (${invalid.map((e) => e.file).join(", ")})`,
          ...invalid.map(formatConfigError)
        ].join("\n")
      })
    }
    const specs = results.flatMap((result) => (Either.isRight(result) ? [result.right] : []))
    // Once per pipeline, at load: a deprecation is worth a line in the log, not one per run.
    for (const spec of specs) {
      for (const note of spec.notes ?? []) {
        yield* Effect.logWarning(`${note.path}  ${note.message}`).pipe(
          Effect.annotateLogs({ pipeline: spec.name, file: `${note.file}:${note.line}:${note.column}` })
        )
      }
    }
    return specs
  })
