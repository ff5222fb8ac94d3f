import { Effect } from "effect"
import { DigestInputError, type DigestRun, type DigestRunOptions, digestFiles } from "./DigestFiles.js"

export {
  DigestInputError,
  type DigestProgress,
  type DigestRun,
  type DigestRunOptions,
  defaultThreads,
  type FileSummary,
  type WorkerMessage
} from "./DigestFiles.js"

/**
 * digestFiles as an Effect. Interrupted (Ctrl-C, a failed sibling), it stops the digest and returns once every
 * worker thread it started has exited; the part read on this thread stops at its next chunk, unawaited.
 */
export const runDigest = (options: DigestRunOptions): Effect.Effect<DigestRun, DigestInputError> =>
  Effect.async<DigestRun, DigestInputError>((resume) => {
    const controller = new AbortController()
    const running = digestFiles(options, controller.signal)
    running.then(
      (run) => resume(Effect.succeed(run)),
      // An input that cannot be read is a failure; anything else is a bug (or, once interrupted, the abort).
      (error: unknown) => resume(error instanceof DigestInputError ? Effect.fail(error) : Effect.die(error))
    )
    return Effect.promise(() => {
      controller.abort()
      return running.then(
        () => undefined,
        () => undefined
      )
    })
  })
