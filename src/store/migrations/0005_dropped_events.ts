import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Events the store refused (issue 16): a batch write that fails on one event's data is split until that event is
// found, the rest is stored, and the event is recorded here in the statement that advances the checkpoint past it.
// Logs rotate and run records live only in the daemon's memory; this row stays, so that a dropped event can be
// found afterwards (its key, and where the source read it) and counted per pipeline.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE slowq_dropped_events (
      pipeline    text NOT NULL,
      event_key   text NOT NULL,
      position    text,
      reason      text NOT NULL,
      dropped_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (pipeline, event_key)
    )`
})
