import { Context, Effect, Layer, Option, ParseResult, Schema } from "effect"
import { bucketValueMs } from "../domain/LatencyHistogram.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { windowRanges } from "./QueryReads.js"
import { rangeParams, rollupRangesSql } from "./RollupRanges.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

// A query's time series from the rollups (migrations 0008, 0009): every bucket of the window, its calls, time and
// latency percentiles merged from the minutes' (for a step of whole hours, the whole hours' and the edges' minutes')
// histograms. Index range scans of the query's rows in the window.

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
  /** The one pipeline whose rollups count; all that hold the query when absent. */
  readonly pipeline?: string
  readonly since: Date
  readonly until: Date
  readonly stepSeconds: number
}

// The read is one statement: the pipelines that hold the query (none: the query is unknown, a 404) on every row, and
// per step of the window its sums and its rollups' histograms as one JSON array of jsonb's texts,
// `[{"<bucket>": <count>, ...}, ...]`, read by a scan of its characters into pairs of numbers (a day of a query seen
// every minute is 1,440 minute rows of ~30 buckets: the driver's JSON.parse of each histogram into an object keyed
// by bucket, a Struct decode per row, string-keyed merging and quantiles that sorted each bucket's entries were about
// 40 ms of CPU per such series). One row per step rather than one per rollup row: the driver's work per row was a
// third of such a series; the same figures sent per minute as one row of comma-joined texts cost more to split and
// convert here than PostgreSQL's sums, and scanning every step's histograms into one shared array of pairs was three
// times slower than into an array per step. Most of what is left is jsonb's output of the histograms (about 6 of the
// 8 ms such a series takes in PostgreSQL; merging them there with jsonb_each took 60-110 ms) and their scan here.
interface StepRowText {
  readonly pipelines: ReadonlyArray<string> | null
  /** Null on the one row of a window without rollups. */
  readonly at_ms: number | null
  readonly calls: number | null
  readonly total_ms: number | null
  readonly max_ms: number | null
  readonly rows_examined: number | null
  readonly histograms: string | null
}

/** A step's rollups as folded: its histograms as pairs [bucket, count, bucket, count, …]. */
export interface RollupRow {
  readonly at_ms: number
  readonly calls: number
  readonly total_ms: number
  readonly max_ms: number
  readonly rows_examined: number
  readonly histogram: ReadonlyArray<number>
}

interface SeriesRows {
  readonly pipelines: ReadonlyArray<string> | null
  readonly rows: ReadonlyArray<RollupRow>
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null
const isNumberOrNull = (value: unknown) => value === null || typeof value === "number"
const isStepRowText = (value: unknown): value is StepRowText => {
  if (!isRecord(value)) return false
  const { pipelines } = value
  if (pipelines !== null && !(Array.isArray(pipelines) && pipelines.every((p) => typeof p === "string"))) return false
  return (
    isNumberOrNull(value.at_ms) &&
    isNumberOrNull(value.calls) &&
    isNumberOrNull(value.total_ms) &&
    isNumberOrNull(value.max_ms) &&
    isNumberOrNull(value.rows_examined) &&
    (value.histograms === null || typeof value.histograms === "string")
  )
}
const isStepRowsText = (value: unknown): value is ReadonlyArray<StepRowText> =>
  Array.isArray(value) && value.length > 0 && value.every(isStepRowText)

const QUOTE = 34
const COMMA = 44
const COLON = 58
const SPACE = 32
const ZERO = 48
const NINE = 57
const OPEN = 123
const CLOSE = 125
const OPEN_ARRAY = 91
const CLOSE_ARRAY = 93
/** Above any bucket of a finite latency (bucketOf of the largest double is 17,743): counts are an array by index. */
const MAX_BUCKET = 18_000

/**
 * Adds the pairs [bucket, count, …] of the histogram whose jsonb text starts at `i` of `text`, `{"173": 2, "200": 1}`,
 * where bucket indexes and counts are non-negative integers (bucketSql's buckets, counts of calls): the index after
 * it, or -1 for any other text.
 */
const scanHistogram = (text: string, start: number, pairs: Array<number>): number => {
  if (text.charCodeAt(start) !== OPEN) return -1
  let i = start + 1
  if (text.charCodeAt(i) === CLOSE) return i + 1
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return -1
    const keyStart = ++i
    let bucket = 0
    for (let c = text.charCodeAt(i); c >= ZERO && c <= NINE; c = text.charCodeAt(++i)) bucket = bucket * 10 + (c - ZERO)
    // A canonical index: digits, no leading zero, at most MAX_BUCKET.
    const digits = i - keyStart
    if (digits === 0 || digits > 5 || bucket > MAX_BUCKET || (digits > 1 && text.charCodeAt(keyStart) === ZERO)) return -1
    if (text.charCodeAt(i) !== QUOTE || text.charCodeAt(i + 1) !== COLON || text.charCodeAt(i + 2) !== SPACE) return -1
    i += 3
    const countStart = i
    let count = 0
    for (let c = text.charCodeAt(i); c >= ZERO && c <= NINE; c = text.charCodeAt(++i)) count = count * 10 + (c - ZERO)
    if (i === countStart || i - countStart > 15) return -1
    pairs.push(bucket, count)
    if (text.charCodeAt(i) === CLOSE) return i + 1
    if (text.charCodeAt(i) !== COMMA || text.charCodeAt(i + 1) !== SPACE) return -1
    i += 2
  }
}

