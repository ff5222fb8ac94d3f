import type { PgClient } from "@effect/sql-pg"
import { Effect, Option, Schema } from "effect"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { StoreError } from "./StoreError.js"

// The reads behind the HTTP API's query endpoints. Each row schema is also the API's response schema, so the
// OpenAPI document and the SQL cannot drift apart. Timestamps leave PostgreSQL as ISO 8601 text in UTC (`iso`
// below), which is what `Schema.Date` decodes here and encodes again in the API's JSON.

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

export const QueryOrder = Schema.Literal("total_ms", "avg_ms", "calls", "max_ms").annotations({
  description: "What the fingerprints are ranked by, largest first."
})
export type QueryOrder = typeof QueryOrder.Type

// Fixed SQL per order (never interpolated from input): ties broken by pipeline and id so pages are stable.
const orderSql: Record<QueryOrder, string> = {
  total_ms: "total_ms DESC, pipeline, id",
  avg_ms: "avg_ms DESC, pipeline, id",
  calls: "calls DESC, pipeline, id",
  max_ms: "max_ms DESC, pipeline, id"
}

const figures = {
  events: Schema.Number.annotations({ description: "Stored events (one per statement for log sources)." }),
  calls: Schema.Number.annotations({ description: "Executions." }),
  total_ms: Schema.Number.annotations({ description: "Total execution time, ms." }),
  avg_ms: Schema.Number.annotations({ description: "total_ms / calls." }),
  max_ms: Schema.Number.annotations({ description: "Slowest single execution seen (for aggregates: slowest interval average), ms." }),
  lock_ms: Schema.Number.annotations({ description: "Total lock time, ms." }),
  rows_sent: Schema.Number,
  rows_examined: Schema.Number,
  rows_affected: Schema.Number,
  first_seen: Schema.Date.annotations({ description: "Start of the first execution seen (in the window, when one is given)." }),
  last_seen: Schema.Date.annotations({ description: "Start of the last execution seen (in the window, when one is given)." })
}

const classification = {
  fingerprint: Schema.String.annotations({ description: "The normalized text every statement of the class shares." }),
  dialect: Schema.String,
  statement_type: Schema.String,
  read_only: Schema.Boolean,
  tables: Schema.Array(Schema.String)
}

/** One fingerprint of one pipeline in a ranking. */
export const QueryListItem = Schema.Struct({
  id: Schema.String.annotations({ description: "The query id (fingerprint hash)." }),
  pipeline: Schema.String,
  ...classification,
  ...figures,
  plan_known: Schema.Boolean.annotations({ description: "Whether an EXPLAIN plan of this fingerprint is stored." })
}).annotations({ identifier: "QueryListItem" })
export interface QueryListItem extends Schema.Schema.Type<typeof QueryListItem> {}

/** One fingerprint's totals since it was first seen, over every pipeline asked for. */
export const QueryStats = Schema.Struct({
  id: Schema.String,
  pipelines: Schema.Array(Schema.String).annotations({ description: "Pipelines that saw this fingerprint." }),
  ...classification,
  ...figures,
  slowest_sample: Schema.String.annotations({ description: "Text of the slowest execution seen, as stored." })
}).annotations({ identifier: "QueryStats" })
export interface QueryStats extends Schema.Schema.Type<typeof QueryStats> {}

/** One time bucket of a fingerprint's series. */
export const QueryInterval = Schema.Struct({
  start: Schema.Date.annotations({ description: "Start of the bucket (for aggregate sources, of their interval)." }),
  events: Schema.Number,
  calls: Schema.Number,
  total_ms: Schema.Number,
  avg_ms: Schema.Number,
  max_ms: Schema.Number,
  rows_sent: Schema.Number,
  rows_examined: Schema.Number
}).annotations({ identifier: "QueryInterval" })
export interface QueryInterval extends Schema.Schema.Type<typeof QueryInterval> {}

/** One stored event of a fingerprint, newest first. */
export const QuerySample = Schema.Struct({
  pipeline: Schema.String,
  start_time: Schema.Date,
  calls: Schema.Number,
  query_time_ms: Schema.Number,
  lock_time_ms: Schema.Number,
  rows_sent: Schema.Number,
  rows_examined: Schema.Number,
  rows_affected: Schema.Number,
  db: Schema.NullOr(Schema.String),
  sql_text: Schema.String.annotations({ description: "The statement as stored under the pipeline's sample policy." }),
  truncated: Schema.Boolean
}).annotations({ identifier: "QuerySample" })
export interface QuerySample extends Schema.Schema.Type<typeof QuerySample> {}

