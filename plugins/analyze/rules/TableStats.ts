import { type SqlClient, SqlSchema } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, type ParseResult, Schema } from "effect"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"
import type { TableStats } from "./Rule.js"

/**
 * What pg_stat_user_tables says of the tables a plan touches: live rows, rows modified since the last ANALYZE, and
 * when that was (manual or autovacuum's, the later). The stale-statistics rule reads it as `PlanInput.tableStats`.
 *
 * A plain EXPLAIN names tables without their schema, so a table given without one is resolved as the planner did,
 * through the session's search_path (`to_regclass`); the answer is keyed by the schema it resolved to. Names are
 * quoted before resolution, so `Orders` stays `Orders`. Tables that do not exist, or that are not user tables
 * (catalogs, views), are absent from the answer.
 */

export interface TableRef {
  /** null: resolved through search_path. */
  readonly schema: string | null
  readonly table: string
}

const Request = Schema.Struct({
  schemas: Schema.Array(Schema.NullOr(Schema.String)),
  tables: Schema.Array(Schema.String)
})

const Row = Schema.Struct({
  schema: Schema.String,
  table: Schema.String,
  live_rows: Schema.Number,
  modified: Schema.Number,
  analyzed_at: Schema.NullOr(Schema.Number)
})

// Live rows: the statistics system's count, or pg_class.reltuples while that count is 0. Backends flush their counts
// to the statistics system only about once a second, so a table filled and analyzed a moment ago can read
// n_live_tup = 0 (seen on PostgreSQL 15), while ANALYZE sets reltuples at once (-1: never analyzed nor vacuumed).
export const TABLE_STATS_SQL = `${SLOWQ_MARKER} SELECT s.schemaname AS schema, s.relname AS "table",
  CASE WHEN s.n_live_tup > 0 THEN s.n_live_tup::float8 ELSE greatest(c.reltuples::float8, 0) END AS live_rows, s.n_mod_since_analyze::float8 AS modified,
  (extract(epoch FROM greatest(s.last_analyze, s.last_autoanalyze)) * 1000)::float8 AS analyzed_at
FROM unnest($1::text[], $2::text[]) AS t(schema_name, table_name)
JOIN pg_stat_user_tables s ON s.relid = to_regclass(
  CASE WHEN t.schema_name IS NULL THEN quote_ident(t.table_name)
       ELSE quote_ident(t.schema_name) || '.' || quote_ident(t.table_name) END)
JOIN pg_class c ON c.oid = s.relid`

/** The statistics of `tables` in one round trip, keyed `schema.table`. */
export const readTableStats = (
  sql: SqlClient.SqlClient,
  tables: ReadonlyArray<TableRef>
): Effect.Effect<ReadonlyMap<string, TableStats>, SqlError | ParseResult.ParseError> => {
  if (tables.length === 0) return Effect.succeed(new Map())
  const find = SqlSchema.findAll({
    Request,
    Result: Row,
    execute: ({ schemas, tables }) => sql.unsafe(TABLE_STATS_SQL, [schemas, tables])
  })
  return find({ schemas: tables.map((t) => t.schema), tables: tables.map((t) => t.table) }).pipe(
    Effect.map(
      (rows) =>
        new Map(
          rows.map((row) => [
            `${row.schema}.${row.table}`,
            { liveRows: row.live_rows, modifiedSinceAnalyze: row.modified, lastAnalyzedAt: row.analyzed_at }
          ])
        )
    )
  )
}

