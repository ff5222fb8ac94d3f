import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// What the API asks of a pipeline, kept in the store so that any replica can ask it of the one that runs it
// (src/pipeline/Supervisor.ts): paused or not, and a run asked for now, with its id, which the lease holder takes on
// its next round. The row '*' is the whole scheduler's pause.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS slowq_pipeline_control (
      pipeline       text PRIMARY KEY,
      paused         boolean NOT NULL DEFAULT false,
      run_requested  text,
      requested_at   timestamptz
    )`
})
