/**
 * SQL text of the mysql_slow_log_table source. Every statement starts with slowq's marker: with
 * long_query_time = 0 the server logs the poll itself, and the runtime drops the rows that start with the marker.
 * Small statements go through server-side prepared statements; `readSlowLog` is streamed over the text protocol,
 * where the driver formats the parameters into the text: safe because only this constant text and numeric
 * parameters travel on it. The session never allows several statements in one call (`multipleStatements: false`).
 */

import { SLOWQ_MARKER } from "../../src/plugin/OwnStatement.js"

/** The account the server matched the login to, as `user@host`: it names the grantee in error messages. */
export const currentUser = `${SLOWQ_MARKER} SELECT CURRENT_USER() AS account`

/**
 * The columns of mysql.slow_log the user may see (none without a privilege on the table). MariaDB 10.11 has
 * `rows_affected`, MySQL 8 does not.
 */
export const slowLogColumns = `${SLOWQ_MARKER} SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'slow_log'`

/** Fails with the server's precise reason (1142 missing grant, 1146 no table) when the columns query found none. */
export const probeSlowLog = `${SLOWQ_MARKER} SELECT 1 FROM mysql.slow_log LIMIT 0`

/**
 * Stops our own read on the server when the runtime stops consuming it early (shutdown, interrupted run). Sent
 * from a separate connection: the reading one is busy, paused in the middle of the result.
 */
export const killQuery = (threadId: number) => `${SLOWQ_MARKER} KILL QUERY ${Math.trunc(threadId)}`

/** Makes the session read start_time in the zone the statements were logged in (see `log_time_zone`). */
export const setGlobalTimeZone = `${SLOWQ_MARKER} SET time_zone = @@global.time_zone`
export const setTimeZone = `${SLOWQ_MARKER} SET time_zone = ?`

/** The settings a read depends on, and the server's clock (epoch seconds with microseconds) as a ceiling for the checkpoint. */
export const settings = `${SLOWQ_MARKER} SELECT CAST(@@global.slow_query_log AS CHAR) AS slow_query_log, CAST(@@global.log_output AS CHAR) AS log_output, CAST(UNIX_TIMESTAMP(NOW(6)) AS CHAR) AS now_s`

// HOUR/MINUTE/SECOND/MICROSECOND rather than TIME_TO_SEC: MySQL 8's TIME_TO_SEC returns whole seconds.
const micros = (column: string) =>
  `((HOUR(${column}) * 3600 + MINUTE(${column}) * 60 + SECOND(${column})) * 1000000 + MICROSECOND(${column}))`

// Exact DECIMAL arithmetic on the server; the same value `endUs` computes from the selected strings.
const endMicros = `(UNIX_TIMESTAMP(start_time) * 1000000 + ${micros("query_time")})`

/**
 * Every row whose statement ENDED at or after `?` (epoch microseconds), oldest end first. Rows are written at the
 * end of a statement, so the end time, not start_time, is the order in which they appear. Numbers come back as
 * decimal strings and texts as bytes, so that no precision is lost and no charset conversion can fail.
 *
 * mysql.slow_log is a CSV table without indexes: every filter is a full scan, so a read is this one statement.
 */
export const readSlowLog = (columns: { readonly rowsAffected: boolean }) =>
  `${SLOWQ_MARKER} SELECT
  CAST(UNIX_TIMESTAMP(start_time) AS CHAR) AS start_s,
  CAST(${micros("query_time")} AS CHAR) AS query_us,
  CAST(${micros("lock_time")} AS CHAR) AS lock_us,
  CAST(rows_sent AS CHAR) AS rows_sent,
  CAST(rows_examined AS CHAR) AS rows_examined,
  ${columns.rowsAffected ? "CAST(rows_affected AS CHAR)" : "'0'"} AS rows_affected,
  CAST(db AS BINARY) AS db,
  CAST(user_host AS BINARY) AS user_host,
  CAST(thread_id AS CHAR) AS thread_id,
  CAST(server_id AS CHAR) AS server_id,
  CAST(sql_text AS BINARY) AS sql_text
FROM mysql.slow_log
WHERE ${endMicros} >= ?
ORDER BY ${endMicros}`
