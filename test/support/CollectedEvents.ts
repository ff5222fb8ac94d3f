import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"

/**
 * A stored-ready event of the query `queryId` (fingerprint `select ?`), with its key, start and time: what store
 * tests write through EventWriter without a source or the fingerprint engine.
 */
export const selectEvent = (key: string, queryId: string, startTimeUs: number, queryTimeMs: number): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs, queryTimeMs, sqlText: `select ${key}` }),
  fingerprint: {
    fingerprint: "select ?",
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
