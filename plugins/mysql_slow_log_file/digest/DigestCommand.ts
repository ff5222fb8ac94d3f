import { hostname } from "node:os"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { CliFailure } from "../../../src/cli/CliFailure.js"
import type { SlowLogProblem } from "../SlowLogParser.js"
import { parseOrderBy } from "./Aggregator.js"
import { jsonReport, textReport } from "./Report.js"
import { type DigestProgress, defaultThreads, runDigest } from "./RunDigest.js"

const files = Args.text({ name: "FILE" }).pipe(
  Args.withDescription("Slow log files to read, in order; `-` reads stdin. Gzip-compressed input is recognised and decompressed."),
  Args.atLeast(1)
)
const format = Options.choice("format", ["report", "json"]).pipe(
  Options.withDescription("`report`: pt-query-digest's text report; `json`: the same as one JSON document."),
  Options.withDefault("report" as const)
)
const top = Options.integer("top").pipe(
  Options.withDescription("How many classes to report in full (pt-query-digest's --limit); the rest are summed up as MISC."),
  Options.withDefault(20)
)
const orderBy = Options.text("order-by").pipe(
  Options.withDescription(
    "Rank classes by ATTRIBUTE:FUNCTION, e.g. Query_time:sum (default), Query_time:max, Rows_examined:sum, Lock_time:cnt. Attributes: Query_time, Lock_time, Rows_sent, Rows_examined, Rows_affected, Query_length; functions: sum, min, max, cnt."
  ),
  Options.withDefault("Query_time:sum")
)
const since = Options.text("since").pipe(
  Options.withDescription(
    "Only statements that started at or after this time: 2024-01-15, 2024-01-15T10:00:00 (UTC unless an offset such as +02:00 follows), 240115 10:00:00, epoch seconds, or a duration back from now such as 12h, 30m, 7d."
  ),
  Options.optional
)
const threads = Options.integer("threads").pipe(
  Options.withDescription(
    `Threads that read a large file (32 MiB or more) in parts at once; 1 reads on one thread. Default: the cores available, at most 4 (here ${defaultThreads()}).`
  ),
  Options.optional
)
const until = Options.text("until").pipe(
  Options.withDescription("Only statements that started before this time; same forms as --since."),
  Options.optional
)

/** `--since`/`--until` values in epoch microseconds; undefined when the text is none of the accepted forms. */
export const parseTimeOption = (text: string, nowMs: number): number | undefined => {
  const value = text.trim()
  const relative = /^(\d{1,5})([smhd]?)$/.exec(value)
  if (relative !== null) {
    const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[relative[2] as "" | "s" | "m" | "h" | "d"]
    return Math.round((nowMs - Number(relative[1]) * unit * 1000) * 1000)
  }
  if (/^\d{9,}(?:\.\d{1,6})?$/.test(value)) return Math.round(Number(value) * 1e6)
  const iso = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d\d:?\d\d)?$/.exec(value)
  const mysql = iso === null ? /^(\d\d)(\d\d)(\d\d)(?:\s+(\d{1,2}):(\d\d):(\d\d))?$/.exec(value) : null
  const parts = iso ?? mysql
  if (parts === null) return undefined
  const year = iso !== null ? Number(parts[1]) : 2000 + Number(parts[1])
  const ms = Date.UTC(year, Number(parts[2]) - 1, Number(parts[3]), Number(parts[4] ?? 0), Number(parts[5] ?? 0), Number(parts[6] ?? 0))
  if (Number.isNaN(ms)) return undefined
  let offsetMinutes = 0
  const zone = iso?.[8]
  if (zone !== undefined && zone !== "Z") {
    const z = /^([+-])(\d\d):?(\d\d)$/.exec(zone)!
    offsetMinutes = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]))
  }
  return (ms - offsetMinutes * 60_000) * 1000 + Number((iso?.[7] ?? "").padEnd(6, "0"))
}

const PROBLEMS_SHOWN = 10

const formatBytes = (bytes: number) =>
  bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`

/** A one-line progress bar on stderr: bytes read, events/s, ETA; redrawn at most five times a second. */
const progressBar = () => {
  const started = Date.now()
  let drawn = 0
  let visible = false
  const draw = (p: DigestProgress) => {
    const now = Date.now()
    if (now - drawn < 200) return
    drawn = now
    const seconds = Math.max((now - started) / 1000, 0.001)
    const rate = Math.round(p.events / seconds)
    let line: string
    if (p.totalBytes !== undefined && p.totalBytes > 0) {
      const fraction = Math.min(p.bytesRead / p.totalBytes, 1)
      const width = 30
      const filled = Math.round(fraction * width)
      const eta = fraction > 0 ? Math.max(0, Math.round(seconds / fraction - seconds)) : 0
      line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${formatBytes(p.bytesRead)} / ${formatBytes(p.totalBytes)}  ${rate.toLocaleString("en-US")} events/s  ETA ${eta}s`
    } else {
      line = `${formatBytes(p.bytesRead)} read  ${rate.toLocaleString("en-US")} events/s`
    }
    process.stderr.write(`\r${line}\u001b[K`)
    visible = true
  }
  const clear = () => {
    if (visible) process.stderr.write("\r\u001b[K")
  }
  return { draw, clear }
}