export interface TimeWindow {
  /** Inclusive. */
  readonly since?: Date
  /** Exclusive. */
  readonly until?: Date
}

export interface ListQueriesOptions extends TimeWindow {
  readonly pipeline?: string
  readonly order: QueryOrder
  readonly limit: number
  readonly offset: number
}

export interface ListQueriesResult {
  readonly queries: ReadonlyArray<QueryListItem>
  /** Whether another page follows this one. */
  readonly more: boolean
}

const decodeListItems = Schema.decodeUnknown(Schema.Array(QueryListItem))
const decodeStats = Schema.decodeUnknown(Schema.Array(QueryStats))
const decodeIntervals = Schema.decodeUnknown(Schema.Array(QueryInterval))
const decodeSamples = Schema.decodeUnknown(Schema.Array(QuerySample))
const decodeOutcomes = Schema.decodeUnknown(
  Schema.Array(Schema.Struct({ pipeline: Schema.String, status: Schema.String, queries: Schema.Number }))
)

// Whether the explain stage stored a plan of the query in that pipeline (slowq_plans, migration 0004); computed
// for the page's rows only.
const planKnown = (pipeline: string, id: string) =>
  `EXISTS (SELECT 1 FROM slowq_plans p WHERE p.pipeline = ${pipeline} AND p.query_id = ${id})`

// All-time ranking: the per-query totals read in the index order of the ranking (migration 0003), cut to the page,
// then formatted. The inner ORDER BY names output columns, so `avg_ms` is the indexed expression.
const listAllTimeSql = (order: QueryOrder) => `${SLOWQ_MARKER}
SELECT r.id, r.pipeline, r.fingerprint, r.dialect, r.statement_type, r.read_only, r.tables, r.events, r.calls,
  r.total_ms, r.avg_ms, r.max_ms, r.lock_ms, r.rows_sent, r.rows_examined, r.rows_affected,
  ${iso("r.first_seen")} AS first_seen, ${iso("r.last_seen")} AS last_seen, ${planKnown("r.pipeline", "r.id")} AS plan_known
FROM (
  SELECT query_id AS id, pipeline, fingerprint, dialect, statement_type, read_only, tables,
    events::float8 AS events, calls::float8 AS calls, total_ms, total_ms / greatest(calls, 1) AS avg_ms, max_ms,
    lock_ms, rows_sent, rows_examined, rows_affected, first_seen, last_seen
  FROM slowq_queries
  WHERE ($1::text IS NULL OR pipeline = $1)
  ORDER BY ${orderSql[order]}
  LIMIT $2 OFFSET $3
) r
ORDER BY ${orderSql[order]}`

// Windowed ranking: aggregated from the events in [since, until), ranked and cut to the page BEFORE the join
// with the per-query rows, so only one page of them is read. The scan uses the start_time index. The final ORDER BY
// names output columns (r.*), which PostgreSQL prefers over the joined table's columns of the same name.
const listWindowSql = (order: QueryOrder) => `${SLOWQ_MARKER}
WITH ranked AS (
  SELECT * FROM (
    SELECT query_id AS id, pipeline, count(*)::float8 AS events, sum(calls)::float8 AS calls,
      sum(query_time_ms) AS total_ms, sum(query_time_ms) / greatest(sum(calls), 1) AS avg_ms,
      max(query_time_ms / greatest(calls, 1)) AS max_ms, sum(lock_time_ms) AS lock_ms, sum(rows_sent) AS rows_sent,
      sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected, min(start_time) AS first_seen,
      max(start_time) AS last_seen
    FROM slowq_events
    WHERE ($1::text IS NULL OR pipeline = $1)
      AND ($4::timestamptz IS NULL OR start_time >= $4) AND ($5::timestamptz IS NULL OR start_time < $5)
    GROUP BY pipeline, query_id
  ) w
  ORDER BY ${orderSql[order]}
  LIMIT $2 OFFSET $3
)
SELECT r.id, r.pipeline, q.fingerprint, q.dialect, q.statement_type, q.read_only, q.tables, r.events, r.calls,
  r.total_ms, r.avg_ms, r.max_ms, r.lock_ms, r.rows_sent, r.rows_examined, r.rows_affected,
  ${iso("r.first_seen")} AS first_seen, ${iso("r.last_seen")} AS last_seen, ${planKnown("r.pipeline", "r.id")} AS plan_known
FROM ranked r JOIN slowq_queries q ON q.pipeline = r.pipeline AND q.query_id = r.id
ORDER BY ${orderSql[order]}`

