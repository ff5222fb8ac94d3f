/**
 * SQL text of the postgres_pg_stat_statements source. Every statement starts with slowq's marker, so that its own
 * entries in pg_stat_statements are recognised and left out. Only constant text built here and bound parameters
 * reach the server; no collected text is ever sent back.
 */

import { SLOWQ_MARKER } from "../../src/plugin/OwnStatement.js"

/** A quoted identifier, for the schema the extension was created in. */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

/**
 * Who we are, whether the library is preloaded (its GUCs exist only when it was loaded through
 * shared_preload_libraries) and where the extension lives in this database.
 */
export const setup = `${SLOWQ_MARKER} SELECT current_user::text AS role,
  current_database()::text AS database,
  current_user::regrole::oid AS role_oid,
  (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database()) AS database_oid,
  EXISTS (SELECT FROM pg_catalog.pg_settings WHERE name = 'pg_stat_statements.max') AS loaded,
  (SELECT n.nspname::text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements') AS schema,
  (SELECT e.extversion::text FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_stat_statements') AS version,
  (SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(n.nspname) || '.pg_stat_statements_info') IS NOT NULL
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_stat_statements') AS has_info`

/** The view's columns: they differ from PostgreSQL 13 to 17. $1 the extension's schema. */
export const columns = `${SLOWQ_MARKER} SELECT a.attname::text AS name
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident($1) || '.pg_stat_statements')
  AND a.attnum > 0 AND NOT a.attisdropped`

/**
 * Session settings of a read: statement_timeout bounds every statement (a parameter, so set_config rather than
 * SET); extra_float_digits = 3 makes float8 text exact whatever the role's default, since times come back as text.
 */
export const sessionSettings = `${SLOWQ_MARKER} SELECT pg_catalog.set_config('statement_timeout', $1, false), pg_catalog.set_config('extra_float_digits', '3', false)`

const epochMicros = (expression: string) => `(extract(epoch FROM ${expression}) * 1000000)::bigint::text`

/**
 * The server's identity and clock, and the extension's reset time and eviction count. The clock is read before
 * the snapshot, so it is the end of the interval the snapshot closes.
 */
export const info = (schema: string, hasInfo: boolean) =>
  `${SLOWQ_MARKER} SELECT c.system_identifier::text AS system_identifier,
  ${epochMicros("pg_catalog.clock_timestamp()")} AS now_us,
  ${hasInfo ? epochMicros("i.stats_reset") : "NULL::text"} AS stats_reset_us,
  ${hasInfo ? "i.dealloc::text" : "NULL::text"} AS dealloc,
  pg_catalog.current_setting('pg_stat_statements.max', true) AS max
FROM pg_catalog.pg_control_system() c${hasInfo ? `, ${quoteIdent(schema)}.pg_stat_statements_info() i` : ""}`

/**
 * Cumulative counters, differenced between polls. `calls` and `rows` first: the source relies on their positions.
 * Which ones a server has depends on its version; `column` is the name in the view.
 */
export const COUNTER_COLUMNS = [
  "calls",
  "rows",
  "plans",
  "shared_blks_hit",
  "shared_blks_read",
  "shared_blks_dirtied",
  "shared_blks_written",
  "local_blks_hit",
  "local_blks_read",
  "local_blks_dirtied",
  "local_blks_written",
  "temp_blks_read",
  "temp_blks_written",
  "wal_records",
  "wal_fpi",
  "wal_bytes",
  "jit_functions",
  "jit_inlining_count",
  "jit_optimization_count",
  "jit_emission_count",
  "jit_deform_count"
] as const

/**
 * Cumulative times in milliseconds, differenced between polls; `total_exec_time` first. PostgreSQL 17 splits
 * `blk_read_time` into `shared_blk_read_time` and `local_blk_read_time` (same for writes).
 */
export const TIME_COLUMNS = [
  "total_exec_time",
  "total_plan_time",
  "blk_read_time",
  "blk_write_time",
  "shared_blk_read_time",
  "shared_blk_write_time",
  "local_blk_read_time",
  "local_blk_write_time",
  "temp_blk_read_time",
  "temp_blk_write_time",
  "jit_generation_time",
  "jit_inlining_time",
  "jit_optimization_time",
  "jit_emission_time",
  "jit_deform_time"
] as const

