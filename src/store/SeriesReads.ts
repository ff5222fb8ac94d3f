import { Context, Effect, Layer, Option, ParseResult, Schema } from "effect"
import { bucketValueMs } from "../domain/LatencyHistogram.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { windowRanges } from "./QueryReads.js"
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

// The read is one statement returning one row: the pipelines that hold the query (none: the query is unknown, a 404),
// and the window's rollup rows as columns, float8 arrays and one JSON array of their histograms as jsonb prints them,
// `[{"<bucket>": <count>, ...}, ...]`, read by a scan of its characters into pairs of numbers. One row rather than
// one per rollup row: a day of a query seen every minute is 1,440 minute rows of ~30 buckets, and the driver's work per
// row (an object, a parse per column) then a decode per row was most of the series' CPU; one row rather than one per
// step summed in SQL: five ordered aggregates per step each sorted their step's rows, and the statement looking up the
// query's pipelines first was a round trip of its own. Most of what is left is jsonb's output of the histograms
// (about 6 of the 8 ms a day of such a query takes in PostgreSQL; merging them there with jsonb_each took 60-110 ms).
interface SeriesRowText {
  readonly pipelines: ReadonlyArray<string> | null
  readonly at_ms: ReadonlyArray<number>
  readonly calls: ReadonlyArray<number>
  readonly total_ms: ReadonlyArray<number>
  readonly max_ms: ReadonlyArray<number>
  readonly rows_examined: ReadonlyArray<number>
  readonly histograms: string
}

/** A window's rollup rows as folded: columns by row, the histograms as pairs [bucket, count, …] of every row. */
export interface RollupColumns {
  readonly atMs: ReadonlyArray<number>
  readonly calls: ReadonlyArray<number>
  readonly totalMs: ReadonlyArray<number>
  readonly maxMs: ReadonlyArray<number>
  readonly rowsExamined: ReadonlyArray<number>
  readonly pairs: ReadonlyArray<number>
  /** Where each row's pairs end in `pairs` (row i's are [ends[i - 1] ?? 0, ends[i])). */
  readonly ends: ReadonlyArray<number>
}

interface SeriesRow {
  readonly pipelines: ReadonlyArray<string> | null
  readonly rows: RollupColumns
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null
const isNumbers = (value: unknown, length: number): value is ReadonlyArray<number> => {
  if (!Array.isArray(value) || value.length !== length) return false
  for (const item of value) if (typeof item !== "number") return false
  return true
}
const isSeriesRowText = (value: unknown): value is SeriesRowText => {
  if (!isRecord(value) || !Array.isArray(value.at_ms) || typeof value.histograms !== "string") return false
  const { pipelines } = value
  if (pipelines !== null && !(Array.isArray(pipelines) && pipelines.every((p) => typeof p === "string"))) return false
  const length = value.at_ms.length
  return (
    isNumbers(value.at_ms, length) &&
    isNumbers(value.calls, length) &&
    isNumbers(value.total_ms, length) &&
    isNumbers(value.max_ms, length) &&
    isNumbers(value.rows_examined, length)
  )
}

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

/** The pairs of every histogram of a JSON array of them, and where each histogram's end. */
export interface HistogramPairs {
  readonly pairs: Array<number>
  readonly ends: Array<number>
}

/** The pairs of a JSON array of histograms as the store prints them, `[{"173": 2},{"7": 1, "173": 1}]`. */
const pairsOfJsonbTexts = (text: string): HistogramPairs | undefined => {
  const last = text.length - 1
  if (last < 1 || text.charCodeAt(0) !== OPEN_ARRAY || text.charCodeAt(last) !== CLOSE_ARRAY) return undefined
  const pairs: Array<number> = []
  const ends: Array<number> = []
  if (last === 1) return { pairs, ends }
  for (let i = 1; ; i++) {
    i = scanHistogram(text, i, pairs)
    if (i < 0) return undefined
    ends.push(pairs.length)
    if (i === last) return { pairs, ends }
    if (text.charCodeAt(i) !== COMMA) return undefined
  }
}

/** Any other JSON array of objects of counts by canonical bucket index (the general reading). */
const pairsOfJson = (text: string): HistogramPairs | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed)) return undefined
  const pairs: Array<number> = []
  const ends: Array<number> = []
  for (const histogram of parsed) {
    if (!isRecord(histogram) || Array.isArray(histogram)) return undefined
    for (const [key, count] of Object.entries(histogram)) {
      const bucket = Number(key)
      if (!Number.isSafeInteger(bucket) || bucket < 0 || bucket > MAX_BUCKET || String(bucket) !== key) return undefined
      if (typeof count !== "number" || !(count >= 0)) return undefined
      pairs.push(bucket, count)
    }
    ends.push(pairs.length)
  }
  return { pairs, ends }
}

