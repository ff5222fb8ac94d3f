import { Schema } from "effect"
import { logFileFields, logTimeZone, settleMs } from "../../src/plugin/LogFileConfig.js"
import { LogPath } from "../../src/plugin/LogFileTail.js"

export const Config = Schema.Struct({
  type: Schema.Literal("mysql_slow_log_file").annotations({
    description: "Tails MySQL/MariaDB/Percona Server slow query log files (log_output = FILE, the server default)."
  }),
  path: LogPath.annotations({
    description:
      "The slow log file (slow_query_log_file), or a glob of several such as /var/log/mysql/*-slow.log. Wildcards (*, ?, [abc]) may appear in the file name only. A file rotated by renaming (slow.log → slow.log.1) is finished from where the source stopped even when the new name no longer matches; compressed files (.gz, .bz2, .xz, .zst) are skipped."
  }),
  ...logFileFields,
  settle_ms: settleMs(
    "The last entry of a file has no next entry to show that it is complete, so it is read only once the file has not changed for this long; until then it waits for the next run. The server writes an entry in one go, well within this time."
  ),
  log_time_zone: logTimeZone(
    "UTC offset of the server's local time, for the old `# Time: 240115 10:00:00` lines (MariaDB, MySQL 5.6). It only matters for an entry without `SET timestamp=…;`, which every current server writes."
  )
})
export type Config = typeof Config.Type
export type ConfigInput = typeof Config.Encoded
