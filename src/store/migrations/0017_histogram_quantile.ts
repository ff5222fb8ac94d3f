import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { GAMMA } from "../../domain/LatencyHistogram.js"

// Ranking by p95 (issue 14), and a period's p95 read in SQL (a plan's period in the plan history).
// slowq_histogram_quantile is the SQL twin of LatencyHistogram.quantileMs: the value of the bucket holding the
// ⌈q·n⌉-th smallest call (nearest rank) of a histogram of the rollups (0008), null for an empty one. IMMUTABLE and
// PARALLEL SAFE: it depends on the histogram alone, and the buckets' values are fixed for all time (γ of a 2% error).
//
// No all-time histogram per query, hence no all-time ranking by p95: one in slowq_queries, merged by the batch's
// statement, with an index on this function's p95 (so that the ranking would read an index), made PostgreSQL's
// execution time of the batch statement 25% longer (median of 13 alternated pairs of `slowq once` of a 100k-event
// slow log in batches of 5,000: 5.9 s against 7.8 s; per pair -7% to +61%, 12 of 13 above +10%): every batch merges
// each query's histogram and computes the p95 of every row it updates, for the index. Windows rank by the p95 of
// their rollups' histograms (QueryReads.ts). Re-runnable (the upgrade tests run later migrations again).
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`
    CREATE OR REPLACE FUNCTION slowq_histogram_quantile(histogram jsonb, q float8) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN bucket <= 0 THEN 0.001 ELSE 2 * power(${GAMMA}::float8, bucket) / (${GAMMA}::float8 + 1) / 1000 END
      FROM (
        SELECT b.key::int AS bucket, sum(b.value::float8) OVER (ORDER BY b.key::int) AS seen,
          sum(b.value::float8) OVER () AS total
        FROM jsonb_each_text(histogram) AS b
        WHERE b.value::float8 > 0
      ) c
      WHERE seen >= greatest(1, ceil(q * total))
      ORDER BY bucket
      LIMIT 1
    $$`)
})
