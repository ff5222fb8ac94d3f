import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { hoursFromMinutesSql } from "../RollupBackfill.js"

// Per-hour rollups (issue 13): the same figures as the minutes', kept longer (400 days by default against the
// minutes' 30). Written by the statement that stores the events, like the minutes, rather than compacted from them
// later: a late event (a slow log read a day late) then lands in its hour as in its minute, with no compaction job
// to re-run and no moment when the two disagree. A store that already holds minutes gets its hours from them.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE slowq_rollups_hour (
      pipeline        text NOT NULL,
      query_id        text NOT NULL,
      hour            timestamptz NOT NULL,
      events          bigint NOT NULL,
      calls           bigint NOT NULL,
      total_ms        double precision NOT NULL,
      max_ms          double precision NOT NULL,
      lock_ms         double precision NOT NULL,
      rows_sent       double precision NOT NULL,
      rows_examined   double precision NOT NULL,
      rows_affected   double precision NOT NULL,
      first_seen      timestamptz NOT NULL,
      last_seen       timestamptz NOT NULL,
      histogram       jsonb NOT NULL,
      PRIMARY KEY (pipeline, query_id, hour)
    )`
  yield* sql`CREATE INDEX slowq_rollups_hour_time ON slowq_rollups_hour (pipeline, hour)`
  yield* sql.unsafe(hoursFromMinutesSql())
})
