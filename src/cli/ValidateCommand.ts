import { Args, Command, Options } from "@effect/cli"
import { Console, Data, Effect, Either } from "effect"
import { PipelineLoader } from "../pipeline/Loader.js"
import { formatConfigError, formatNotes } from "../pipeline/ConfigProblems.js"

/**
 * A pipeline file, or the pipelines directory, is invalid. Every problem is already printed to stderr, so `main`
 * only has to turn this into exit code 1 without printing it again.
 */
export class ValidationFailed extends Data.TaggedError("ValidationFailed")<{ readonly message: string }> {}

const files = Args.text({ name: "file" }).pipe(
  Args.withDescription("Pipeline files to check (default: every *.yaml and *.yml in --pipelines)."),
  Args.repeated
)

const pipelines = Options.directory("pipelines").pipe(
  Options.withDescription("The directory of pipeline files checked when no file is given."),
  Options.withDefault("pipelines")
)

const validate = Effect.fn("ValidateCommand.validate")(function* (input: {
  readonly files: ReadonlyArray<string>
  readonly pipelines: string
}) {
  const loader = yield* PipelineLoader
  const loaded = input.files.length > 0 ? loader.loadFiles(input.files) : loader.loadDirectory(input.pipelines)
  const results = yield* loaded.pipe(
    Effect.tapError((error) => Console.error(formatConfigError(error))),
    Effect.mapError((error) => new ValidationFailed({ message: `${error.file} cannot be used` }))
  )
  let invalid = 0
  for (const result of results) {
    if (Either.isLeft(result)) {
      invalid++
      yield* Console.error(formatConfigError(result.left))
    } else {
      yield* Console.log(`ok  ${result.right.file}  (${result.right.name})`)
      const notes = result.right.notes ?? []
      if (notes.length > 0) yield* Console.log(formatNotes(notes))
    }
  }
  if (invalid > 0) {
    const total = results.length
    const failed = new ValidationFailed({
      message: `${invalid} of ${total} pipeline file${total === 1 ? " is" : "s are"} invalid`
    })
    yield* Console.error(failed.message)
    return yield* failed
  }
})

/** `slowq validate [FILE...]`: every problem of every file, and a non-zero exit when there is one. */
export const validateCommand = Command.make("validate", { files, pipelines }, validate).pipe(
  Command.withDescription("Check pipeline files without running them; print every problem with its file:line:col.")
)