const digest = (args: {
  readonly files: ReadonlyArray<string>
  readonly format: "report" | "json"
  readonly top: number
  readonly orderBy: string
  readonly since: Option.Option<string>
  readonly until: Option.Option<string>
  readonly threads: Option.Option<number>
}) =>
  Effect.gen(function* () {
    const order = parseOrderBy(args.orderBy)
    if (order === undefined) {
      return yield* new CliFailure({
        message: `--order-by ${args.orderBy} is not ATTRIBUTE:FUNCTION (attributes: Query_time, Lock_time, Rows_sent, Rows_examined, Rows_affected, Query_length; functions: sum, min, max, cnt)`
      })
    }
    if (args.top < 1) return yield* new CliFailure({ message: `--top must be at least 1, not ${args.top}` })
    const threadCount = Option.getOrElse(args.threads, defaultThreads)
    if (threadCount < 1) return yield* new CliFailure({ message: `--threads must be at least 1, not ${threadCount}` })
    const now = Date.now()
    const time = (name: string, value: Option.Option<string>) =>
      Option.match(value, {
        onNone: () => Effect.succeed(undefined),
        onSome: (text) => {
          const parsed = parseTimeOption(text, now)
          return parsed === undefined
            ? Effect.fail(
                new CliFailure({
                  message: `--${name} ${text} is not a time: use 2024-01-15, 2024-01-15T10:00:00[+02:00], 240115 10:00:00, epoch seconds or a duration such as 12h`
                })
              )
            : Effect.succeed(parsed)
        }
      })
    const sinceUs = yield* time("since", args.since)
    const untilUs = yield* time("until", args.until)

    const problems: Array<readonly [string, SlowLogProblem]> = []
    const warnings: Array<string> = []
    const bar = process.stderr.isTTY ? progressBar() : undefined
    const run = yield* runDigest({
      files: args.files,
      threads: threadCount,
      onWarning: (message) => warnings.push(message),
      sinceUs,
      untilUs,
      onProblem: (file, problem) => {
        if (problems.length < PROBLEMS_SHOWN) problems.push([file, problem])
      },
      ...(bar === undefined
        ? {}
        : {
            onProgress: (p: DigestProgress) => {
              // Small inputs finish before a bar is worth drawing.
              if (p.totalBytes === undefined || p.totalBytes > 64 * 1024 * 1024) bar.draw(p)
            }
          })
    }).pipe(
      Effect.catchTag("DigestInputError", (error) => Effect.fail(new CliFailure({ message: error.message }))),
      // A bug in the digest still gets a line on stderr: the CLI prints failures, not defects.
      Effect.catchAllDefect((defect) => Effect.fail(new CliFailure({ message: `digest failed: ${String(defect)}` }))),
      Effect.ensuring(Effect.sync(() => bar?.clear()))
    )

    for (const warning of warnings) yield* Console.error(warning)
    for (const [file, problem] of problems) yield* Console.error(`${file}: ${problem.message}`)
    const problemCount = run.files.reduce((sum, file) => sum + file.problems, 0)
    if (problemCount > problems.length) yield* Console.error(`… and ${problemCount - problems.length} more problems`)
    if (run.eventsParsed === 0) {
      return yield* new CliFailure({
        message: `no slow log entries found in ${run.files.map((f) => `${f.name} (${f.bytes} bytes)`).join(", ")}: is this a MySQL slow query log? Entries start with # Time:, # User@Host: or # Query_time: lines.`
      })
    }
    for (const file of run.files) {
      if (file.events === 0 && file.skippedBytes > 0 && run.files.length > 1) {
        yield* Console.error(`${file.name}: no slow log entries in ${file.bytes} bytes; is it a MySQL slow query log?`)
      }
    }

    const usage = process.resourceUsage()
    const input = {
      aggregator: run.aggregator,
      order,
      top: args.top,
      files: run.files.map((f) => f.name)
    }
    if (args.format === "json") {
      yield* Console.log(JSON.stringify(jsonReport(input), null, 2))
    } else {
      yield* Console.log(
        textReport({
          ...input,
          hostname: hostname(),
          now: new Date(),
          usage: { userSeconds: usage.userCPUTime / 1e6, systemSeconds: usage.systemCPUTime / 1e6, rssBytes: usage.maxRSS * 1024 }
        }).trimEnd()
      )
    }
  })

/** `slowq digest FILE…`: pt-query-digest's report from slow log files, with no database and no store. */
export const digestCommand = Command.make("digest", { files, format, top, orderBy, since, until, threads }, digest).pipe(
  Command.withDescription(
    "Report the query classes of MySQL/MariaDB slow log files, as pt-query-digest does: profile, per-class statistics, samples. Needs no database."
  )
)
