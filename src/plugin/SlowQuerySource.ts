import { Context, Data, type Option, type Stream } from "effect"
import type { SlowQueryEvent } from "../domain/SlowQueryEvent.js"

/** What a source hands the runtime: events, and where to resume once they are stored. */
export interface SourceBatch {
  readonly events: ReadonlyArray<SlowQueryEvent>
  /**
   * JSON-serializable position after the last event of this batch. The runtime stores it in the same
   * transaction as the events and hands it back to the next `read`.
   */
  readonly checkpoint: unknown
  /**
   * Where the source read the event of this key (e.g. `/var/log/mysql/slow.log byte 1234`), for the report of an
   * event the store refused; optional.
   */
  readonly locate?: (key: string) => string | undefined
}

export class SourceError extends Data.TaggedError("SourceError")<{
  readonly plugin: string
  readonly operation: "connect" | "poll" | "decode"
  /** A sentence a DBA can act on: what failed and what to do about it. */
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The source port. A plugin implements it as a Layer; the runtime owns scheduling, retries and
 * persistence, so `read` is one pass: everything new after `checkpoint`, in batches, then the stream ends.
 */
export class SlowQuerySource extends Context.Tag("slowq/plugin/SlowQuerySource")<
  SlowQuerySource,
  {
    /** `checkpoint` is what the previous stored batch returned, or none on the pipeline's first run. */
    readonly read: (checkpoint: Option.Option<unknown>) => Stream.Stream<SourceBatch, SourceError>
  }
>() {}
