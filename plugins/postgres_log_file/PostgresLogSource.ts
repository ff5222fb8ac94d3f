import { Effect, Layer } from "effect"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { utcOffsetMinutes } from "../../src/plugin/LogFileConfig.js"
import { type LogFileMessages, type LogFileParser, type LogFormat, tailLogFiles } from "../../src/plugin/LogFileTail.js"
import { SlowQuerySource, SourceError } from "../../src/plugin/SlowQuerySource.js"
import type { Config } from "./config.js"
import { compilePrefix } from "./LogLinePrefix.js"
import { type PostgresLogEvent, PostgresLogParser } from "./PostgresLogParser.js"

const PLUGIN = "postgres_log_file"

/**
 * auto_explain's JSON as the explain stage keeps plans: EXPLAIN (FORMAT JSON)'s shape, an array of one object with
 * `Plan`. `Query Text` (the statement, which the event holds) and `Query Parameters` (PostgreSQL 16+'s values) are
 * left out: a plan is the plan, and the values are the sample policy's to keep or not.
 */
export const storedPlan = (logged: Readonly<Record<string, unknown>>): ReadonlyArray<Record<string, unknown>> | undefined => {
  if (typeof logged.Plan !== "object" || logged.Plan === null) return undefined
  const { "Query Text": _text, "Query Parameters": _parameters, ...rest } = logged
  return [rest]
}

/** Everything slowq stores of one execution; `fileKey` identifies the file for good. */
export const toSlowQueryEvent = (entry: PostgresLogEvent, fileKey: string): SlowQueryEvent => {
  const attributes: Record<string, string | number | boolean> = { logged_as: entry.kind }
  if (entry.application !== undefined) attributes.application_name = entry.application
  if (entry.prepared !== undefined) attributes.prepared_statement = entry.prepared
  if (entry.truncatedBytes > 0) attributes.statement_truncated_bytes = entry.truncatedBytes
  const plan = entry.plan === undefined ? undefined : storedPlan(entry.plan)
  return makeEvent({
    key: `${fileKey}:${entry.offset}`,
    startTimeUs: entry.startUs,
    queryTimeMs: entry.durationMs,
    db: entry.database ?? null,
    user: entry.user === undefined ? null : entry.host === undefined ? entry.user : `${entry.user}@${entry.host}`,
    threadId: entry.pid ?? null,
    sqlText: entry.sql,
    attributes,
    ...(plan === undefined ? {} : { plan })
  })
}

const notAFile = (path: string, kind: string) =>
  `${path} is ${kind}, not a PostgreSQL log file; source.path must name the server log (Debian: /var/log/postgresql/postgresql-<version>-main.log) or a glob of files`

const messages: LogFileMessages = {
  notAFile,
  permissionDenied: (what, path) =>
    `slowq may not ${what} ${path} (permission denied): give the user that runs slowq read access, e.g. add it to the group that owns the log (Debian: adm), and access to its folder`,
  noRegularFile: (pattern, others) =>
    `no regular file matches ${pattern} (${others}); source.path must name the server log or a glob of files`,
  noFile: (pattern) =>
    `no file matches ${pattern}. Check the path (SHOW log_directory, log_filename and logging_collector on the server; Debian writes /var/log/postgresql/postgresql-<version>-main.log) and that slowq may read the folder.`,
  notThisFormat: (path, skippedBytes) =>
    `${path} has no line of the configured log_line_prefix in ${skippedBytes} bytes. Check source.log_line_prefix against SHOW log_line_prefix, and that log_destination is stderr.`
}

const adapt = (parser: PostgresLogParser, fileKey: string): LogFileParser => {
  const output = (items: ReadonlyArray<{ readonly event: PostgresLogEvent; readonly resume: number }>) => ({
    items: items.map(({ event, resume }) => ({ event: toSlowQueryEvent(event, fileKey), resume, carried: null })),
    problems: parser.lastProblems
  })
  return {
    push: (chunk) => output(parser.pushWithResume(chunk)),
    finish: () => output(parser.finishWithResume()),
    get hasPendingEvent() {
      return parser.hasPendingEvent
    },
    get resumeOffset() {
      return parser.resumeOffset
    },
    get bytesSeen() {
      return parser.bytesSeen
    },
    carried: null
  }
}

/** Builds the source; it holds no resource between runs. */
export const make = Effect.fn("PostgresLogSource.make")(function* (config: Config) {
  const prefix = compilePrefix(config.log_line_prefix)
  if ("unknown" in prefix) {
    // The config's schema refuses such a prefix before a source is built.
    return yield* new SourceError({
      plugin: PLUGIN,
      operation: "connect",
      message: `log_line_prefix escapes not understood: ${prefix.unknown.join(", ")}`
    })
  }
  const format: LogFormat = {
    plugin: PLUGIN,
    span: "PostgresLogSource.read",
    messages,
    parser: ({ fileKey, startOffset }) =>
      adapt(
        new PostgresLogParser({
          prefix,
          startOffset,
          maxStatementBytes: config.max_statement_bytes,
          localOffsetMinutes: utcOffsetMinutes(config.log_time_zone) ?? 0
        }),
        fileKey
      )
  }
  return SlowQuerySource.of({ read: (checkpoint) => tailLogFiles(format, config, checkpoint) })
})

/** The source as a layer of the port. */
export const layer = (config: Config): Layer.Layer<SlowQuerySource, SourceError> => Layer.effect(SlowQuerySource, make(config))
