/**
 * `slowq digest` without Effect. Effect, @effect/cli and @effect/platform are 1.8 MB of bundled code that the
 * digest itself never needs: loaded, compiled and kept, they were about 15 MB of the command's peak RSS (1M entries,
 * --threads 1: 80 MB, 65 MB without) and made it slower, the larger heap being marked by every GC. So the CLI entry
 * (scripts/build.js, src/bin/slowq.js) hands `slowq digest ARGS` to `runPlainDigest` first, which runs the digest
 * when ARGS are in the plain forms it knows (below), and otherwise leaves them to the full CLI (DigestCommand.ts):
 * `--help`, `--version`, `--wizard`, a value @effect/cli would reject, anything unusual. Both share what a digest
 * checks, prints and fails with (`checkDigestArgs`, `printDigest`), so that they answer the same bytes and exit
 * codes; DigestCli.test.ts runs both on the same arguments.
 */
import { constants, hostname } from "node:os"
import type { SlowLogProblem } from "../SlowLogParser.js"
import { type OrderBy, parseOrderBy } from "./Aggregator.js"
import { DigestInputError, type DigestProgress, defaultThreads, digestFiles } from "./DigestFiles.js"
import { jsonReport, textReport } from "./Report.js"

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

/** The options of `slowq digest` as given, once parsed (by @effect/cli or `parsePlainArgs`). */
export interface DigestOptions {
  readonly files: ReadonlyArray<string>
  readonly format: "report" | "json"
  readonly top: number
  readonly orderBy: string
  readonly since: string | undefined
  readonly until: string | undefined
  readonly threads: number | undefined
}

/** What a digest runs with, once checked. */
export interface DigestArgs {
  readonly files: ReadonlyArray<string>
  readonly format: "report" | "json"
  readonly top: number
  readonly order: OrderBy
  readonly threads: number
  readonly sinceUs: number | undefined
  readonly untilUs: number | undefined
}

/** A digest that ended with a message for the user (stderr, exit code 1). */
export interface DigestFailure {
  readonly _tag: "DigestFailure"
  readonly message: string
}

const failure = (message: string): DigestFailure => ({ _tag: "DigestFailure", message })

