import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// What stages remember between runs (e.g. when a query was last explained), per pipeline and stage type.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE slowq_stage_memory (
      pipeline    text NOT NULL,
      stage       text NOT NULL,
      key         text NOT NULL,
      value       jsonb NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (pipeline, stage, key)
    )`
})
