import { Schema } from "effect"

// The settings every log file source shares (with LogFileTail, which reads the files): how its batches are cut,
// where a first run starts, when a file's last entry counts as complete, the longest statement kept, and the zone
// of the log's local times. Each source adds its path and its format's own settings.

const MiB = 1024 * 1024

export const TimeZoneOffset = Schema.String.pipe(
  Schema.pattern(/^(?:[+-](?:0\d|1[0-4]):[0-5]\d|UTC|Z)$/, {
    message: () => "Expected a UTC offset such as +00:00, -05:30 or UTC"
  })
)

export const logFileFields = {
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
  max_statement_bytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(1024, 1024 * MiB)), {
    exact: true,
    default: () => 64 * MiB
  }).annotations({
    description:
      "A statement longer than this (bytes) is stored cut to this length, with the attribute statement_truncated_bytes; it bounds the memory a damaged or huge entry can take."
  })
}

/** `settle_ms`, described for the format (what its last entry waits for). */
export const settleMs = (description: string) =>
  Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 600_000)), { exact: true, default: () => 1000 }).annotations({
    description
  })

/** A UTC offset in minutes: `+05:30` (or `+0530`) → 330, `UTC`/`Z` → 0; undefined for anything else. */
export const utcOffsetMinutes = (text: string): number | undefined => {
  if (text === "UTC" || text === "Z") return 0
  const match = /^([+-])(\d\d):?(\d\d)$/.exec(text)
  if (match === null) return undefined
  const minutes = Number(match[2]) * 60 + Number(match[3])
  return match[1] === "-" ? -minutes : minutes
}

/** `log_time_zone`, described for the format (which of its times it applies to). */
export const logTimeZone = (description: string) =>
  Schema.optionalWith(TimeZoneOffset, { exact: true, default: () => "+00:00" }).annotations({ description })
