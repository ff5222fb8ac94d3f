import { Data } from "effect"

/** A command that failed in a way the user should read: main prints `message` to stderr and exits non-zero. */
export class CliFailure extends Data.TaggedError("CliFailure")<{
  readonly message: string
}> {}