/** The pairs [bucket, count, …] of a JSON array of histograms as the store prints it, and where each histogram's end. */
export const histogramsOf = (text: string): HistogramPairs | undefined => pairsOfJsonbTexts(text) ?? pairsOfJson(text)

/** The pairs [bucket, count, …] of a JSON array of histograms as the store prints it; undefined if it is not one. */
export const histogramPairs = (text: string): Array<number> | undefined => histogramsOf(text)?.pairs

const SeriesRowFromText = Schema.transformOrFail(
  Schema.declare(isSeriesRowText, {
    identifier: "SeriesRowText",
    description:
      "A window's rollups: the query's pipelines (null: none), the rows' starts as epoch ms, calls, total_ms, max_ms, rows_examined, and their histograms as a JSON array"
  }),
  Schema.declare(
    (value: unknown): value is SeriesRow => isRecord(value) && "pipelines" in value && isRecord(value.rows),
    { identifier: "SeriesRow" }
  ),
  {
    strict: true,
    decode: (row, _, ast) => {
      const histograms = histogramsOf(row.histograms)
      return histograms === undefined || histograms.ends.length !== row.at_ms.length
        ? ParseResult.fail(
            new ParseResult.Type(ast, row.histograms, "histograms are a JSON array of objects of counts by bucket index, one per row")
          )
        : ParseResult.succeed({
            pipelines: row.pipelines,
            rows: {
              atMs: row.at_ms,
              calls: row.calls,
              totalMs: row.total_ms,
              maxMs: row.max_ms,
              rowsExamined: row.rows_examined,
              pairs: histograms.pairs,
              ends: histograms.ends
            }
          })
    },
    encode: ({ pipelines, rows }) => {
      const histograms: Array<string> = []
      for (let i = 0; i < rows.ends.length; i++) {
        const entries: Array<string> = []
        for (let k = rows.ends[i - 1] ?? 0; k < rows.ends[i]!; k += 2) entries.push(`"${rows.pairs[k]}": ${rows.pairs[k + 1]}`)
        histograms.push(`{${entries.join(", ")}}`)
      }
      return ParseResult.succeed({
        pipelines,
        at_ms: rows.atMs,
        calls: rows.calls,
        total_ms: rows.totalMs,
        max_ms: rows.maxMs,
        rows_examined: rows.rowsExamined,
        histograms: `[${histograms.join(",")}]`
      })
    }
  }
)

