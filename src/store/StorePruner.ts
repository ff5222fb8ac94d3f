import { Clock, Context, Duration, Effect, Layer, Metric } from "effect"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import type { RetentionSettings } from "./Retention.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

/**
 * Deletes what is older than its retention (Retention.ts), in small batches so that ingestion never waits on it:
 * each batch is one short statement of its own, deleting rows no write of a batch touches.
 *
 * Events are kept at least a day behind their pipeline's newest event, whatever the retention: a source re-reads a
 * little after a restart (mysql.slow_log's overlap, a file's last batch), and a re-read event is recognized as stored
 * by its key in slowq_events. Deleted, it would be counted again in the totals and rollups. A rollup is kept while
 * any event it sums is, so that the rollups always cover the stored events.
 */

/** Rows per DELETE: a few milliseconds of work, short row locks. */
export const PRUNE_BATCH = 5000

/** A pipeline's newest events stay for at least this long, for replays to find. */
export const REPLAY_MARGIN = Duration.days(1)

export const prunedRowsTotal = Metric.counter("slowq_store_pruned_rows_total", {
  description: "Rows deleted from the store by retention, by `table`.",
  incremental: true
})

export interface PruneResult {
  readonly events: number
  readonly samples: number
  readonly minutes: number
  readonly hours: number
}

// Per pipeline, the time before which its events may go: the retention's cutoff, but never within REPLAY_MARGIN of
// the pipeline's newest event ($1: the retention's cutoff, $2: the margin in ms).
const eventCutoffs = `event_cutoffs AS (
  SELECT pipeline, least($1::timestamptz, max(last_seen) - $2::float8 * interval '1 millisecond') AS cutoff
  FROM slowq_queries GROUP BY pipeline
)`

// Each DELETE picks a batch through an index (start_time, or the rollups' (pipeline, minute|hour)) and deletes it
// by ctid: bounded work, whatever the backlog.
const pruneEventsSql = `${SLOWQ_MARKER}
WITH ${eventCutoffs},
doomed AS (
  SELECT e.ctid FROM slowq_events e JOIN event_cutoffs c ON c.pipeline = e.pipeline
  WHERE e.start_time < c.cutoff
  LIMIT $3
)
DELETE FROM slowq_events WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1 AS deleted`

// A rollup goes once it is past its own retention ($4) AND every event it sums is past the events' cutoff: it is never
// pruned while events it sums are still kept (a re-read old log's events stay for the replay margin, and so do their
// minutes), so the rollups always cover the stored events.
const pruneRollupsSql = (table: "slowq_rollups_minute" | "slowq_rollups_hour", column: "minute" | "hour") => `${SLOWQ_MARKER}
WITH ${eventCutoffs},
doomed AS (
  SELECT r.ctid FROM ${table} r JOIN event_cutoffs c ON c.pipeline = r.pipeline
  WHERE r.${column} < $4::timestamptz AND r.${column} + interval '1 ${column}' <= c.cutoff
  LIMIT $3
)
DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1 AS deleted`

// Samples hold statement text like the events they were taken from, and go with them: an hour's samples once the
// whole hour is past the events' cutoff.
const pruneSamplesSql = `${SLOWQ_MARKER}
WITH ${eventCutoffs},
doomed AS (
  SELECT s.ctid FROM slowq_samples s JOIN event_cutoffs c ON c.pipeline = s.pipeline
  WHERE s.hour + interval '1 hour' <= c.cutoff
  LIMIT $3
)
DELETE FROM slowq_samples WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1 AS deleted`

const make = Effect.gen(function* () {
  const { sql } = yield* StoreClient

  /** Deletes in batches until a batch comes back short; the number of rows deleted. */
  const drain = (table: string, statement: string, params: (batch: number) => ReadonlyArray<unknown>) =>
    Effect.gen(function* () {
      let deleted = 0
      for (;;) {
        // The deleted rows come back as one small row each: a count every driver (pg, PGlite) reports the same way.
        const rows = yield* sql.unsafe(statement, params(PRUNE_BATCH)).pipe(
          Effect.map((result) => result.length),
          Effect.mapError(
            (cause) => new StoreError({ operation: "write", message: `pruning ${table} failed: ${cause.message}`, cause })
          )
        )
        deleted += rows
        if (rows < PRUNE_BATCH) return deleted
      }
    }).pipe(Effect.tap((deleted) => Metric.incrementBy(prunedRowsTotal.pipe(Metric.tagged("table", table)), deleted)))

  /** One pass over the three levels, each against its own retention, as of now. */
  const pruneOnce = Effect.fn("StorePruner.pruneOnce")(function* (retention: RetentionSettings) {
    const now = yield* Clock.currentTimeMillis
    const before = (keep: Duration.Duration) => new Date(now - Duration.toMillis(keep))
    const eventsBefore = before(retention.events)
    const margin = Duration.toMillis(REPLAY_MARGIN)
    const events = yield* drain("slowq_events", pruneEventsSql, (batch) => [eventsBefore, margin, batch])
    const samples = yield* drain("slowq_samples", pruneSamplesSql, (batch) => [eventsBefore, margin, batch])
    const minutes = yield* drain("slowq_rollups_minute", pruneRollupsSql("slowq_rollups_minute", "minute"), (batch) => [
      eventsBefore,
      margin,
      batch,
      before(retention.minutes)
    ])
    const hours = yield* drain("slowq_rollups_hour", pruneRollupsSql("slowq_rollups_hour", "hour"), (batch) => [
      eventsBefore,
      margin,
      batch,
      before(retention.hours)
    ])
    return { events, samples, minutes, hours } satisfies PruneResult
  })

  /** Prunes every `retention.every` until interrupted; a failed pass is logged and the next one tried. */
  const pruneForever = (retention: RetentionSettings) =>
    Effect.gen(function* () {
      for (;;) {
        yield* pruneOnce(retention).pipe(
          Effect.tap((pruned) =>
            pruned.events + pruned.samples + pruned.minutes + pruned.hours === 0
              ? Effect.void
              : Effect.logInfo("store pruned").pipe(Effect.annotateLogs({ ...pruned }))
          ),
          Effect.catchAll((error) => Effect.logWarning(`${error.message}; retrying in ${Duration.format(retention.every)}`))
        )
        yield* Effect.sleep(retention.every)
      }
    })

  return { pruneOnce, pruneForever } as const
})

/** Retention, applied: the store's old rows deleted in the background. */
export class StorePruner extends Context.Tag("slowq/store/StorePruner")<StorePruner, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
