import { Clock, Context, Duration, Effect, Layer, Metric, Schema } from "effect"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import type { RetentionSettings } from "./Retention.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

/**
 * Deletes what is older than its retention (Retention.ts), in small batches so that ingestion never waits on it:
 * each batch is one short statement of its own, touching rows no write of a batch touches.
 *
 * Events are kept at least a day behind their pipeline's newest event, whatever the retention: a source re-reads a
 * little after a restart (mysql.slow_log's overlap, a file's last batch), and a re-read event is recognized as stored
 * by its key in slowq_events. Deleted, it would be counted again in the totals and rollups. A rollup is kept while
 * any event it sums is, so that the rollups always cover the stored events.
 *
 * Past that day (the replay window) no re-read reaches an event, so its row, its primary key entry and its time index
 * entry have done their work: the events still within their retention are packed into slowq_event_blocks (migration
 * 0013), about a quarter of the bytes, and the blocks go by the same retention.
 */

/** Rows per DELETE: a few milliseconds of work, short row locks. */
export const PRUNE_BATCH = 5000

/**
 * Events per packing statement, and so at most per block: large enough for the block's arrays to compress well
 * (TOAST compresses each from about 2 KB), small enough for a statement of a fraction of a second.
 */
export const PACK_BATCH = 20_000

/** Blocks per DELETE: each holds up to PACK_BATCH events, stored out of line in TOAST chunks deleted with it. */
export const BLOCK_PRUNE_BATCH = 50

/** A pipeline's newest events stay for at least this long, for replays to find. */
export const REPLAY_MARGIN = Duration.days(1)

export const prunedRowsTotal = Metric.counter("slowq_store_pruned_rows_total", {
  description: "Rows deleted from the store by retention, by `table`.",
  incremental: true
})

export const packedEventsTotal = Metric.counter("slowq_store_packed_events_total", {
  description: "Events moved from slowq_events into slowq_event_blocks once past their pipeline's replay window.",
  incremental: true
})

export interface PruneResult {
  /** Events deleted by retention: rows of slowq_events and events of the blocks deleted. */
  readonly events: number
  /** Events packed into blocks. */
  readonly packed: number
  /** Blocks deleted by retention. */
  readonly blocks: number
  readonly samples: number
  readonly minutes: number
  readonly hours: number
}

/** The sizes of the pruner's statements; the defaults outside tests. */
export interface PruneBatches {
  readonly rows: number
  readonly pack: number
  readonly blocks: number
}

const defaultBatches: PruneBatches = { rows: PRUNE_BATCH, pack: PACK_BATCH, blocks: BLOCK_PRUNE_BATCH }

// Per pipeline, the time before which its events may go: the retention's cutoff, but never within REPLAY_MARGIN of
// the pipeline's newest event ($1: the retention's cutoff, $2: the margin in ms).
const eventCutoffs = `event_cutoffs AS (
  SELECT pipeline, least($1::timestamptz, max(last_seen) - $2::float8 * interval '1 millisecond') AS cutoff
  FROM slowq_queries GROUP BY pipeline
)`

// Per pipeline, the time before which its events are past the replay window ($1: the margin in ms).
const packCutoffsSql = `${SLOWQ_MARKER}
SELECT pipeline, max(last_seen) - $1::float8 * interval '1 millisecond' AS cutoff
FROM slowq_queries GROUP BY pipeline ORDER BY pipeline`

// The columns of an event in slowq_events and, as arrays, in slowq_event_blocks (migration 0013).
const blockColumns = [
  "query_id",
  "event_key",
  "start_us",
  "calls",
  "query_time_ms",
  "lock_time_ms",
  "rows_sent",
  "rows_examined",
  "rows_affected",
  "db",
  "user_host",
  "thread_id",
  "multi_statement",
  "truncated",
  "tags",
  "metrics",
  "attributes"
]

// The oldest $3 events of pipeline $1 before its cutoff $2 move into blocks in one statement: the DELETE's rows are
// what the INSERT packs, so an event is in exactly one of the two tables at any instant, whatever the crash. Oldest
// first, so that a statement's blocks cover few hours, through the time index: a pipeline and a cutoff given as
// values (not joined from the cutoffs, whose rows the planner cannot guess) let the planner see how few rows are
// old in a store whose newest day is most of slowq_events. One block per hour of the batch; its arrays sorted by
// query, time and key, so that each query's ids and texts repeat side by side, where TOAST's compression finds them.
const packEventsSql = `${SLOWQ_MARKER}
WITH moving AS (
  SELECT ctid FROM slowq_events WHERE pipeline = $1 AND start_time < $2::timestamptz ORDER BY start_time LIMIT $3
),
moved AS (
  DELETE FROM slowq_events WHERE ctid IN (SELECT ctid FROM moving)
  RETURNING pipeline, start_time, interval_start, ${blockColumns.join(", ")}
),
packed AS (
  INSERT INTO slowq_event_blocks (pipeline, hour, events, interval_start_us, ${blockColumns.join(", ")})
  SELECT pipeline, date_trunc('hour', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*),
    array_agg((extract(epoch FROM interval_start) * 1000000)::bigint ORDER BY query_id, start_us, event_key),
    ${blockColumns.map((column) => `array_agg(${column} ORDER BY query_id, start_us, event_key)`).join(",\n    ")}
  FROM moved GROUP BY 1, 2
)
SELECT 1 AS counted FROM moved`