/**
 * Figures PostgreSQL keeps since the entry was created (or reset) and that cannot be differenced. `min_exec_time`
 * and `max_exec_time` first: they also tell a re-created entry apart on servers without `stats_since`.
 */
export const SINCE_RESET_COLUMNS = [
  "min_exec_time",
  "max_exec_time",
  "mean_exec_time",
  "stddev_exec_time",
  "min_plan_time",
  "max_plan_time",
  "mean_plan_time",
  "stddev_plan_time"
] as const

/** The columns one server has, in the order of the arrays the snapshot query returns. */
export interface ColumnSet {
  readonly counters: ReadonlyArray<string>
  readonly times: ReadonlyArray<string>
  readonly sinceReset: ReadonlyArray<string>
  /** PostgreSQL 14+. */
  readonly toplevel: boolean
  /** PostgreSQL 17+: when the entry was created, which tells a re-created entry apart for certain. */
  readonly statsSince: boolean
}

/** The columns the source needs whatever the version; without them it refuses to start. */
export const REQUIRED_COLUMNS = ["userid", "dbid", "queryid", "calls", "rows", "total_exec_time", "min_exec_time", "max_exec_time"]

export const columnSet = (available: ReadonlySet<string>): ColumnSet => ({
  counters: COUNTER_COLUMNS.filter((name) => available.has(name)),
  times: TIME_COLUMNS.filter((name) => available.has(name)),
  sinceReset: SINCE_RESET_COLUMNS.filter((name) => available.has(name)),
  toplevel: available.has("toplevel"),
  statsSince: available.has("stats_since")
})

/**
 * The snapshot, without query texts (`showtext := false` skips reading the external text file), as rows of
 * positional values (the source reads them with rowMode "array"):
 *   dbid, userid, queryid (text), toplevel, counters… (text), times… and since-reset… (float8), stats_since_us (text)
 * Plain columns cost the server least (test/bench/pgss.ts); names come from `names`. Entries of other users that the
 * role may not see have a NULL queryid; they are returned so that they can be counted.
 * $1 databases to include (empty: all), $2 databases to exclude, $3 whether nested statements are wanted.
 */
export const snapshot = (schema: string, columns: ColumnSet) =>
  `${SLOWQ_MARKER} SELECT s.dbid, s.userid, s.queryid::text, ${columns.toplevel ? "s.toplevel" : "true"},
  ${[...columns.counters.map((name) => `s.${name}::text`), ...[...columns.times, ...columns.sinceReset].map((name) => `s.${name}::float8`)].join(", ")},
  ${columns.statsSince ? epochMicros("s.stats_since") : "NULL::text"}
FROM ${quoteIdent(schema)}.pg_stat_statements(false) s
JOIN pg_catalog.pg_database d ON d.oid = s.dbid
WHERE (pg_catalog.cardinality($1::text[]) = 0 OR d.datname = ANY ($1::text[]))
  AND NOT (d.datname = ANY ($2::text[]))
  AND ($3::bool OR ${columns.toplevel ? "s.toplevel" : "true"})`

/** Names of databases and roles, for the ids in the snapshot; read after it, so that every id it holds is known. */
export const names = `${SLOWQ_MARKER} SELECT 'd' AS kind, oid, datname::text AS name FROM pg_catalog.pg_database
UNION ALL SELECT 'r', oid, rolname::text FROM pg_catalog.pg_roles`

/**
 * Texts of the given entries. `showtext := true` makes the server read its whole query text file whatever the
 * filter, so the source calls this only when some active entry's text is not in its checkpoint. An entry may
 * come back once per user and level; the source keeps one text per (dbid, queryid).
 */
export const texts = (schema: string) =>
  `${SLOWQ_MARKER} SELECT s.dbid, s.queryid::text AS queryid, s.query
FROM ${quoteIdent(schema)}.pg_stat_statements(true) s
WHERE s.queryid = ANY ($1::bigint[]) AND s.dbid = ANY ($2::oid[]) AND s.query IS NOT NULL`
