import { Schema } from "effect"
import { logFileFields, logTimeZone, settleMs } from "../../src/plugin/LogFileConfig.js"
import { LogPath } from "../../src/plugin/LogFileTail.js"
import { compilePrefix, ESCAPES } from "./LogLinePrefix.js"

const understood = `${Object.keys(ESCAPES)
  .map((c) => `%${c}`)
  .join(" ")} %q %%`

const LogLinePrefix = Schema.String.pipe(
  Schema.filter(
    (text) => {
      const compiled = compilePrefix(text)
      return "unknown" in compiled
        ? `log_line_prefix escape${compiled.unknown.length > 1 ? "s" : ""} ${compiled.unknown.join(", ")} not understood (understood: ${understood}; no padding such as %-10u)`
        : true
    },
    { identifier: "LogLinePrefix" }
  )
)

export const Config = Schema.Struct({
  type: Schema.Literal("postgres_log_file").annotations({
    description:
      "Tails PostgreSQL's own server log (log_destination = stderr): the statements log_min_duration_statement logs and the plans auto_explain logs with them, without a connection to the database."
  }),
  path: LogPath.annotations({
    description:
      "The server log (Debian: /var/log/postgresql/postgresql-15-main.log; with logging_collector: log_directory/log_filename), or a glob of several such as /var/lib/postgresql/15/main/log/postgresql-*.log. Wildcards (*, ?, [abc]) may appear in the file name only. Rotation by renaming and copytruncate are followed; compressed files are skipped."
  }),
  log_line_prefix: Schema.optionalWith(LogLinePrefix, { exact: true, default: () => "%m [%p] %q%u@%d " }).annotations({
    description: `The server's log_line_prefix (SHOW log_line_prefix), exactly. Understood: ${understood}. A time (%m, %t or %n) gives events their time, %p pairs a plan with its statement, %u, %d, %a and %h/%r fill user, database and application. The default is Debian's.`
  }),
  ...logFileFields,
  settle_ms: settleMs(
    "The last entry of a file (and a plan still waiting for its statement line) is taken once the file has not changed for this long; until then it waits for the next run."
  ),
  log_time_zone: logTimeZone(
    "UTC offset of the log's time stamps when log_timezone prints a zone name other than UTC/GMT (CET, EST…); a numeric zone (+01) is read as written."
  )
})
export type Config = typeof Config.Type
export type ConfigInput = typeof Config.Encoded
