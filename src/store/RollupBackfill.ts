import { bucketSql } from "../domain/LatencyHistogram.js"

// Rollups built from what a store already holds, in SQL: the migrations that introduced them (0008, 0009) run these
// over a store's existing rows, and a benchmark over rows it seeded directly. `where` filters the rows read (SQL,
// trusted). A migration must do tomorrow what it did today: change these only together with a new migration.

/** Per-minute rollups of the events matching `where`. */
export const minutesFromEventsSql = (where = "true") => `
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
    WHERE ${where}
    GROUP BY 1, 2, 3, 4
  ) AS per_bucket
  GROUP BY pipeline, query_id, minute`

/** Per-hour rollups of the minute rollups matching `where`, histograms merged. */
export const hoursFromMinutesSql = (where = "true") => `
  INSERT INTO slowq_rollups_hour (pipeline, query_id, hour, events, calls, total_ms, max_ms, lock_ms, rows_sent,
    rows_examined, rows_affected, first_seen, last_seen, histogram)
  SELECT pipeline, query_id, hour, sum(events), sum(calls), sum(total_ms), max(max_ms), sum(lock_ms), sum(rows_sent),
    sum(rows_examined), sum(rows_affected), min(first_seen), max(last_seen),
    coalesce((SELECT jsonb_object_agg(bucket, n) FROM (
      SELECT b.key AS bucket, sum(b.value::bigint) AS n
      FROM unnest(array_agg(histogram)) AS h(histogram), jsonb_each_text(h.histogram) AS b
      GROUP BY b.key) AS summed), '{}'::jsonb)
  FROM (
    SELECT *, date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour FROM slowq_rollups_minute
    WHERE ${where}
  ) AS minutes
  GROUP BY pipeline, query_id, hour`
