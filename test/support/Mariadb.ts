import { Effect } from "effect"
import { runCommand } from "./Process.js"

/**
 * Runs SQL on the local MariaDB through the `mariadb` client, as an application would: a new connection,
 * so the global long_query_time = 0 applies. `-c` keeps comments, which the tests use as markers.
 */
export const runMariadb = (sql: string | Buffer, options: { readonly charset?: string } = {}) =>
  runCommand(
    "mariadb",
    [
      "-c",
      "-N",
      "-B",
      "-h",
      "127.0.0.1",
      "-uroot",
      "test",
      ...(options.charset === undefined ? [] : [`--default-character-set=${options.charset}`])
    ],
    sql
  )

/** Empties mysql.slow_log (allowed while logging is on; see LAB.md). Test files run one at a time. */
export const truncateSlowLog = runMariadb("TRUNCATE TABLE mysql.slow_log")

/** SQL text of `count` distinct statements in four shapes, each carrying `marker`, to fill the slow log. */
export const markedStatements = (marker: string, count: number): string => {
  const lines: Array<string> = []
  for (let i = 0; i < count; i++) {
    switch (i % 4) {
      case 0:
        lines.push(`SELECT /* ${marker} */ ${i} AS ${marker};`)
        break
      case 1:
        lines.push(`SELECT /* ${marker} */ 'v${i}' AS ${marker}, ${i} + 1 AS n;`)
        break
      case 2:
        lines.push(`SELECT /* ${marker} */ ${i} AS ${marker} FROM DUAL WHERE ${i} IN (1, 2, 3, ${i});`)
        break
      default:
        // Not a SELECT; the marker names the variable, so that the fingerprint keeps it (events carry no text).
        lines.push(`SET /* ${marker} */ @${marker} = ${i};`)
    }
  }
  return lines.join("\n")
}

/** count(*) and sum of start times (µs) of the slow log rows carrying `marker`, as decimal strings. */
export const slowLogDigest = (marker: string) =>
  runMariadb(
    `SELECT COUNT(*), CAST(CAST(COALESCE(SUM(UNIX_TIMESTAMP(start_time) * 1000000), 0) AS DECIMAL(30, 0)) AS CHAR)
     FROM mysql.slow_log WHERE sql_text LIKE '%${marker}%' AND sql_text NOT LIKE '%mysql.slow_log%'`
  ).pipe(
    Effect.map((out) => {
      const [count, sumUs] = out.trim().split("\t")
      return { count: Number(count), sumUs: sumUs! }
    })
  )
