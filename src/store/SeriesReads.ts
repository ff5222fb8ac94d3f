import { SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Schema } from "effect"
import { type Histogram, quantileMs } from "../domain/LatencyHistogram.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

// A query's time series from the rollups (migrations 0008, 0009): every bucket of the window, its calls, time and
// latency percentiles merged from the minutes' (or, for a step of whole hours, the hours') histograms. One index
// range scan of the query's rows in the window.

/** One bucket of a query's series. */
export const SeriesPoint = Schema.Struct({
  start: Schema.Date.annotations({ description: "The bucket's start (UTC, a multiple of the step since the epoch)." }),
  calls: Schema.Number,
  total_ms: Schema.Number,
  mean_ms: Schema.NullOr(Schema.Number).annotations({ description: "total_ms / calls; null without calls." }),
  max_ms: Schema.NullOr(Schema.Number).annotations({ description: "The slowest event's time per call; null without calls." }),
  p50_ms: Schema.NullOr(Schema.Number),
  p95_ms: Schema.NullOr(Schema.Number),
  p99_ms: Schema.NullOr(Schema.Number).annotations({
    description:
      "Percentiles of the time per call, within 2% of a recorded value (log-scale histogram). An aggregate source (pg_stat_statements) counts each interval's calls at its mean."
  }),
  rows_examined: Schema.Number
}).annotations({ identifier: "SeriesPoint" })
export interface SeriesPoint extends Schema.Schema.Type<typeof SeriesPoint> {}

export interface SeriesOptions {
  /** The pipelines whose rollups count (the query's, or the one asked for). */
  readonly pipelines: ReadonlyArray<string>
  readonly since: Date
  readonly until: Date
  readonly stepSeconds: number
}

// A histogram as the driver parses the jsonb: an object of counts. Checked by one loop rather than
// Schema.Record's per-key decoding, which was half of a day's series of a query seen every minute (1,440 rows of
// ~25 buckets: 15-20 ms of 40).
const isHistogram = (value: unknown): value is Histogram => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  for (const count of Object.values(value)) if (typeof count !== "number") return false
  return true
}
const HistogramJson = Schema.declare(isHistogram, {
  identifier: "Histogram",
  description: "A latency histogram: {bucket: count}"
})

const MinuteRow = Schema.Struct({
  minute: Schema.DateFromSelf,
  calls: Schema.Number,
  total_ms: Schema.Number,
  max_ms: Schema.Number,
  rows_examined: Schema.Number,
  histogram: HistogramJson
})

// A step of whole hours reads the hour rollups: 60 times fewer rows, and kept longer (400 days against 30).
const rollupsSql = (level: "minute" | "hour") => `${SLOWQ_MARKER}
SELECT ${level} AS minute, calls::float8 AS calls, total_ms, max_ms, rows_examined, histogram
FROM slowq_rollups_${level}
WHERE query_id = $1 AND pipeline = ANY($2::text[])
  AND ${level} >= date_trunc('${level}', $3::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND ${level} < $4
ORDER BY ${level}`

interface Bucket {
  calls: number
  totalMs: number
  maxMs: number
  rowsExamined: number
  histogram: Record<string, number>
}

/**
 * The rows folded into buckets of `stepSeconds` aligned on the epoch, every bucket from the one holding `since` to
 * the one before `until`, empty ones included (a chart's gaps are real).
 */
export const foldSeries = (
  rows: ReadonlyArray<typeof MinuteRow.Type>,
  options: Pick<SeriesOptions, "since" | "until" | "stepSeconds">
): ReadonlyArray<SeriesPoint> => {
  const step = options.stepSeconds * 1000
  const first = Math.floor(options.since.getTime() / step) * step
  const buckets = new Map<number, Bucket>()
  for (const row of rows) {
    const start = Math.floor(row.minute.getTime() / step) * step
    let bucket = buckets.get(start)
    if (bucket === undefined) {
      // No prototype: a bucket index is a key like any other.
      bucket = { calls: 0, totalMs: 0, maxMs: 0, rowsExamined: 0, histogram: Object.create(null) as Record<string, number> }
      buckets.set(start, bucket)
    }
    bucket.calls += row.calls
    bucket.totalMs += row.total_ms
    bucket.maxMs = Math.max(bucket.maxMs, row.max_ms)
    bucket.rowsExamined += row.rows_examined
    // Merged as the rows come (mergeHistograms' sum, without keeping every row's histogram until the end).
    for (const key in row.histogram) bucket.histogram[key] = (bucket.histogram[key] ?? 0) + row.histogram[key]!
  }
  const points: Array<SeriesPoint> = []
  for (let start = first; start < options.until.getTime(); start += step) {
    const bucket = buckets.get(start)
    if (bucket === undefined || bucket.calls === 0) {
      points.push({
        start: new Date(start),
        calls: 0,
        total_ms: bucket?.totalMs ?? 0,
        mean_ms: null,
        max_ms: null,
        p50_ms: null,
        p95_ms: null,
        p99_ms: null,
        rows_examined: bucket?.rowsExamined ?? 0
      })
      continue
    }
    const histogram = bucket.histogram
    points.push({
      start: new Date(start),
      calls: bucket.calls,
      total_ms: bucket.totalMs,
      mean_ms: bucket.totalMs / bucket.calls,
      max_ms: bucket.maxMs,
      p50_ms: quantileMs(histogram, 0.5),
      p95_ms: quantileMs(histogram, 0.95),
      p99_ms: quantileMs(histogram, 0.99),
      rows_examined: bucket.rowsExamined
    })
  }
  return points
}

const make = Effect.gen(function* () {
  const { sql, readPermits } = yield* StoreClient
  const findMinutes = SqlSchema.findAll({
    Request: Schema.Struct({
      id: Schema.String,
      pipelines: Schema.Array(Schema.String),
      since: Schema.DateFromSelf,
      until: Schema.DateFromSelf,
      hours: Schema.Boolean
    }),
    Result: MinuteRow,
    execute: (r) => sql.unsafe(rollupsSql(r.hours ? "hour" : "minute"), [r.id, r.pipelines, r.since, r.until])
  })

  /** Query `id`'s series over the window from its rollups. */
  const querySeries = (id: string, options: SeriesOptions) =>
    findMinutes({
      id,
      pipelines: options.pipelines,
      since: options.since,
      until: options.until,
      hours: options.stepSeconds % 3600 === 0
    }).pipe(
      Effect.map((rows) => foldSeries(rows, options)),
      Effect.mapError((cause) => {
        const reason = cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
        return new StoreError({ operation: "read", message: `store read failed: ${reason}`, cause })
      }),
      readPermits.withPermits(1),
      Effect.withSpan("SeriesReads.querySeries")
    )

  return { querySeries } as const
})

/** Time series of queries, read from the rollups. */
export class SeriesReads extends Context.Tag("slowq/store/SeriesReads")<SeriesReads, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