/** The pairs of a JSON array of histograms as the store prints them, `[{"173": 2},{"7": 1, "173": 1}]`. */
const pairsOfJsonbTexts = (text: string): Array<number> | undefined => {
  const last = text.length - 1
  if (last < 1 || text.charCodeAt(0) !== OPEN_ARRAY || text.charCodeAt(last) !== CLOSE_ARRAY) return undefined
  const pairs: Array<number> = []
  if (last === 1) return pairs
  for (let i = 1; ; i++) {
    i = scanHistogram(text, i, pairs)
    if (i < 0) return undefined
    if (i === last) return pairs
    if (text.charCodeAt(i) !== COMMA) return undefined
  }
}

/** Any other JSON array of objects of counts by canonical bucket index (the general reading). */
const pairsOfJson = (text: string): Array<number> | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed)) return undefined
  const pairs: Array<number> = []
  for (const histogram of parsed) {
    if (!isRecord(histogram) || Array.isArray(histogram)) return undefined
    for (const [key, count] of Object.entries(histogram)) {
      const bucket = Number(key)
      if (!Number.isSafeInteger(bucket) || bucket < 0 || bucket > MAX_BUCKET || String(bucket) !== key) return undefined
      if (typeof count !== "number" || !(count >= 0)) return undefined
      pairs.push(bucket, count)
    }
  }
  return pairs
}

/** The pairs [bucket, count, …] of a JSON array of histograms as the store prints it; undefined if it is not one. */
export const histogramPairs = (text: string): Array<number> | undefined => pairsOfJsonbTexts(text) ?? pairsOfJson(text)

const SeriesFromRows = Schema.transformOrFail(
  Schema.declare(isStepRowsText, {
    identifier: "SeriesRowsText",
    description:
      "A window's steps: the query's pipelines (null: none) on every row, each step's start as epoch ms, calls, total_ms, max_ms, rows_examined and its histograms as a JSON array; one row of nulls without any"
  }),
  Schema.declare(
    (value: unknown): value is SeriesRows => isRecord(value) && "pipelines" in value && isRecord(value.rows),
    { identifier: "SeriesRows" }
  ),
  {
    strict: true,
    decode: (steps, _, ast) => {
      const rows: Array<RollupRow> = []
      for (const step of steps) {
        if (step.at_ms === null) continue
        const { calls, total_ms, max_ms, rows_examined, histograms } = step
        if (calls === null || total_ms === null || max_ms === null || rows_examined === null || histograms === null) {
          return ParseResult.fail(new ParseResult.Type(ast, step, "a step has all its figures"))
        }
        const histogram = histogramPairs(histograms)
        if (histogram === undefined) {
          return ParseResult.fail(new ParseResult.Type(ast, histograms, "histograms are a JSON array of objects of counts by bucket index"))
        }
        rows.push({ at_ms: step.at_ms, calls, total_ms, max_ms, rows_examined, histogram })
      }
      return ParseResult.succeed({ pipelines: steps[0]!.pipelines, rows })
    },
    encode: ({ pipelines, rows }) => {
      const steps = rows.map((row): StepRowText => {
        const entries: Array<string> = []
        for (let k = 0; k < row.histogram.length; k += 2) entries.push(`"${row.histogram[k]}": ${row.histogram[k + 1]}`)
        return { pipelines, ...row, histograms: `[{${entries.join(", ")}}]` }
      })
      const none = { pipelines, at_ms: null, calls: null, total_ms: null, max_ms: null, rows_examined: null, histograms: null }
      return ParseResult.succeed(steps.length === 0 ? [none] : steps)
    }
  }
)