// Each DELETE picks a batch through an index (start_time, or the rollups' (pipeline, minute|hour)) and deletes it
// by ctid: bounded work, whatever the backlog.
const pruneEventsSql = `${SLOWQ_MARKER}
WITH ${eventCutoffs},
doomed AS (
  SELECT e.ctid FROM slowq_events e JOIN event_cutoffs c ON c.pipeline = e.pipeline
  WHERE e.start_time < c.cutoff
  LIMIT $3
)
DELETE FROM slowq_events WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1 AS counted`

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
DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM doomed) RETURNING 1 AS counted`

// Samples hold statement text like the events they were taken from, and go with them, as do the packed events'
// blocks: an hour's once the whole hour is past the events' cutoff. A block's rows return its event count.
const pruneWholeHoursSql = (table: "slowq_samples" | "slowq_event_blocks", returning: string) => `${SLOWQ_MARKER}
WITH ${eventCutoffs},
doomed AS (
  SELECT t.ctid FROM ${table} t JOIN event_cutoffs c ON c.pipeline = t.pipeline
  WHERE t.hour + interval '1 hour' <= c.cutoff
  LIMIT $3
)
DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM doomed) RETURNING ${returning} AS counted`
const pruneSamplesSql = pruneWholeHoursSql("slowq_samples", "1")
const pruneBlocksSql = pruneWholeHoursSql("slowq_event_blocks", "events")

// What the statements return, one row per row deleted or moved (`counted`: 1, or a block's event count), and the
// pipelines' cutoffs.
const decodeCounted = Schema.decodeUnknown(Schema.Array(Schema.Struct({ counted: Schema.Number })))
const decodeCutoffs = Schema.decodeUnknown(Schema.Array(Schema.Struct({ pipeline: Schema.String, cutoff: Schema.DateFromSelf })))

const make = Effect.gen(function* () {
  const { sql } = yield* StoreClient

  /**
   * Runs `statement` until a batch comes back short: the rows it returned (one per row deleted or moved), and the sum
   * of their `counted` column (a block's events for the blocks, else the rows).
   */
  const drain = (table: string, statement: string, batch: number, params: (batch: number) => ReadonlyArray<unknown>) =>
    Effect.gen(function* () {
      let rows = 0
      let sum = 0
      for (;;) {
        // One small row each: a count every driver (pg, PGlite) reports the same way.
        const result = yield* sql.unsafe(statement, params(batch)).pipe(
          Effect.flatMap(decodeCounted),
          Effect.mapError(
            (cause) => new StoreError({ operation: "write", message: `pruning ${table} failed: ${cause.message}`, cause })
          )
        )
        rows += result.length
        for (const row of result) sum += row.counted
        if (result.length < batch) return { rows, sum }
      }
    })
  const counted = (table: string, metric: typeof prunedRowsTotal) => (done: { readonly rows: number }) =>
    Metric.incrementBy(metric.pipe(Metric.tagged("table", table)), done.rows)

  /**
   * One pass over the levels, each against its own retention, as of now: events past retention go, the rest past the
   * replay window are packed (deleting first, so nothing is packed only to be deleted), then blocks, samples and
   * rollups past retention go.
   */
  const pruneOnce = Effect.fn("StorePruner.pruneOnce")(function* (
    retention: RetentionSettings,
    batches: PruneBatches = defaultBatches
  ) {
    const now = yield* Clock.currentTimeMillis
    const before = (keep: Duration.Duration) => new Date(now - Duration.toMillis(keep))
    const eventsBefore = before(retention.events)
    const margin = Duration.toMillis(REPLAY_MARGIN)
    const rows = yield* drain("slowq_events", pruneEventsSql, batches.rows, (n) => [eventsBefore, margin, n]).pipe(
      Effect.tap(counted("slowq_events", prunedRowsTotal))
    )
    const cutoffs = yield* sql.unsafe(packCutoffsSql, [margin]).pipe(
      Effect.flatMap(decodeCutoffs),
      Effect.mapError(
        (cause) => new StoreError({ operation: "read", message: `pruning slowq_events failed: ${cause.message}`, cause })
      )
    )
    let packed = 0
    for (const { pipeline, cutoff } of cutoffs) {
      const done = yield* drain("slowq_events", packEventsSql, batches.pack, (n) => [pipeline, cutoff, n])
      yield* Metric.incrementBy(packedEventsTotal, done.rows)
      packed += done.rows
    }
    const blocks = yield* drain("slowq_event_blocks", pruneBlocksSql, batches.blocks, (n) => [eventsBefore, margin, n]).pipe(
      Effect.tap(counted("slowq_event_blocks", prunedRowsTotal))
    )
    const samples = yield* drain("slowq_samples", pruneSamplesSql, batches.rows, (n) => [eventsBefore, margin, n]).pipe(
      Effect.tap(counted("slowq_samples", prunedRowsTotal))
    )
    const minutes = yield* drain("slowq_rollups_minute", pruneRollupsSql("slowq_rollups_minute", "minute"), batches.rows, (n) => [
      eventsBefore,
      margin,
      n,
      before(retention.minutes)
    ]).pipe(Effect.tap(counted("slowq_rollups_minute", prunedRowsTotal)))
    const hours = yield* drain("slowq_rollups_hour", pruneRollupsSql("slowq_rollups_hour", "hour"), batches.rows, (n) => [
      eventsBefore,
      margin,
      n,
      before(retention.hours)
    ]).pipe(Effect.tap(counted("slowq_rollups_hour", prunedRowsTotal)))
    return {
      events: rows.rows + blocks.sum,
      packed,
      blocks: blocks.rows,
      samples: samples.rows,
      minutes: minutes.rows,
      hours: hours.rows
    } satisfies PruneResult
  })

  /** Prunes every `retention.every` until interrupted; a failed pass is logged and the next one tried. */
  const pruneForever = (retention: RetentionSettings) =>
    Effect.gen(function* () {
      for (;;) {
        yield* pruneOnce(retention).pipe(
          Effect.tap((pruned) =>
            pruned.events + pruned.packed + pruned.samples + pruned.minutes + pruned.hours === 0
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
