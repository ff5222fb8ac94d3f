import { Effect, Layer } from "effect"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { utcOffsetMinutes } from "../../src/plugin/LogFileConfig.js"
import { type LogFileMessages, type LogFileParser, type LogFormat, tailLogFiles } from "../../src/plugin/LogFileTail.js"
import { SlowQuerySource, type SourceError } from "../../src/plugin/SlowQuerySource.js"
import type { Config } from "./config.js"
import { eventStartMicros } from "./EventTime.js"
import { type SlowLogEvent, SlowLogParser, type SlowLogProblem } from "./SlowLogParser.js"

// The tailing (files, rotation, checkpoints) is the SDK's (src/plugin/LogFileTail.ts); what is MySQL's is here.
export { Checkpoint, FileCheckpoint, globRegExp, openRegular } from "../../src/plugin/LogFileTail.js"

const PLUGIN = "mysql_slow_log_file"

/** Everything slowq stores of one parsed entry. `fileKey` identifies the file for good (see FileCheckpoint.key). */
export const toSlowQueryEvent = (entry: SlowLogEvent, fileKey: string, localOffsetMinutes: number): SlowQueryEvent => {
  const attributes: Record<string, string | number | boolean> = { ...entry.attributes }
  if (entry.truncatedBytes > 0) attributes.statement_truncated_bytes = entry.truncatedBytes
  return makeEvent({
    key: `${fileKey}:${entry.offset}`,
    // 0 only for an entry with neither `SET timestamp` nor `# Time:`, which no server writes.
    startTimeUs: eventStartMicros(entry, localOffsetMinutes) ?? 0,
    // Whole microseconds, as the server measures them, then milliseconds: the same figures as the table source.
    queryTimeMs: Math.round(entry.queryTime * 1e6) / 1000,
    lockTimeMs: Math.round(entry.lockTime * 1e6) / 1000,
    rowsSent: entry.rowsSent,
    rowsExamined: entry.rowsExamined,
    rowsAffected: entry.rowsAffected ?? 0,
    db: entry.db ?? null,
    user: entry.userHost ?? null,
    threadId: entry.threadId ?? null,
    sqlText: entry.sql,
    attributes
  })
}


const notAFile = (path: string, kind: string) =>
  `${path} is ${kind}, not a slow log file; source.path must name the slow log file (SELECT @@slow_query_log_file on the server) or a glob of files`

const messages: LogFileMessages = {
  notAFile,
  permissionDenied: (what, path) =>
    `slowq may not ${what} ${path} (permission denied): give the user that runs slowq read access, e.g. add it to the group that owns the slow log (often mysql or adm), and access to its folder`,
  noRegularFile: (pattern, others) =>
    `no regular file matches ${pattern} (${others}); source.path must name the slow log file (SELECT @@slow_query_log_file on the server) or a glob of files`,
  noFile: (pattern) =>
    `no file matches ${pattern}. Check the path (SELECT @@slow_query_log_file on the server), that the slow log is on (slow_query_log = ON, log_output including FILE) and that slowq may read the folder.`,
  notThisFormat: (path, skippedBytes) =>
    `${path} does not look like a MySQL slow query log: no entry (# Time: / # User@Host: / # Query_time: lines) in ${skippedBytes} bytes. Check that source.path names the server's slow_query_log_file.`
}

/** The slow log parser as the tailing sees it: an entry resumes after its end, with the database in effect there. */
const adapt = (parser: SlowLogParser, fileKey: string, localOffsetMinutes: number): LogFileParser => {
  const output = (out: { readonly events: ReadonlyArray<SlowLogEvent>; readonly problems: ReadonlyArray<SlowLogProblem> }) => ({
    items: out.events.map((entry) => ({
      event: toSlowQueryEvent(entry, fileKey, localOffsetMinutes),
      resume: entry.end,
      carried: entry.db ?? null
    })),
    problems: out.problems
  })
  return {
    push: (chunk) => output(parser.push(chunk)),
    finish: () => output(parser.finish()),
    get hasPendingEvent() {
      return parser.hasPendingEvent
    },
    get resumeOffset() {
      return parser.resumeOffset
    },
    get bytesSeen() {
      return parser.bytesSeen
    },
    get carried() {
      return parser.currentDb ?? null
    }
  }
}

/** Builds the source; it holds no resource between runs. */
export const make = Effect.fn("SlowLogFileSource.make")(function* (config: Config) {
  const localOffset = utcOffsetMinutes(config.log_time_zone) ?? 0
  const format: LogFormat = {
    plugin: PLUGIN,
    span: "SlowLogFileSource.read",
    messages,
    parser: ({ fileKey, startOffset, carried }) =>
      adapt(
        new SlowLogParser({ startOffset, maxStatementBytes: config.max_statement_bytes, initialDb: carried ?? undefined }),
        fileKey,
        localOffset
      )
  }
  return SlowQuerySource.of({ read: (checkpoint) => tailLogFiles(format, config, checkpoint) })
})

/** The source as a layer of the port. */
export const layer = (config: Config): Layer.Layer<SlowQuerySource, SourceError> => Layer.effect(SlowQuerySource, make(config))