// One query over the pipelines that hold it (all of them, or the one asked for). The query_id index of
// migration 0003 finds them without a pipeline. Its classification is the same in every pipeline (the id is a
// hash of the fingerprint): it is taken from the first.
const statsSql = `${SLOWQ_MARKER}
WITH q AS (
  SELECT * FROM slowq_queries WHERE query_id = $1 AND ($2::text IS NULL OR pipeline = $2)
),
first AS (
  SELECT query_id, fingerprint, dialect, statement_type, tables FROM q ORDER BY pipeline LIMIT 1
),
totals AS (
  SELECT array_agg(pipeline ORDER BY pipeline) AS pipelines, bool_and(read_only) AS read_only,
    sum(events)::float8 AS events, sum(calls)::float8 AS calls, sum(total_ms) AS total_ms,
    sum(total_ms) / greatest(sum(calls), 1) AS avg_ms, max(max_ms) AS max_ms, sum(lock_ms) AS lock_ms,
    sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected,
    min(first_seen) AS first_seen, max(last_seen) AS last_seen,
    (array_agg(sample ORDER BY max_ms DESC, pipeline))[1] AS slowest_sample
  FROM q
)
SELECT f.query_id AS id, t.pipelines, f.fingerprint, f.dialect, f.statement_type, t.read_only, f.tables, t.events,
  t.calls, t.total_ms, t.avg_ms, t.max_ms, t.lock_ms, t.rows_sent, t.rows_examined, t.rows_affected,
  ${iso("t.first_seen")} AS first_seen, ${iso("t.last_seen")} AS last_seen, t.slowest_sample
FROM first f CROSS JOIN totals t`

// Buckets of `$5` seconds aligned on the epoch; aggregate sources are bucketed by their interval's start.
const intervalsSql = `${SLOWQ_MARKER}
SELECT ${iso("bucket")} AS start, count(*)::float8 AS events, sum(calls)::float8 AS calls,
  sum(query_time_ms) AS total_ms, sum(query_time_ms) / greatest(sum(calls), 1) AS avg_ms,
  max(query_time_ms / greatest(calls, 1)) AS max_ms, sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined
FROM (
  SELECT e.*, date_bin($5::float8 * interval '1 second', coalesce(e.interval_start, e.start_time), timestamptz 'epoch') AS bucket
  FROM slowq_events e
  JOIN slowq_queries q ON q.pipeline = e.pipeline AND q.query_id = e.query_id
  WHERE q.query_id = $1 AND ($2::text IS NULL OR q.pipeline = $2) AND e.start_time >= $3 AND e.start_time < $4
) b
GROUP BY bucket
ORDER BY bucket`

const samplesSql = `${SLOWQ_MARKER}
SELECT e.pipeline, ${iso("e.start_time")} AS start_time, e.calls::float8 AS calls, e.query_time_ms, e.lock_time_ms,
  e.rows_sent, e.rows_examined, e.rows_affected, e.db, e.sql_text, e.truncated
FROM slowq_events e
JOIN slowq_queries q ON q.pipeline = e.pipeline AND q.query_id = e.query_id
WHERE q.query_id = $1 AND ($2::text IS NULL OR q.pipeline = $2)
  AND ($3::timestamptz IS NULL OR e.start_time >= $3) AND ($4::timestamptz IS NULL OR e.start_time < $4)
ORDER BY e.start_time DESC, e.pipeline, e.event_key
LIMIT $5`

/**
 * At most this many API reads hold a connection of the store's pool (4) at once, so that a flood of HTTP requests
 * queues here instead of in the pool, ahead of the pipelines' writes (and at most 2 × 16 MB of work_mem is used).
 */
