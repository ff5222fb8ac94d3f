import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { bucketSql } from "../../domain/LatencyHistogram.js"

// Per-minute rollups (issue 13): per pipeline, query and minute, the events' counts, sums and maxima and a latency
// histogram (src/domain/LatencyHistogram.ts), written by the statement that stores the events, so that they can
// never disagree with them. Windows and series are read from here instead of the raw events, which can then be
// pruned. A store that already holds events gets their rollups here, so an upgrade loses nothing.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Histograms are sparse jsonb objects {bucket: count}; merging adds counts bucket by bucket.
  yield* sql`
    CREATE FUNCTION slowq_histogram_merge(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
      SELECT coalesce(jsonb_object_agg(bucket, total), '{}'::jsonb)
      FROM (
        SELECT bucket, sum(count::bigint) AS total
        FROM (
          SELECT key AS bucket, value AS count FROM jsonb_each_text(coalesce(a, '{}'::jsonb))
          UNION ALL
          SELECT key, value FROM jsonb_each_text(coalesce(b, '{}'::jsonb))
        ) AS both_sides
        GROUP BY bucket
      ) AS summed
    $$`
  yield* sql`
    CREATE TABLE slowq_rollups_minute (
      pipeline        text NOT NULL,
      query_id        text NOT NULL,
      minute          timestamptz NOT NULL,
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
      PRIMARY KEY (pipeline, query_id, minute)
    )`
  yield* sql`CREATE INDEX slowq_rollups_minute_time ON slowq_rollups_minute (pipeline, minute)`
  yield* sql.unsafe(`
    INSERT INTO slowq_rollups_minute (pipeline, query_id, minute, events, calls, total_ms, max_ms, lock_ms, rows_sent,
      rows_examined, rows_affected, first_seen, last_seen, histogram)
    SELECT pipeline, query_id, minute, sum(events), sum(calls), sum(total_ms), max(max_ms), sum(lock_ms),
      sum(rows_sent), sum(rows_examined), sum(rows_affected), min(first_seen), max(last_seen),
      coalesce(jsonb_object_agg(bucket, calls) FILTER (WHERE calls > 0), '{}'::jsonb)
    FROM (
      SELECT pipeline, query_id, date_trunc('minute', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
        ${bucketSql("(query_time_ms / greatest(calls, 1))")} AS bucket,
        count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms,
        max(query_time_ms / greatest(calls, 1)) AS max_ms, sum(lock_time_ms) AS lock_ms, sum(rows_sent) AS rows_sent,
        sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected, min(start_time) AS first_seen,
        max(start_time) AS last_seen
      FROM slowq_events
      GROUP BY 1, 2, 3, 4
    ) AS per_bucket
    GROUP BY pipeline, query_id, minute`)
})
