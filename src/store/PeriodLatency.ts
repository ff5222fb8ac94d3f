import { Schema } from "effect"
import { rollupRangesSql } from "./RollupRanges.js"

// A query's calls and latency over a period of its own (a plan's, in the explain stage's plan history), read from the
// rollups at minute precision as windows are: the whole hours of the period from the hour rollups, its partial hours'
// minutes from the minute rollups (the same sums: one statement writes both), the p95 from their histograms.

/** A query's calls and latency over a period, from the rollups. */
export const PeriodLatency = Schema.Struct({
  since: Schema.Date.annotations({ description: "The period's first minute (inclusive)." }),
  until: Schema.Date.annotations({ description: "The end of its last minute (exclusive)." }),
  calls: Schema.Number,
  total_ms: Schema.Number,
  mean_ms: Schema.NullOr(Schema.Number).annotations({ description: "total_ms / calls; null without calls." }),
  p95_ms: Schema.NullOr(Schema.Number).annotations({
    description:
      "95th percentile of the time per call from the rollups' latency histograms (within 2% of a recorded value); null without calls."
  })
}).annotations({ identifier: "PeriodLatency" })
export interface PeriodLatency extends Schema.Schema.Type<typeof PeriodLatency> {}

/**
 * The p95 of the histograms of the rows an aggregate groups (`histogram` names their column): the buckets summed, as
 * slowq_histogram_merge adds them, then read by slowq_histogram_quantile (migration 0017).
 */
export const p95OfRowsSql = (histogram: string) => `slowq_histogram_quantile(coalesce((SELECT jsonb_object_agg(bucket, n) FROM (
      SELECT b.key AS bucket, sum(b.value::bigint) AS n
      FROM unnest(array_agg(${histogram})) AS h(histogram), jsonb_each_text(h.histogram) AS b
      GROUP BY b.key) AS summed), '{}'::jsonb), 0.95)`

const utc = (unit: "minute" | "hour", time: string) => `(date_trunc('${unit}', (${time}) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`
/** The first whole hour at or after `time` (a timestamptz SQL expression on a minute). */
const ceilHour = (time: string) => `(${utc("hour", `(${time}) + interval '59 minutes'`)})`

/**
 * A SELECT of one row, `calls`, `total_ms`, `mean_ms`, `p95_ms`, of the query `queryId` in `pipeline` (SQL
 * expressions, which may name an outer row: a LATERAL join) over the minutes [from, until), `from` and `until` SQL
 * expressions of whole minutes (UTC).
 */
export const periodLatencySql = (pipeline: string, queryId: string, from: string, until: string) => {
  const fromHour = ceilHour(from)
  const toHour = utc("hour", until)
  return `
  SELECT coalesce(sum(calls), 0)::float8 AS calls, coalesce(sum(total_ms), 0) AS total_ms,
    sum(total_ms) / nullif(sum(calls), 0) AS mean_ms, ${p95OfRowsSql("histogram")} AS p95_ms
  FROM (
    ${rollupRangesSql(
      () => "calls, total_ms, histogram",
      {
        head: { from, until: `least(${fromHour}, ${until})` },
        hours: { from: fromHour, until: toHour },
        tail: { from: `greatest(${fromHour}, ${toHour})`, until }
      },
      `pipeline = ${pipeline} AND query_id = ${queryId}`
    )}
  ) period`
}