/** The options checked in order; the first that is wrong is the failure. */
export const checkDigestArgs = (options: DigestOptions, nowMs: number): DigestArgs | DigestFailure => {
  const order = parseOrderBy(options.orderBy)
  if (order === undefined) {
    return failure(
      `--order-by ${options.orderBy} is not ATTRIBUTE:FUNCTION (attributes: Query_time, Lock_time, Rows_sent, Rows_examined, Rows_affected, Query_length; functions: sum, min, max, cnt)`
    )
  }
  if (options.top < 1) return failure(`--top must be at least 1, not ${options.top}`)
  const threads = options.threads ?? defaultThreads()
  if (threads < 1) return failure(`--threads must be at least 1, not ${threads}`)
  const times: Array<number | undefined> = []
  for (const [name, text] of [
    ["since", options.since],
    ["until", options.until]
  ] as const) {
    const parsed = text === undefined ? undefined : parseTimeOption(text, nowMs)
    if (text !== undefined && parsed === undefined) {
      return failure(
        `--${name} ${text} is not a time: use 2024-01-15, 2024-01-15T10:00:00[+02:00], 240115 10:00:00, epoch seconds or a duration such as 12h`
      )
    }
    times.push(parsed)
  }
  return { files: options.files, format: options.format, top: options.top, order, threads, sinceUs: times[0], untilUs: times[1] }
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

/**
 * Digests the inputs and prints the report on stdout, warnings and parse problems on stderr; resolves to the
 * failure to show instead when the digest could not be made (an input that cannot be read, no entries at all, a
 * bug). Stopped by `signal`, it settles once every worker thread has exited, and what it resolves to is moot.
 */
export const printDigest = async (args: DigestArgs, signal?: AbortSignal): Promise<DigestFailure | undefined> => {
  const problems: Array<readonly [string, SlowLogProblem]> = []
  const warnings: Array<string> = []
  const bar = process.stderr.isTTY ? progressBar() : undefined
  let run: Awaited<ReturnType<typeof digestFiles>>
  try {
    run = await digestFiles(
      {
        files: args.files,
        threads: args.threads,
        onWarning: (message) => warnings.push(message),
        sinceUs: args.sinceUs,
        untilUs: args.untilUs,
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
      },
      signal
    )
  } catch (error) {
    // A bug in the digest still gets a line on stderr.
    return failure(error instanceof DigestInputError ? error.message : `digest failed: ${String(error)}`)
  } finally {
    bar?.clear()
  }

  for (const warning of warnings) console.error(warning)
  for (const [file, problem] of problems) console.error(`${file}: ${problem.message}`)
  const problemCount = run.files.reduce((sum, file) => sum + file.problems, 0)
  if (problemCount > problems.length) console.error(`… and ${problemCount - problems.length} more problems`)
  if (run.eventsParsed === 0) {
    return failure(
      `no slow log entries found in ${run.files.map((f) => `${f.name} (${f.bytes} bytes)`).join(", ")}: is this a MySQL slow query log? Entries start with # Time:, # User@Host: or # Query_time: lines.`
    )
  }
  for (const file of run.files) {
    if (file.events === 0 && file.skippedBytes > 0 && run.files.length > 1) {
      console.error(`${file.name}: no slow log entries in ${file.bytes} bytes; is it a MySQL slow query log?`)
    }
  }

  const usage = process.resourceUsage()
  const input = { aggregator: run.aggregator, order: args.order, top: args.top, files: run.files.map((f) => f.name) }
  if (args.format === "json") {
    console.log(JSON.stringify(jsonReport(input), null, 2))
  } else {
    console.log(
      textReport({
        ...input,
        hostname: hostname(),
        now: new Date(),
        usage: { userSeconds: usage.userCPUTime / 1e6, systemSeconds: usage.systemCPUTime / 1e6, rssBytes: usage.maxRSS * 1024 }
      }).trimEnd()
    )
  }
  return undefined
}

const VALUE_OPTIONS = new Set(["format", "top", "order-by", "since", "until", "threads"])

/**
 * The arguments after `digest` when they are all in forms that @effect/cli reads the same way: FILE operands
 * (`-` is stdin) and the digest's own options, each at most once, as `--name value` or `--name=value`, with
 * values that @effect/cli would accept as they are (`--top`/`--threads` plain digits, `--format` report or json)
 * and that do not begin with `-`, in any order. Anything else is undefined, for the full CLI to answer: help,
 * built-in options, `--`, a repeated option, a value it would reject with its own message.
 */
export const parsePlainArgs = (args: ReadonlyArray<string>): DigestOptions | undefined => {
  const files: Array<string> = []
  const values = new Map<string, string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "-" || !arg.startsWith("-")) {
      files.push(arg)
      continue
    }
    const option = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg)
    if (option === null || !VALUE_OPTIONS.has(option[1]!) || values.has(option[1]!)) return undefined
    const value = option[2] ?? args[++i]
    if (value === undefined || value === "" || value.startsWith("-")) return undefined
    values.set(option[1]!, value)
  }
  if (files.length === 0) return undefined
  const integer = (name: string, fallback: number | undefined): number | undefined | null => {
    const text = values.get(name)
    if (text === undefined) return fallback
    return /^(?:0|[1-9]\d{0,8})$/.test(text) ? Number(text) : null
  }
  const format = values.get("format") ?? "report"
  const top = integer("top", 20)
  const threads = integer("threads", undefined)
  if ((format !== "report" && format !== "json") || top === null || top === undefined || threads === null) return undefined
  return {
    files,
    format,
    top,
    orderBy: values.get("order-by") ?? "Query_time:sum",
    since: values.get("since"),
    until: values.get("until"),
    threads
  }
}

/** Resolves once everything written to `stream` so far is handed to the OS (as src/main.ts flushes). */
const flushed = (stream: NodeJS.WriteStream) =>
  new Promise<void>((resolve) => {
    if (stream.writableEnded || stream.destroyed) return resolve()
    stream.on("error", () => {})
    stream.write("", () => resolve())
  })

/**
 * `slowq digest ARGS` without Effect, when `parsePlainArgs` reads ARGS; false, having done nothing, when it does
 * not. Exit codes are the full CLI's: 0, 1 with a message on stderr, 130/143 on SIGINT/SIGTERM once every worker
 * thread has stopped.
 */
export const runPlainDigest = async (args: ReadonlyArray<string>): Promise<boolean> => {
  const options = parsePlainArgs(args)
  if (options === undefined) return false
  const checked = checkDigestArgs(options, Date.now())
  if ("_tag" in checked) {
    console.error(checked.message)
    process.exitCode = 1
    return true
  }
  const stop = new AbortController()
  let signalled: "SIGINT" | "SIGTERM" | undefined
  const onSignal = (signal: "SIGINT" | "SIGTERM") => {
    signalled ??= signal
    stop.abort()
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  const result = await printDigest(checked, stop.signal)
  process.removeListener("SIGINT", onSignal)
  process.removeListener("SIGTERM", onSignal)
  if (signalled !== undefined) {
    // The part read on this thread may still wait on stdin: end once stdout and stderr are flushed.
    const code = 128 + constants.signals[signalled]
    setTimeout(() => process.exit(code), 5_000).unref()
    await Promise.all([flushed(process.stdout), flushed(process.stderr)])
    process.exit(code)
  }
  if (result !== undefined) {
    console.error(result.message)
    process.exitCode = 1
  }
  return true
}
