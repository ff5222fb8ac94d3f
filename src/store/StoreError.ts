import { Data } from "effect"

export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: "connect" | "migrate" | "read" | "write"
  readonly message: string
  readonly cause?: unknown
  /** The write was fenced off: its writer no longer holds the pipeline's lease (another replica took it over). */
  readonly leaseLost?: boolean
}> {}