// The window's rollup rows summed per step ($9 seconds, aligned on the epoch), in time order then pipeline, which
// is the order the sums and the histograms' merge take them in: a step of whole hours reads the hour rollups for the
// whole hours of the window (60 times fewer rows, and kept longer: 400 days against 30) and the minutes of its
// partial hours at either end, so that every step holds exactly the minutes of [since, until) it covers, as with
// any other step. The ranges come as windowRanges gives them: $3 since, $4 the head's end, $5 and $6 the whole hours,
// $7 the tail's start, $8 until (a step of minutes passes the whole window as the head and empty others). The
// pipelines are those of the query (or the one asked for, $2), looked up in the same statement: the rollups' primary
// key leads with the pipeline. The steps are grouped from rows sorted by step, time and pipeline, which PostgreSQL
// feeds to the aggregates in that order (one sort; an ORDER BY in each of the five aggregates sorted each step's rows
// five times); a window without rollups is one row of nulls, with the pipelines.
const seriesSql = `${SLOWQ_MARKER}
WITH pipes AS (
  SELECT array_agg(pipeline ORDER BY pipeline) AS list FROM slowq_queries WHERE query_id = $1 AND ($2::text IS NULL OR pipeline = $2)
),
steps AS (
  SELECT step, sum(calls::float8) AS calls, sum(total_ms) AS total_ms, max(max_ms) AS max_ms,
    sum(rows_examined) AS rows_examined, '[' || string_agg(histogram::text, ',') || ']' AS histograms
  FROM (
    SELECT date_bin($9::float8 * interval '1 second', at, timestamptz 'epoch') AS step, * FROM (
      ${rollupRangesSql(
        (time) => `${time} AS at, pipeline, calls, total_ms, max_ms, rows_examined, histogram`,
        { head: rangeParams(3, 4), hours: rangeParams(5, 6), tail: rangeParams(7, 8) },
        "query_id = $1 AND pipeline = ANY((SELECT list FROM pipes)::text[])"
      )}
    ) w
    ORDER BY 1, at, pipeline
  ) r
  GROUP BY step
)
SELECT p.list AS pipelines, date_part('epoch', s.step) * 1000 AS at_ms, s.calls, s.total_ms, s.max_ms, s.rows_examined,
  s.histograms
FROM pipes p LEFT JOIN steps s ON true
ORDER BY s.step`

interface Bucket {
  calls: number
  totalMs: number
  maxMs: number
  rowsExamined: number
  /** Counts by bucket index (a hole is zero). */
  readonly counts: Array<number>
}

/**
 * The q-quantiles (0 < q ≤ 1, ascending) of counts by bucket index, read as quantileMs reads them from a histogram:
 * the value of the bucket holding the ⌈q·n⌉-th smallest value; null without counts. One pass for all of them, in
 * the ascending order of the indexes that quantileMs sorts the keys into: the same figures.
 */
export const quantilesMs = (counts: ReadonlyArray<number | undefined>, qs: ReadonlyArray<number>): Array<number | null> => {
  let total = 0
  for (let i = 0; i < counts.length; i++) total += counts[i] ?? 0
  if (total === 0) return qs.map(() => null)
  const found: Array<number | null> = []
  let seen = 0
  let last = 0
  for (let i = 0; i < counts.length && found.length < qs.length; i++) {
    const count = counts[i] ?? 0
    if (count <= 0) continue
    seen += count
    last = i
    while (found.length < qs.length && seen >= Math.max(1, Math.ceil(qs[found.length]! * total))) found.push(bucketValueMs(i))
  }
  while (found.length < qs.length) found.push(bucketValueMs(last))
  return found
}

const PERCENTILES = [0.5, 0.95, 0.99]

/**
 * The rows folded into buckets of `stepSeconds` aligned on the epoch, every bucket from the one holding `since` to
 * the one before `until`, empty ones included (a chart's gaps are real).
 */
