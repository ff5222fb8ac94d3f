import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Events stop carrying their statement text: most of an event's bytes, and the part that may hold personal data. A
// query keeps at most two samples per hour, the first of the hour and the slowest (per call), under the pipeline's
// sample policy. The events stored before keep their text; their hours' samples are taken from them once, here.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE slowq_events ALTER COLUMN sql_text DROP NOT NULL`
  yield* sql`
    CREATE TABLE slowq_samples (
      pipeline        text NOT NULL,
      query_id        text NOT NULL,
      hour            timestamptz NOT NULL,
      kind            text NOT NULL CHECK (kind IN ('first', 'slowest')),
      event_key       text NOT NULL,
      start_time      timestamptz NOT NULL,
      calls           bigint NOT NULL,
      query_time_ms   double precision NOT NULL,
      lock_time_ms    double precision NOT NULL,
      rows_sent       double precision NOT NULL,
      rows_examined   double precision NOT NULL,
      rows_affected   double precision NOT NULL,
      db              text,
      sql_text        text NOT NULL,
      truncated       boolean NOT NULL,
      PRIMARY KEY (pipeline, query_id, hour, kind)
    )`
  // The pruner deletes by hour across pipelines.
  yield* sql`CREATE INDEX slowq_samples_hour ON slowq_samples (hour)`
  yield* sql`
    INSERT INTO slowq_samples (pipeline, query_id, hour, kind, event_key, start_time, calls, query_time_ms,
      lock_time_ms, rows_sent, rows_examined, rows_affected, db, sql_text, truncated)
    SELECT pipeline, query_id, hour, kind, event_key, start_time, calls, query_time_ms, lock_time_ms, rows_sent,
      rows_examined, rows_affected, db, sql_text, truncated
    FROM (
      SELECT DISTINCT ON (pipeline, query_id, hour) 'first' AS kind, *
      FROM (SELECT *, date_trunc('hour', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour FROM slowq_events
            WHERE sql_text IS NOT NULL) e
      ORDER BY pipeline, query_id, hour, start_us, event_key
    ) firsts
    UNION ALL
    SELECT pipeline, query_id, hour, kind, event_key, start_time, calls, query_time_ms, lock_time_ms, rows_sent,
      rows_examined, rows_affected, db, sql_text, truncated
    FROM (
      SELECT DISTINCT ON (pipeline, query_id, hour) 'slowest' AS kind, *
      FROM (SELECT *, date_trunc('hour', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour FROM slowq_events
            WHERE sql_text IS NOT NULL) e
      ORDER BY pipeline, query_id, hour, query_time_ms / greatest(calls, 1) DESC, start_us, event_key
    ) slowest`
})
