import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// One row per stored event: the unique key makes a replayed batch a no-op. One row per (pipeline, query id)
// holds the running totals, updated in the same statement as the events so they can never disagree.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE slowq_checkpoints (
      pipeline    text PRIMARY KEY,
      checkpoint  jsonb NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE TABLE slowq_queries (
      pipeline        text NOT NULL,
      query_id        text NOT NULL,
      fingerprint     text NOT NULL,
      dialect         text NOT NULL,
      statement_type  text NOT NULL,
      read_only       boolean NOT NULL,
      tables          text[] NOT NULL,
      first_seen      timestamptz NOT NULL,
      last_seen       timestamptz NOT NULL,
      events          bigint NOT NULL,
      calls           bigint NOT NULL,
      total_ms        double precision NOT NULL,
      max_ms          double precision NOT NULL,
      lock_ms         double precision NOT NULL,
      rows_sent       double precision NOT NULL,
      rows_examined   double precision NOT NULL,
      rows_affected   double precision NOT NULL,
      sample          text NOT NULL,
      PRIMARY KEY (pipeline, query_id)
    )`
  yield* sql`
    CREATE TABLE slowq_events (
      pipeline        text NOT NULL,
      event_key       text NOT NULL,
      query_id        text NOT NULL,
      start_time      timestamptz NOT NULL,
      start_us        bigint NOT NULL,
      interval_start  timestamptz,
      calls           bigint NOT NULL,
      query_time_ms   double precision NOT NULL,
      lock_time_ms    double precision NOT NULL,
      rows_sent       double precision NOT NULL,
      rows_examined   double precision NOT NULL,
      rows_affected   double precision NOT NULL,
      db              text,
      user_host       text,
      thread_id       bigint,
      sql_text        text NOT NULL,
      multi_statement boolean NOT NULL,
      truncated       boolean NOT NULL,
      tags            jsonb NOT NULL,
      metrics         jsonb NOT NULL,
      attributes      jsonb NOT NULL,
      stored_at       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (pipeline, event_key)
    )`
  yield* sql`CREATE INDEX slowq_events_query_time ON slowq_events (pipeline, query_id, start_time)`
  yield* sql`CREATE INDEX slowq_events_start_time ON slowq_events (start_time)`
})
