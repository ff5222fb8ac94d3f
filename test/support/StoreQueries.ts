import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"

/** A direct client on a test store, to check what slowq wrote. */
export const storeClient = (url: string) =>
  PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))

/**
 * The store's own consistency: per pipeline, the totals must be exactly the sums over the stored events
 * (a double-counted replay or a torn write would break it).
 */
export const totalsMismatches = (sql: PgClient.PgClient) =>
  sql.unsafe<{ pipeline: string; query_id: string }>(`
    SELECT q.pipeline, q.query_id
    FROM slowq_queries q
    FULL JOIN (
      SELECT pipeline, query_id, count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms
      FROM slowq_events GROUP BY pipeline, query_id
    ) e USING (pipeline, query_id)
    WHERE q.events IS DISTINCT FROM e.events OR q.calls IS DISTINCT FROM e.calls
       OR abs(q.total_ms - e.total_ms) > 1e-6 * greatest(1, e.total_ms)`)
