import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The databases and users each query's events came with, per pipeline, so that the API's rankings filter by them
// (issue 14) on slowq_queries' columns instead of scanning events (kept for a while only, and without an index for
// it). Written by the statement that stores the events, from the events it really inserted (a replay adds nothing);
// filled here once from the events the store still has (what retention already pruned is gone).
//
// Each is a set: distinct, sorted in byte order (COLLATE "C", so every server sorts it alike), at most 64 names. A
// query seen under more keeps the 64 first in that order: the merge of two capped sets is the cap of their union, so
// the set does not depend on the order batches came in, nor on whether it was backfilled or written.
//
// The user is the account's name. A MySQL/MariaDB slow log (file or table) writes `user[priv_user] @ host [ip]`: the
// name is the part before `[` (`[SQL_SLAVE]` whole, for a thread without one, as pt-query-digest reports it); a
// source of another dialect (pg_stat_statements: the role's name) gives the name itself, kept as it is.
//
// Each filter is `column @> ARRAY[$n]`, which the GIN indexes serve when the planner prefers them (a rare name).
// Migration 0003's ranking indexes get rows_examined's for the new order.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE OR REPLACE FUNCTION slowq_account_name(user_host text, dialect text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT nullif(CASE
        WHEN dialect <> 'mysql' THEN user_host
        WHEN btrim(user_host) LIKE '[%' THEN btrim(split_part(user_host, '@', 1))
        ELSE btrim(split_part(split_part(user_host, '@', 1), '[', 1))
      END, '')
    $$`
  yield* sql`
    CREATE OR REPLACE FUNCTION slowq_name_set_merge(a text[], b text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN b <@ a THEN a ELSE ARRAY(
        SELECT DISTINCT x COLLATE "C" FROM unnest(a || b) AS u(x) WHERE x IS NOT NULL ORDER BY 1 LIMIT 64
      ) END
    $$`
  // Every event the store holds: with migration 0013, also those packed into blocks (its view reads both tiers).
  const [view] = yield* sql<{ readonly packed: boolean }>`SELECT to_regclass('slowq_events_all') IS NOT NULL AS packed`
  const events = view?.packed === true ? "slowq_events_all" : "slowq_events"
  yield* sql`ALTER TABLE slowq_queries ADD COLUMN IF NOT EXISTS databases text[] NOT NULL DEFAULT '{}'`
  yield* sql`ALTER TABLE slowq_queries ADD COLUMN IF NOT EXISTS users text[] NOT NULL DEFAULT '{}'`
  yield* sql`
    UPDATE slowq_queries q SET databases = coalesce(s.databases, '{}'), users = coalesce(s.users, '{}')
    FROM (
      SELECT e.pipeline, e.query_id,
        (array_agg(DISTINCT nullif(e.db, '') COLLATE "C" ORDER BY nullif(e.db, '') COLLATE "C")
          FILTER (WHERE nullif(e.db, '') IS NOT NULL))[1:64] AS databases,
        (array_agg(DISTINCT slowq_account_name(e.user_host, q.dialect) COLLATE "C"
            ORDER BY slowq_account_name(e.user_host, q.dialect) COLLATE "C")
          FILTER (WHERE slowq_account_name(e.user_host, q.dialect) IS NOT NULL))[1:64] AS users
      FROM ${sql.unsafe(events)} e JOIN slowq_queries q USING (pipeline, query_id)
      GROUP BY e.pipeline, e.query_id
    ) s
    WHERE q.pipeline = s.pipeline AND q.query_id = s.query_id
      AND (s.databases IS NOT NULL OR s.users IS NOT NULL)`
  yield* sql`CREATE INDEX IF NOT EXISTS slowq_queries_databases ON slowq_queries USING gin (databases)`
  yield* sql`CREATE INDEX IF NOT EXISTS slowq_queries_users ON slowq_queries USING gin (users)`
  yield* sql`CREATE INDEX IF NOT EXISTS slowq_queries_rows_examined ON slowq_queries (rows_examined DESC, pipeline, query_id)`
})