export const foldSeries = (
  rows: ReadonlyArray<RollupRow>,
  options: Pick<SeriesOptions, "since" | "until" | "stepSeconds">
): ReadonlyArray<SeriesPoint> => {
  const step = options.stepSeconds * 1000
  const first = Math.floor(options.since.getTime() / step) * step
  const until = options.until.getTime()
  const buckets: Array<Bucket | undefined> = []
  for (const row of rows) {
    const start = Math.floor(row.at_ms / step) * step
    // A row of a minute (hour) that began before the first bucket, or at or after the end, is in no bucket.
    if (start < first || start >= until) continue
    const at = (start - first) / step
    let bucket = buckets[at]
    if (bucket === undefined) {
      bucket = { calls: 0, totalMs: 0, maxMs: 0, rowsExamined: 0, counts: [] }
      buckets[at] = bucket
    }
    bucket.calls += row.calls
    bucket.totalMs += row.total_ms
    bucket.maxMs = Math.max(bucket.maxMs, row.max_ms)
    bucket.rowsExamined += row.rows_examined
    const { counts } = bucket
    const pairs = row.histogram
    for (let k = 0; k < pairs.length; k += 2) counts[pairs[k]!] = (counts[pairs[k]!] ?? 0) + pairs[k + 1]!
  }
  const points: Array<SeriesPoint> = []
  for (let start = first, at = 0; start < until; start += step, at++) {
    const bucket = buckets[at]
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
    const [p50 = null, p95 = null, p99 = null] = quantilesMs(bucket.counts, PERCENTILES)
    points.push({
      start: new Date(start),
      calls: bucket.calls,
      total_ms: bucket.totalMs,
      mean_ms: bucket.totalMs / bucket.calls,
      max_ms: bucket.maxMs,
      p50_ms: p50,
      p95_ms: p95,
      p99_ms: p99,
      rows_examined: bucket.rowsExamined
    })
  }
  return points
}

const HOUR_SECONDS = 3600

/** $3 to $8 of seriesSql: the window's minutes, and its whole hours when the step is whole hours. */
const seriesRanges = (options: Pick<SeriesOptions, "since" | "until" | "stepSeconds">) => {
  const ranges = windowRanges(options)
  if (options.stepSeconds % HOUR_SECONDS === 0) {
    return [ranges.since, ranges.headUntil, ranges.fromHour, ranges.toHour, ranges.tailFrom, ranges.until]
  }
  return [ranges.since, ranges.until, ranges.until, ranges.until, ranges.until, ranges.until]
}

/**
 * A query's calls, time, slowest call and rows examined per step in one pipeline, aligned on the answer's `starts`: a
 * page's sparklines, one for each order of the ranking that has a per-step sum or maximum.
 */
export const SparkSeries = Schema.Struct({
  query_id: Schema.String,
  pipeline: Schema.String,
  calls: Schema.Array(Schema.Number).annotations({ description: "Calls per step, 0 for a step without any." }),
  total_ms: Schema.Array(Schema.Number).annotations({ description: "Total execution time per step, ms." }),
  max_ms: Schema.Array(Schema.Number).annotations({ description: "The slowest call per step, ms; 0 for a step without calls." }),
  rows_examined: Schema.Array(Schema.Number).annotations({ description: "Rows examined per step." })
}).annotations({ identifier: "SparkSeries" })
export interface SparkSeries extends Schema.Schema.Type<typeof SparkSeries> {}

// Many queries' sums per step, for sparklines: the rollup rows of each (pipeline, query) that holds one of the ids
// ($1; or of the one pipeline $2), read by primary key ranges as seriesSql reads one query's, summed per step of $9
// seconds; no histograms (a sparkline draws sums and maxima, no percentile), so a step is five numbers and a query
// one row of JSON text, in the order of the ids asked for. $3 to $8 as seriesSql's.
const sparkSql = `${SLOWQ_MARKER}
WITH pairs AS (
  SELECT pipeline, query_id FROM slowq_queries WHERE query_id = ANY($1::text[]) AND ($2::text IS NULL OR pipeline = $2)
)
SELECT p.query_id, p.pipeline, coalesce(s.steps, '[]') AS steps
FROM pairs p
CROSS JOIN LATERAL (
  SELECT json_agg(json_build_array(at_ms, calls, total_ms, max_ms, rows_examined) ORDER BY at_ms)::text AS steps FROM (
    SELECT date_part('epoch', date_bin($9::float8 * interval '1 second', at, timestamptz 'epoch')) * 1000 AS at_ms,
      sum(calls)::float8 AS calls, sum(total_ms) AS total_ms, max(max_ms) AS max_ms, sum(rows_examined) AS rows_examined
    FROM (
      ${rollupRangesSql(
        (time) => `${time} AS at, calls, total_ms, max_ms, rows_examined`,
        { head: rangeParams(3, 4), hours: rangeParams(5, 6), tail: rangeParams(7, 8) },
        "pipeline = p.pipeline AND query_id = p.query_id"
      )}
    ) w
    GROUP BY 1
  ) st
) s
ORDER BY array_position($1::text[], p.query_id), p.pipeline`

