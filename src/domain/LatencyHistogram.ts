/**
 * A mergeable latency histogram with a bounded relative error (DDSketch's log-scale buckets): bucket `i` holds the
 * values in (γ^(i−1), γ^i] microseconds with γ = (1 + α)/(1 − α), so any quantile read from it is within α = 2%
 * of a value of the recorded data. Buckets are fixed for all time, so histograms of any minutes, queries or
 * pipelines add up bucket by bucket, in SQL (slowq_histogram_merge) or here. Sparse: only buckets with counts are
 * kept, as `{ "<index>": count }`. Values at or below 1 µs share bucket 0.
 *
 * Why 2%: a p95 of 200 ms reads as 196–204 ms, finer than any latency decision needs, with about 550 buckets
 * between 1 µs and an hour, of which a minute of one query fills a few.
 */
export const RELATIVE_ERROR = 0.02

export const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)

const LN_GAMMA = Math.log(GAMMA)

/** The SQL expression of the bucket of a latency in milliseconds (`ms` is an SQL expression), the same as bucketOf. */
export const bucketSql = (ms: string) =>
  `(CASE WHEN ${ms} * 1000 <= 1 THEN 0 ELSE ceil(ln(${ms} * 1000) / ${LN_GAMMA})::int END)`

/** The bucket of a latency in milliseconds. */
export const bucketOf = (ms: number): number => (ms * 1000 <= 1 ? 0 : Math.ceil(Math.log(ms * 1000) / LN_GAMMA))

/** The value a bucket stands for, in milliseconds: the point of least relative error within it. */
export const bucketValueMs = (bucket: number): number =>
  bucket <= 0 ? 0.001 : (2 * GAMMA ** bucket) / (GAMMA + 1) / 1000

/** The SQL expression of bucketValueMs (`bucket` is an SQL expression of an integer), as migration 0017's quantile. */
export const bucketValueSql = (bucket: string) =>
  `(CASE WHEN ${bucket} <= 0 THEN 0.001 ELSE 2 * power(${GAMMA}::float8, ${bucket}) / (${GAMMA}::float8 + 1) / 1000 END)`

export type Histogram = Readonly<Record<string, number>>

/** The bucket-wise sum of histograms. */
export const mergeHistograms = (histograms: Iterable<Histogram | null | undefined>): Record<string, number> => {
  const merged: Record<string, number> = {}
  for (const histogram of histograms) {
    if (histogram == null) continue
    for (const [bucket, count] of Object.entries(histogram)) merged[bucket] = (merged[bucket] ?? 0) + count
  }
  return merged
}

/**
 * The q-quantile (0 < q ≤ 1) in milliseconds: the value of the bucket holding the ⌈q·n⌉-th smallest value, as
 * nearest-rank percentiles are read from raw data. Null for an empty histogram.
 */
export const quantileMs = (histogram: Histogram, q: number): number | null => {
  const buckets = Object.entries(histogram)
    .map(([bucket, count]) => [Number(bucket), count] as const)
    .filter(([, count]) => count > 0)
    .sort((a, b) => a[0] - b[0])
  const total = buckets.reduce((sum, [, count]) => sum + count, 0)
  if (total === 0) return null
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (const [bucket, count] of buckets) {
    seen += count
    if (seen >= rank) return bucketValueMs(bucket)
  }
  return bucketValueMs(buckets[buckets.length - 1]![0])
}
