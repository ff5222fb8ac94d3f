import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Findings (issue 12): what stages found wrong with a query, one row per pipeline, query, stage, scope, rule and subject,
// deduplicated across batches and runs: first and last seen, and resolved when the stage looked at the query again
// and no longer found it. Written in the transaction of the batch that produced them.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE slowq_findings (
      pipeline     text NOT NULL,
      query_id     text NOT NULL,
      stage        text NOT NULL,
      scope        text NOT NULL,
      rule         text NOT NULL,
      subject      text NOT NULL,
      severity     text NOT NULL CHECK (severity IN ('info', 'warn', 'crit')),
      source       text NOT NULL,
      message      text NOT NULL,
      evidence     text NOT NULL,
      advice       text NOT NULL,
      suggestion   jsonb,
      verified     jsonb,
      reduction    float8 NOT NULL CHECK (reduction >= 0 AND reduction <= 1),
      first_seen   timestamptz NOT NULL,
      last_seen    timestamptz NOT NULL,
      resolved_at  timestamptz,
      PRIMARY KEY (pipeline, query_id, stage, scope, rule, subject)
    )`
  yield* sql`CREATE INDEX slowq_findings_open ON slowq_findings (pipeline, severity) WHERE resolved_at IS NULL`
})
