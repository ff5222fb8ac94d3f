import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"

/**
 * A stored-ready event of the query `queryId` (a plain select), with its key, start and time: what store and API tests
 * write through EventWriter without a source or the fingerprint engine. `event` sets any other field of the event
 * (its text is `select KEY` unless given); `fingerprint` the query's fingerprint text (default `select ?`).
 */
export const selectEvent = (
  key: string,
  queryId: string,
  startTimeUs: number,
  queryTimeMs: number,
  options: { readonly event?: Partial<SlowQueryEvent>; readonly fingerprint?: string } = {}
): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs, queryTimeMs, sqlText: `select ${key}`, ...options.event }),
  fingerprint: {
    fingerprint: options.fingerprint ?? "select ?",
    queryId,
    statementType: "select",
    readOnly: true,
    tables: [],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})
