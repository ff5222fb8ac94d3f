/**
 * slowq's own statements. Every statement slowq sends to any server (a source's polls, the explain stage's EXPLAINs,
 * the store's reads and writes, connection checks) starts with `SLOWQ_MARKER`, and the runtime drops every collected
 * statement that starts with it before the stages run: a watched server that logs everything (long_query_time = 0,
 * pg_stat_statements, a store or an explain_url on the watched server) would otherwise feed slowq its own work.
 *
 * The text stays `/* slowq *\/`: stores, slow logs and pg_stat_statements that already hold statements of earlier
 * versions are recognised the same way.
 */
export const SLOWQ_MARKER = "/* slowq */"

/**
 * Whether a collected text is one of slowq's own statements: the marker first, after optional whitespace. This is
 * where the servers keep it, because slowq puts it before everything else, `EXPLAIN` and `PREPARE … AS` included:
 * the MariaDB/MySQL slow log (table and file) records the text verbatim, and pg_stat_statements records a top-level
 * statement from its first character, comments included (on PostgreSQL 15 the statement inside a `PREPARE` or an
 * `EXPLAIN` gets an entry of its own, `toplevel` false, under the whole text: the marker first there too).
 * The marker anywhere else (`SELECT '/* slowq *\/'`, `SELECT 1 /* slowq *\/`) is an application's statement.
 *
 * Called once per collected event: no allocation, no regular expression.
 */
export const isOwnStatement = (sqlText: string): boolean => {
  let i = 0
  while (i < sqlText.length && isSpace(sqlText.charCodeAt(i))) i++
  return sqlText.startsWith(SLOWQ_MARKER, i)
}

// The whitespace both servers skip before a statement: space, \t, \n, \v, \f, \r.
const isSpace = (code: number): boolean => code === 32 || (code >= 9 && code <= 13)
