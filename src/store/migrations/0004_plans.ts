import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Execution plans (issue 5). slowq_plans keeps every distinct plan shape a query has had (hash = shape without
// estimates), so a plan change is a new row; slowq_explains holds the latest outcome per query: a plan (pointing
// at its row in slowq_plans), or why the statement was skipped or why its EXPLAIN failed.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE slowq_plans (
      pipeline        text NOT NULL,
      query_id        text NOT NULL,
      hash            text NOT NULL,
      method          text NOT NULL,
      plan            jsonb NOT NULL,
      first_captured  timestamptz NOT NULL,
      last_captured   timestamptz NOT NULL,
      PRIMARY KEY (pipeline, query_id, hash)
    )`
  yield* sql`
    CREATE TABLE slowq_explains (
      pipeline     text NOT NULL,
      query_id     text NOT NULL,
      status       text NOT NULL CHECK (status IN ('plan', 'skipped', 'failed')),
      reason       text,
      plan_hash    text,
      plan_method  text,
      captured_at  timestamptz NOT NULL,
      PRIMARY KEY (pipeline, query_id),
      CHECK ((status = 'plan') = (plan_hash IS NOT NULL AND reason IS NULL))
    )`
})
