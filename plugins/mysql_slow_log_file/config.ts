import { Schema } from "effect"
import { LogPath } from "../../src/plugin/LogFileTail.js"

const MiB = 1024 * 1024

const TimeZoneOffset = Schema.String.pipe(
  Schema.pattern(/^(?:[+-](?:0\d|1[0-4]):[0-5]\d|UTC|Z)$/, {
    message: () => "Expected a UTC offset such as +00:00, -05:30 or UTC"
  })
)

export const Config = Schema.Struct({
  type: Schema.Literal("mysql_slow_log_file").annotations({
    description: "Tails MySQL/MariaDB/Percona Server slow query log files (log_output = FILE, the server default)."
  }),
  path: LogPath.annotations({
    description:
      "The slow log file (slow_query_log_file), or a glob of several such as /var/log/mysql/*-slow.log. Wildcards (*, ?, [abc]) may appear in the file name only. A file rotated by renaming (slow.log → slow.log.1) is finished from where the source stopped even when the new name no longer matches; compressed files (.gz, .bz2, .xz, .zst) are skipped."
  }),
  batch_size: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { exact: true, default: () => 5000 })
    .annotations({
      description:
        "Events per batch; each batch is stored together with the file offsets it reaches, in one transaction. A batch's statement costs the store a fixed part per query it touches (totals and rollups) and a part per event: larger batches amortize the first when a backlog is read; while tailing, a batch is whatever was written since the last."
    }),
  start_at: Schema.optionalWith(Schema.Literal("beginning", "end"), { exact: true, default: () => "beginning" as const })
    .annotations({
      description:
        "Where to start in the files found on the pipeline's very first run: `beginning` reads the history already in them, `end` only what is written from now on. Files that appear later (after a rotation) are always read from their beginning."
    }),
  settle_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 600_000)), { exact: true, default: () => 1000 })
    .annotations({
      description:
        "The last entry of a file has no next entry to show that it is complete, so it is read only once the file has not changed for this long; until then it waits for the next run. The server writes an entry in one go, well within this time."
    }),
  max_statement_bytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(1024, 1024 * MiB)), {
    exact: true,
    default: () => 64 * MiB
  }).annotations({
    description:
      "A statement longer than this (bytes) is stored cut to this length, with the attribute statement_truncated_bytes; it bounds the memory a damaged or huge entry can take."
  }),
  log_time_zone: Schema.optionalWith(TimeZoneOffset, { exact: true, default: () => "+00:00" }).annotations({
    description:
      "UTC offset of the server's local time, for the old `# Time: 240115 10:00:00` lines (MariaDB, MySQL 5.6). It only matters for an entry without `SET timestamp=…;`, which every current server writes."
  })
})
export type Config = typeof Config.Type
export type ConfigInput = typeof Config.Encoded