const SparkRow = Schema.Struct({
  query_id: Schema.String,
  pipeline: Schema.String,
  steps: Schema.parseJson(Schema.Array(Schema.Tuple(Schema.Number, Schema.Number, Schema.Number, Schema.Number, Schema.Number)))
})

/** The starts of the steps of a window: from the one holding `since` to the last before `until`, as foldSeries. */
export const stepStarts = (options: Pick<SeriesOptions, "since" | "until" | "stepSeconds">): Array<number> => {
  const step = options.stepSeconds * 1000
  const starts: Array<number> = []
  for (let start = Math.floor(options.since.getTime() / step) * step; start < options.until.getTime(); start += step) {
    starts.push(start)
  }
  return starts
}

const make = Effect.gen(function* () {
  const { sql, readPermits } = yield* StoreClient
  const decodeRows = Schema.decodeUnknown(SeriesFromRows)
  const decodeSparkRows = Schema.decodeUnknown(Schema.Array(SparkRow))
  const readError = (cause: { readonly message: string; readonly cause?: unknown }) => {
    const reason = cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
    return new StoreError({ operation: "read", message: `store read failed: ${reason}`, cause })
  }

  /**
   * Query `id`'s series over the window from its rollups, over the pipelines that hold it (or the one asked for);
   * none if no pipeline does.
   */
  const querySeries = (id: string, options: SeriesOptions): Effect.Effect<Option.Option<ReadonlyArray<SeriesPoint>>, StoreError> =>
    sql.unsafe(seriesSql, [id, options.pipeline ?? null, ...seriesRanges(options), options.stepSeconds]).pipe(
      Effect.flatMap(decodeRows),
      Effect.map(({ pipelines, rows }) => (pipelines === null ? Option.none() : Option.some(foldSeries(rows, options)))),
      Effect.mapError((cause) => {
        const reason = "cause" in cause && cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
        return new StoreError({ operation: "read", message: `store read failed: ${reason}`, cause })
      }),
      readPermits.withPermits(1),
      Effect.withSpan("SeriesReads.querySeries")
    )

  /**
   * The calls and time per step of every (pipeline, query) holding one of `ids` (or of the one pipeline), in the
   * order of the ids, each aligned on the window's step starts; an id no pipeline holds is left out.
   */
  const sparkSeries = (
    ids: ReadonlyArray<string>,
    options: SeriesOptions
  ): Effect.Effect<{ readonly starts: ReadonlyArray<Date>; readonly series: ReadonlyArray<SparkSeries> }, StoreError> =>
    sql.unsafe(sparkSql, [ids, options.pipeline ?? null, ...seriesRanges(options), options.stepSeconds]).pipe(
      Effect.flatMap(decodeSparkRows),
      Effect.map((rows) => {
        const starts = stepStarts(options)
        const first = starts[0] ?? 0
        const step = options.stepSeconds * 1000
        const series = rows.map((row): SparkSeries => {
          const calls = starts.map(() => 0)
          const totalMs = starts.map(() => 0)
          const maxMs = starts.map(() => 0)
          const rowsExamined = starts.map(() => 0)
          for (const [atMs, stepCalls, stepTotalMs, stepMaxMs, stepRowsExamined] of row.steps) {
            const at = Math.floor((atMs - first) / step)
            // A step of a minute (hour) read from before the first bucket's start is in none, as in foldSeries.
            if (at < 0 || at >= starts.length) continue
            calls[at] = calls[at]! + stepCalls
            totalMs[at] = totalMs[at]! + stepTotalMs
            maxMs[at] = Math.max(maxMs[at]!, stepMaxMs)
            rowsExamined[at] = rowsExamined[at]! + stepRowsExamined
          }
          return {
            query_id: row.query_id,
            pipeline: row.pipeline,
            calls,
            total_ms: totalMs,
            max_ms: maxMs,
            rows_examined: rowsExamined
          }
        })
        return { starts: starts.map((start) => new Date(start)), series }
      }),
      Effect.mapError(readError),
      readPermits.withPermits(1),
      Effect.withSpan("SeriesReads.sparkSeries")
    )

  return { querySeries, sparkSeries } as const
})

/** Time series of queries, read from the rollups. */
export class SeriesReads extends Context.Tag("slowq/store/SeriesReads")<SeriesReads, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
