import { Data } from "effect"

export class StoreError extends Data.TaggedError("StoreError")<{
  readonly operation: "connect" | "migrate" | "read" | "write"
  readonly message: string
  readonly cause?: unknown
}> {}
