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
    return results.flatMap((result) => (Either.isRight(result) ? [result.right] : []))
  })
