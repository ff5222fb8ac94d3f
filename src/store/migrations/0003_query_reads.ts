import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The HTTP API's reads. Its all-time rankings are read in index order, one index per order (the expressions and
// tie-breakers are exactly those of QueryReads.ts), instead of sorting every fingerprint on each request: with 100k
// fingerprints a sort costs ~50 ms of CPU per request, an index scan well under 1 ms. The default order also has
// a per-pipeline index. A query id alone (GET /api/v1/queries/{id}) finds its pipelines without a scan. Windowed
// rankings aggregate events found through slowq_events_start_time (0001).
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX slowq_queries_total_ms ON slowq_queries (total_ms DESC, pipeline, query_id)`
  yield* sql`CREATE INDEX slowq_queries_pipeline_total_ms ON slowq_queries (pipeline, total_ms DESC, query_id)`
  yield* sql`CREATE INDEX slowq_queries_avg_ms ON slowq_queries ((total_ms / greatest(calls, 1)) DESC, pipeline, query_id)`
  yield* sql`CREATE INDEX slowq_queries_calls ON slowq_queries (calls DESC, pipeline, query_id)`
  yield* sql`CREATE INDEX slowq_queries_max_ms ON slowq_queries (max_ms DESC, pipeline, query_id)`
  yield* sql`CREATE INDEX slowq_queries_query_id ON slowq_queries (query_id)`
})
