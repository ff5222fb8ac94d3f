import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { CliFailure } from "../../../src/cli/CliFailure.js"
import { checkDigestArgs, type DigestFailure, printDigest } from "./DigestCli.js"
import { defaultThreads } from "./DigestFiles.js"

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

/**
 * The digest as the full CLI runs it: `slowq --help`, and `slowq digest` with arguments that DigestCli's plain
 * parser leaves to @effect/cli. Checks, output and failures are DigestCli's, shared with the plain path.
 */
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
    const checked = checkDigestArgs(
      {
        files: args.files,
        format: args.format,
        top: args.top,
        orderBy: args.orderBy,
        since: Option.getOrUndefined(args.since),
        until: Option.getOrUndefined(args.until),
        threads: Option.getOrUndefined(args.threads)
      },
      Date.now()
    )
    if ("_tag" in checked) return yield* new CliFailure({ message: checked.message })
    // Interrupted (Ctrl-C), the digest is stopped and this waits until its worker threads have exited.
    const failed = yield* Effect.async<DigestFailure | undefined>((resume) => {
      const stop = new AbortController()
      const printing = printDigest(checked, stop.signal)
      printing.then(
        (result) => resume(Effect.succeed(result)),
        (defect: unknown) => resume(Effect.die(defect))
      )
      return Effect.promise(() => {
        stop.abort()
        return printing.catch(() => undefined)
      })
    })
    if (failed !== undefined) return yield* new CliFailure({ message: failed.message })
  })

/** `slowq digest FILE…`: pt-query-digest's report from slow log files, with no database and no store. */
export const digestCommand = Command.make("digest", { files, format, top, orderBy, since, until, threads }, digest).pipe(
  Command.withDescription(
    "Report the query classes of MySQL/MariaDB slow log files, as pt-query-digest does: profile, per-class statistics, samples. Needs no database."
  )
)
