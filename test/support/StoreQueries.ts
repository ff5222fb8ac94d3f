import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"

/** A direct client on a test store, to check what slowq wrote. */
export const storeClient = (url: string) =>
  PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))

/** Rollups of one level that disagree with the events they were written from: counts, sums, or histogram counts. */
const rollupMismatchesSql = (table: "slowq_rollups_minute" | "slowq_rollups_hour", level: "minute" | "hour") => `
    SELECT pipeline, query_id
    FROM ${table} r
    FULL JOIN (
      SELECT pipeline, query_id, date_trunc('${level}', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ${level},
        count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms
      FROM slowq_events_all GROUP BY 1, 2, 3
    ) e USING (pipeline, query_id, ${level})
    WHERE r.events IS DISTINCT FROM e.events OR r.calls IS DISTINCT FROM e.calls
       OR abs(r.total_ms - e.total_ms) > 1e-6 * greatest(1, e.total_ms)
       OR (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(r.histogram)) IS DISTINCT FROM r.calls`

/**
 * The store's own consistency: the queries whose stored totals, or minute or hour rollups, are not exactly the sums
 * over their stored events (a double-counted replay or a torn write would break it): none, when every batch stored
 * its events, totals and rollups together. Stored events are those of slowq_events_all: a daemon's pruner packs the
 * events past a pipeline's replay window into blocks at every start, which a test that restarts it meets.
 */
export const totalsMismatches = (sql: PgClient.PgClient) =>
  sql.unsafe<{ pipeline: string; query_id: string }>(`
    SELECT q.pipeline, q.query_id
    FROM slowq_queries q
    FULL JOIN (
      SELECT pipeline, query_id, count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms
      FROM slowq_events_all GROUP BY pipeline, query_id
    ) e USING (pipeline, query_id)
    WHERE q.events IS DISTINCT FROM e.events OR q.calls IS DISTINCT FROM e.calls
       OR abs(q.total_ms - e.total_ms) > 1e-6 * greatest(1, e.total_ms)
    UNION ${rollupMismatchesSql("slowq_rollups_minute", "minute")}
    UNION ${rollupMismatchesSql("slowq_rollups_hour", "hour")}`)

/**
 * The events of `pipeline` whose statement holds `marker` in a name (an alias, a table): events carry no text, so
 * they are found by their query's fingerprint, which keeps names. `events` rows of slowq_events, `calls` their sum.
 */
export const markedEvents = (sql: PgClient.PgClient, pipeline: string, marker: string) =>
  sql
    .unsafe<{ events: string; calls: string }>(
      `SELECT count(*)::text AS events, coalesce(sum(e.calls), 0)::text AS calls
       FROM slowq_events e JOIN slowq_queries q USING (pipeline, query_id)
       WHERE e.pipeline = $1 AND q.fingerprint LIKE $2`,
      [pipeline, `%${marker}%`]
    )
    .pipe(Effect.map((rows) => ({ events: Number(rows[0]!.events), calls: Number(rows[0]!.calls) })))
