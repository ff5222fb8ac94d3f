import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { minutesFromEventsSql } from "../RollupBackfill.js"

// Per-minute rollups (issue 13): per pipeline, query and minute, the events' counts, sums and maxima and a latency
// histogram (src/domain/LatencyHistogram.ts), written by the statement that stores the events, so that they can
// never disagree with them. Windows and series are read from here instead of the raw events, which can then be
// pruned. A store that already holds events gets their rollups here, so an upgrade loses nothing.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Histograms are sparse jsonb objects {bucket: count}; merging adds counts bucket by bucket. PL/pgSQL: a loop over
  // the (few) buckets of one side is about twice as fast as a set-returning query with an aggregate, and every batch
  // merges one histogram per query, minute and hour it touches.
  yield* sql`
    CREATE FUNCTION slowq_histogram_merge(a jsonb, b jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
      bucket text;
      count text;
      merged jsonb := coalesce(a, '{}'::jsonb);
    BEGIN
      FOR bucket, count IN SELECT key, value FROM jsonb_each_text(coalesce(b, '{}'::jsonb)) LOOP
        merged := jsonb_set(merged, ARRAY[bucket], to_jsonb(coalesce((merged->>bucket)::bigint, 0) + count::bigint));
      END LOOP;
      RETURN merged;
    END
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
  yield* sql.unsafe(minutesFromEventsSql())
})