// The window's rollup rows in time order (then pipeline), which is the order the fold sums them in: a step of whole
// hours reads the hour rollups for the whole hours of the window (60 times fewer rows, and kept longer: 400 days
// against 30) and the minutes of its partial hours at either end, so that every step holds exactly the minutes of
// [since, until) it covers, as with any other step. The ranges come as windowRanges gives them: $3 since, $4 the
// head's end, $5 and $6 the whole hours, $7 the tail's start, $8 until (a step of minutes passes the whole window as
// the head and empty others). The pipelines are those of the query (or the one asked for, $2), looked up in the same
// statement: the rollups' primary key leads with the pipeline. Rows are aggregated from a sorted subquery, which
// PostgreSQL feeds to the aggregates in its order (one sort for all of them; an ORDER BY in each aggregate sorts
// once per aggregate).
const seriesSql = `${SLOWQ_MARKER}
WITH pipes AS (
  SELECT array_agg(pipeline ORDER BY pipeline) AS list FROM slowq_queries WHERE query_id = $1 AND ($2::text IS NULL OR pipeline = $2)
)
SELECT (SELECT list FROM pipes) AS pipelines, coalesce(array_agg((extract(epoch FROM at) * 1000)::float8), '{}') AS at_ms,
  coalesce(array_agg(calls::float8), '{}') AS calls, coalesce(array_agg(total_ms), '{}') AS total_ms,
  coalesce(array_agg(max_ms), '{}') AS max_ms, coalesce(array_agg(rows_examined), '{}') AS rows_examined,
  '[' || coalesce(string_agg(histogram::text, ','), '') || ']' AS histograms
FROM (
  SELECT * FROM (
    SELECT minute AS at, pipeline, calls, total_ms, max_ms, rows_examined, histogram FROM slowq_rollups_minute
    WHERE query_id = $1 AND pipeline = ANY((SELECT list FROM pipes)::text[]) AND minute >= $3::timestamptz AND minute < $4::timestamptz
    UNION ALL
    SELECT hour, pipeline, calls, total_ms, max_ms, rows_examined, histogram FROM slowq_rollups_hour
    WHERE query_id = $1 AND pipeline = ANY((SELECT list FROM pipes)::text[]) AND hour >= $5::timestamptz AND hour < $6::timestamptz
    UNION ALL
    SELECT minute, pipeline, calls, total_ms, max_ms, rows_examined, histogram FROM slowq_rollups_minute
    WHERE query_id = $1 AND pipeline = ANY((SELECT list FROM pipes)::text[]) AND minute >= $7::timestamptz AND minute < $8::timestamptz
  ) w
  ORDER BY at, pipeline
) r`

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
  rows: RollupColumns,
  options: Pick<SeriesOptions, "since" | "until" | "stepSeconds">
): ReadonlyArray<SeriesPoint> => {
  const step = options.stepSeconds * 1000
  const first = Math.floor(options.since.getTime() / step) * step
  const until = options.until.getTime()
  const buckets: Array<Bucket | undefined> = []
  const { pairs, ends } = rows
  for (let i = 0; i < rows.atMs.length; i++) {
    const start = Math.floor(rows.atMs[i]! / step) * step
    // A row of a minute (hour) that began before the first bucket, or at or after the end, is in no bucket.
    if (start < first || start >= until) continue
    const at = (start - first) / step
    let bucket = buckets[at]
    if (bucket === undefined) {
      bucket = { calls: 0, totalMs: 0, maxMs: 0, rowsExamined: 0, counts: [] }
      buckets[at] = bucket
    }
    bucket.calls += rows.calls[i]!
    bucket.totalMs += rows.totalMs[i]!
    bucket.maxMs = Math.max(bucket.maxMs, rows.maxMs[i]!)
    bucket.rowsExamined += rows.rowsExamined[i]!
    const { counts } = bucket
    for (let k = ends[i - 1] ?? 0; k < ends[i]!; k += 2) counts[pairs[k]!] = (counts[pairs[k]!] ?? 0) + pairs[k + 1]!
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

const make = Effect.gen(function* () {
  const { sql, readPermits } = yield* StoreClient
  const decodeRow = Schema.decodeUnknown(SeriesRowFromText)

  /**
   * Query `id`'s series over the window from its rollups, over the pipelines that hold it (or the one asked for);
   * none if no pipeline does.
   */
  const querySeries = (id: string, options: SeriesOptions): Effect.Effect<Option.Option<ReadonlyArray<SeriesPoint>>, StoreError> =>
    sql.unsafe(seriesSql, [id, options.pipeline ?? null, ...seriesRanges(options)]).pipe(
      Effect.flatMap((rows) => decodeRow(rows[0])),
      Effect.map(({ pipelines, rows }) => (pipelines === null ? Option.none() : Option.some(foldSeries(rows, options)))),
      Effect.mapError((cause) => {
        const reason = "cause" in cause && cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
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
