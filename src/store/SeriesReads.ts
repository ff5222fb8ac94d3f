import { SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, ParseResult, Schema } from "effect"
import { bucketValueMs } from "../domain/LatencyHistogram.js"
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

// A row as the driver returns it: a step's sums, its start as epoch milliseconds (a float8: the driver builds no Date
// per row), and its rollups' histograms as a JSON array of jsonb's texts, `[{"<bucket>": <count>, ...}, ...]`, read
// by a scan of its characters into pairs of numbers. A day of a query seen every minute is 1,441 minute rows of ~30
// buckets: the driver's JSON.parse of each histogram into an object keyed by bucket, a Struct decode per row,
// string-keyed merging and quantiles that sorted each bucket's entries were about 40 ms of CPU per such series, most
// of it allocation and garbage collection.
interface RollupRowText {
  readonly at_ms: number
  readonly calls: number
  readonly total_ms: number
  readonly max_ms: number
  readonly rows_examined: number
  readonly histogram: string
}

/** A rollup row as folded: its histogram as pairs [bucket, count, bucket, count, …]. */
export interface RollupRow extends Omit<RollupRowText, "histogram"> {
  readonly histogram: ReadonlyArray<number>
}

const hasFigures = (row: Record<string, unknown>) =>
  typeof row.at_ms === "number" &&
  typeof row.calls === "number" &&
  typeof row.total_ms === "number" &&
  typeof row.max_ms === "number" &&
  typeof row.rows_examined === "number"
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

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

const RollupRowFromText = Schema.transformOrFail(
  Schema.declare((value: unknown): value is RollupRowText => isRecord(value) && hasFigures(value) && typeof value.histogram === "string", {
    identifier: "RollupRowText",
    description: "A step's rollups: its start as epoch ms, calls, total_ms, max_ms, rows_examined, and their histograms as a JSON array"
  }),
  Schema.declare(
    (value: unknown): value is RollupRow => isRecord(value) && hasFigures(value) && Array.isArray(value.histogram),
    { identifier: "RollupRow" }
  ),
  {
    strict: true,
    decode: (row, _, ast) => {
      const pairs = histogramPairs(row.histogram)
      return pairs === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, row.histogram, "histograms are a JSON array of objects of counts by bucket index"))
        : ParseResult.succeed({ ...row, histogram: pairs })
    },
    encode: (row) => {
      const entries: Array<string> = []
      for (let k = 0; k < row.histogram.length; k += 2) entries.push(`"${row.histogram[k]}": ${row.histogram[k + 1]}`)
      return ParseResult.succeed({ ...row, histogram: `[{${entries.join(", ")}}]` })
    }
  }
)

// A step of whole hours reads the hour rollups: 60 times fewer rows, and kept longer (400 days against 30). The rows
// are summed per step here, in the order the fold summed them (one row per step instead of one per minute: the
// driver's per-row work was a third of a day's series in 15 minute steps), and the step's histograms are sent as one
// JSON array of jsonb's texts. $5: the step in seconds.
const rollupsSql = (level: "minute" | "hour") => `${SLOWQ_MARKER}
SELECT (extract(epoch FROM step) * 1000)::float8 AS at_ms, sum(calls::float8 ORDER BY ${level}, pipeline) AS calls,
  sum(total_ms ORDER BY ${level}, pipeline) AS total_ms, max(max_ms) AS max_ms,
  sum(rows_examined ORDER BY ${level}, pipeline) AS rows_examined,
  '[' || string_agg(histogram::text, ',' ORDER BY ${level}, pipeline) || ']' AS histogram
FROM (
  SELECT *, date_bin($5::float8 * interval '1 second', ${level}, timestamptz 'epoch') AS step
  FROM slowq_rollups_${level}
  WHERE query_id = $1 AND pipeline = ANY($2::text[])
    AND ${level} >= date_trunc('${level}', $3::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AND ${level} < $4
) rows
GROUP BY step
ORDER BY step`

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

const make = Effect.gen(function* () {
  const { sql, readPermits } = yield* StoreClient
  const findMinutes = SqlSchema.findAll({
    Request: Schema.Struct({
      id: Schema.String,
      pipelines: Schema.Array(Schema.String),
      since: Schema.DateFromSelf,
      until: Schema.DateFromSelf,
      hours: Schema.Boolean,
      stepSeconds: Schema.Number
    }),
    Result: RollupRowFromText,
    execute: (r) => sql.unsafe(rollupsSql(r.hours ? "hour" : "minute"), [r.id, r.pipelines, r.since, r.until, r.stepSeconds])
  })

  /** Query `id`'s series over the window from its rollups. */
  const querySeries = (id: string, options: SeriesOptions) =>
    findMinutes({
      id,
      pipelines: options.pipelines,
      since: options.since,
      until: options.until,
      hours: options.stepSeconds % 3600 === 0,
      stepSeconds: options.stepSeconds
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
