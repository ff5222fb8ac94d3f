import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Events past their pipeline's replay window are packed (StorePruner): a replay can no longer reach them, so their
// row each, with its primary key entry and its time index entry (~420 bytes an event), is no longer needed to
// recognize them. They move, a bounded batch per statement, into blocks: one row per pipeline, hour and packing
// statement, each column an array of the block's events sorted by query and time, which PostgreSQL's TOAST
// compresses (repeated query ids, keys, databases, users and attribute names; calls of 1). A block is written once
// and never updated: appending to a compressed array would rewrite it whole. Blocks go by the events' retention.
//
// slowq_events_all reads both tiers as one table of events, for whoever queries the store with SQL and for the
// report's baseline exclusion. Its columns are slowq_events' (but stored_at): a migration that drops or retypes one
// of them must recreate the view.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS slowq_event_blocks (
      pipeline          text NOT NULL,
      hour              timestamptz NOT NULL,
      block             bigint GENERATED ALWAYS AS IDENTITY,
      events            integer NOT NULL,
      query_id          text[] NOT NULL,
      event_key         text[] NOT NULL,
      start_us          bigint[] NOT NULL,
      interval_start_us bigint[] NOT NULL,
      calls             bigint[] NOT NULL,
      query_time_ms     double precision[] NOT NULL,
      lock_time_ms      double precision[] NOT NULL,
      rows_sent         double precision[] NOT NULL,
      rows_examined     double precision[] NOT NULL,
      rows_affected     double precision[] NOT NULL,
      db                text[] NOT NULL,
      user_host         text[] NOT NULL,
      thread_id         bigint[] NOT NULL,
      multi_statement   boolean[] NOT NULL,
      truncated         boolean[] NOT NULL,
      tags              jsonb[] NOT NULL,
      metrics           jsonb[] NOT NULL,
      attributes        jsonb[] NOT NULL,
      PRIMARY KEY (pipeline, hour, block)
    )`
  yield* sql`
    CREATE OR REPLACE VIEW slowq_events_all AS
    SELECT pipeline, event_key, query_id, start_time, start_us, interval_start, calls, query_time_ms, lock_time_ms,
      rows_sent, rows_examined, rows_affected, db, user_host, thread_id, multi_statement, truncated, tags, metrics,
      attributes, false AS packed
    FROM slowq_events
    UNION ALL
    SELECT b.pipeline, e.event_key, e.query_id, 'epoch'::timestamptz + e.start_us * interval '1 microsecond',
      e.start_us, 'epoch'::timestamptz + e.interval_start_us * interval '1 microsecond', e.calls, e.query_time_ms,
      e.lock_time_ms, e.rows_sent, e.rows_examined, e.rows_affected, e.db, e.user_host, e.thread_id,
      e.multi_statement, e.truncated, e.tags, e.metrics, e.attributes, true AS packed
    FROM slowq_event_blocks b
    CROSS JOIN LATERAL unnest(b.query_id, b.event_key, b.start_us, b.interval_start_us, b.calls, b.query_time_ms,
      b.lock_time_ms, b.rows_sent, b.rows_examined, b.rows_affected, b.db, b.user_host, b.thread_id,
      b.multi_statement, b.truncated, b.tags, b.metrics, b.attributes)
      AS e(query_id, event_key, start_us, interval_start_us, calls, query_time_ms, lock_time_ms, rows_sent,
           rows_examined, rows_affected, db, user_host, thread_id, multi_statement, truncated, tags, metrics,
           attributes)`
})