export const concurrentReads = 2

/** The store's reads for the HTTP API, on the store's own client (merged into the Store service). */
export const makeQueryReads = (sql: PgClient.PgClient) => {
  const permits = Effect.unsafeMakeSemaphore(concurrentReads)

  // A window's events are grouped per query: with the default 4 MB of work_mem PostgreSQL sorts them on disk; with
  // 16 MB it hashes them in memory, about 3x faster for a busy hour (measured: 195 → 58 ms for 124k events).
  // SET LOCAL needs the transaction; it ends with it.
  const withAggregateMemory = <A, E, R>(read: Effect.Effect<A, E, R>) =>
    sql.withTransaction(Effect.zipRight(sql.unsafe(`${SLOWQ_MARKER} SET LOCAL work_mem = '16MB'`), read))
  // SqlError's own message is generic ("Failed to execute statement"); the server's reason is its cause's.
  const readError = (cause: { readonly message: string; readonly cause?: unknown }) => {
    const reason = cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
    return new StoreError({ operation: "read", message: `store read failed: ${reason}`, cause })
  }

  /**
   * Top fingerprints: all-time totals when no window is given; else aggregated from the events whose start
   * is in [since, until). Reads one row more than the page to tell whether another page follows.
   */
  const listQueries = Effect.fn("Store.listQueries")(function* (options: ListQueriesOptions) {
    const windowed = options.since !== undefined || options.until !== undefined
    const read = windowed
      ? withAggregateMemory(
          sql.unsafe(listWindowSql(options.order), [
            options.pipeline ?? null,
            options.limit + 1,
            options.offset,
            options.since ?? null,
            options.until ?? null
          ])
        )
      : sql.unsafe(listAllTimeSql(options.order), [options.pipeline ?? null, options.limit + 1, options.offset])
    const rows = yield* read.pipe(Effect.flatMap(decodeListItems), Effect.mapError(readError), permits.withPermits(1))
    return { queries: rows.slice(0, options.limit), more: rows.length > options.limit } satisfies ListQueriesResult
  })

  /** One fingerprint's all-time figures over the pipelines that saw it; none if no pipeline did. */
  const queryStats = Effect.fn("Store.queryStats")(function* (id: string, pipeline?: string) {
    const rows = yield* sql
      .unsafe(statsSql, [id, pipeline ?? null])
      .pipe(Effect.flatMap(decodeStats), Effect.mapError(readError), permits.withPermits(1))
    return Option.fromNullable(rows[0])
  })

  /** The fingerprint's events in [since, until) summed per bucket of `bucketSeconds`, oldest first. */
  const queryIntervals = Effect.fn("Store.queryIntervals")(function* (
    id: string,
    options: { readonly pipeline?: string; readonly since: Date; readonly until: Date; readonly bucketSeconds: number }
  ) {
    return yield* sql
      .unsafe(intervalsSql, [id, options.pipeline ?? null, options.since, options.until, options.bucketSeconds])
      .pipe(Effect.flatMap(decodeIntervals), Effect.mapError(readError), permits.withPermits(1))
  })

  /** The fingerprint's most recent stored events (in the window, when one is given), newest first. */
  const querySamples = Effect.fn("Store.querySamples")(function* (
    id: string,
    options: TimeWindow & { readonly pipeline?: string; readonly limit: number }
  ) {
    return yield* sql
      .unsafe(samplesSql, [id, options.pipeline ?? null, options.since ?? null, options.until ?? null, options.limit])
      .pipe(Effect.flatMap(decodeSamples), Effect.mapError(readError), permits.withPermits(1))
  })

  /** How many queries have each latest EXPLAIN outcome, per pipeline (slowq_explains, migration 0004). */
  const explainOutcomes = Effect.fn("Store.explainOutcomes")(function* () {
    return yield* sql
      .unsafe(
        `${SLOWQ_MARKER} SELECT pipeline, status, count(*)::float8 AS queries FROM slowq_explains
         GROUP BY pipeline, status ORDER BY pipeline, status`
      )
      .pipe(Effect.flatMap(decodeOutcomes), Effect.mapError(readError), permits.withPermits(1))
  })

  return { listQueries, queryStats, queryIntervals, querySamples, explainOutcomes } as const
}
