import { Schema } from "effect"
import { LogPath } from "../../src/plugin/LogFileTail.js"
import { compilePrefix, ESCAPES } from "./LogLinePrefix.js"

const MiB = 1024 * 1024

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

const TimeZoneOffset = Schema.String.pipe(
  Schema.pattern(/^(?:[+-](?:0\d|1[0-4]):[0-5]\d|UTC|Z)$/, {
    message: () => "Expected a UTC offset such as +00:00, -05:30 or UTC"
  })
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
  batch_size: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { exact: true, default: () => 5000 })
    .annotations({ description: "Events per batch; each batch is stored together with the file offsets it reaches, in one transaction." }),
  start_at: Schema.optionalWith(Schema.Literal("beginning", "end"), { exact: true, default: () => "beginning" as const })
    .annotations({
      description:
        "Where to start in the files found on the pipeline's very first run: `beginning` reads the history already in them, `end` only what is written from now on. Files that appear later (after a rotation) are always read from their beginning."
    }),
  settle_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 600_000)), { exact: true, default: () => 1000 })
    .annotations({
      description:
        "The last entry of a file (and a plan still waiting for its statement line) is taken once the file has not changed for this long; until then it waits for the next run."
    }),
  max_statement_bytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(1024, 1024 * MiB)), {
    exact: true,
    default: () => 64 * MiB
  }).annotations({
    description: "A statement longer than this (bytes) is stored cut to this length, with the attribute statement_truncated_bytes."
  }),
  log_time_zone: Schema.optionalWith(TimeZoneOffset, { exact: true, default: () => "+00:00" }).annotations({
    description:
      "UTC offset of the log's time stamps when log_timezone prints a zone name other than UTC/GMT (CET, EST…); a numeric zone (+01) is read as written."
  })
})
export type Config = typeof Config.Type
export type ConfigInput = typeof Config.Encoded
