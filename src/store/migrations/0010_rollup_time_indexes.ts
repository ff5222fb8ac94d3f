import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Windows over every pipeline (`GET /api/v1/queries?since=24h`, `slowq report --since`) read a range of minutes and
// hours with no pipeline: the (pipeline, minute) and (pipeline, hour) indexes of 0008/0009 cannot serve that range,
// and the read fell back to a scan of every rollup kept (30 days of minutes, 400 of hours). Time first serves both
// kinds of window (the pipeline is then checked inside the index) and the pruner's `minute < cutoff`, with no more
// indexes for the writer to maintain than before.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX slowq_rollups_minute_time`
  yield* sql`CREATE INDEX slowq_rollups_minute_time ON slowq_rollups_minute (minute, pipeline)`
  yield* sql`DROP INDEX slowq_rollups_hour_time`
  yield* sql`CREATE INDEX slowq_rollups_hour_time ON slowq_rollups_hour (hour, pipeline)`
})
