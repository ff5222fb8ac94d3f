import * as os from "node:os"
import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type { Teardown } from "@effect/platform/Runtime"
import { Cause, Console, Effect, Exit, Layer, Logger, LogLevel } from "effect"
import { isPluginCommand, loadPluginCommands, pluginCommands } from "../plugins/commands.js"
import { scrubbingLogger } from "./pipeline/LogScrub.js"
import { Plugins } from "./plugin/Plugin.js"

const VERSION = "0.1.0"
const DESCRIPTION = "Finds the slow queries of MySQL/MariaDB and PostgreSQL databases and shows why they are slow."

// Logs go to stderr so that stdout carries only what a command prints (reports, JSON, summaries).
const logLevel = LogLevel.fromLiteral(
  (["All", "Trace", "Debug", "Info", "Warning", "Error", "Fatal", "None"] as const).find(
    (level) => level.toLowerCase() === (process.env.SLOWQ_LOG_LEVEL ?? "info").toLowerCase()
  ) ?? "Info"
)
const LoggerLive = Layer.mergeAll(
  Logger.replace(
    Logger.defaultLogger,
    Logger.withConsoleError(scrubbingLogger(process.env.SLOWQ_LOG_FORMAT === "json" ? Logger.jsonLogger : Logger.logfmtLogger))
  ),
  Logger.minimumLogLevel(logLevel)
)

/**
 * The command invoked is loaded alone (`slowq validate` without the store, the HTTP API or the database drivers;
 * `slowq digest` without any of the runtime's commands), so that each starts with what it uses only. Anything
 * else (no command, --help, --version, a typo) loads every command, for the full CLI's help and its messages.
 */
const cli = Effect.gen(function* () {
  const name = process.argv[2]
  if (isPluginCommand(name)) {
    const command = yield* Effect.promise(pluginCommands[name])
    const slowq = Command.make("slowq").pipe(Command.withDescription(DESCRIPTION), Command.withSubcommands([command]))
    return yield* Command.run(slowq, { name: "slowq", version: VERSION })(process.argv)
  }
  const [{ CoreCommandsLive, isCoreCommand, loadCoreCommand, loadCoreCommands }, { plugins }] = yield* Effect.promise(() =>
    Promise.all([import("./cli/Commands.js"), import("../plugins/index.js")])
  )
  const commands = isCoreCommand(name)
    ? ([yield* Effect.promise(() => loadCoreCommand(name))] as const)
    : yield* Effect.promise(() =>
        Promise.all([loadCoreCommands(), loadPluginCommands()]).then(([core, lazy]) => [...core, ...lazy] as const)
      )
  const slowq = Command.make("slowq").pipe(Command.withDescription(DESCRIPTION), Command.withSubcommands(commands))
  return yield* Command.run(slowq, { name: "slowq", version: VERSION })(process.argv).pipe(
    Effect.provide(CoreCommandsLive.pipe(Layer.provideMerge(Layer.succeed(Plugins, plugins))))
  )
})

// Which signal stopped the command, for its exit code: runMain only tells the teardown that it was interrupted.
let signalled: "SIGINT" | "SIGTERM" | undefined
const onSignal = (signal: "SIGINT" | "SIGTERM") => {
  signalled ??= signal
}

/**
 * The exit code, once stdout and stderr have been flushed. runMain ends a failed or signalled command with
 * process.exit, which drops what a pipe has not taken yet: `slowq validate 2>&1 | less` lost all but its first
 * 64 KiB. A shell reads 128 + the signal's number as "stopped by that signal" (130 SIGINT, 143 SIGTERM); `run` is
 * the exception, since a signal is how a daemon is asked to stop, and its orderly stop is a success.
 */
/**
 * Calls `done` once everything written to `stream` so far is handed to the OS: a write's callback runs after it and
 * every write before it. A stream a command ended itself (`slowq fingerprint` streams into stdout and ends it), or
 * whose reader is gone (EPIPE), has nothing left to flush and must not throw.
 */
const flush = (stream: NodeJS.WriteStream, done: () => void) => {
  if (stream.writableEnded || stream.destroyed) return done()
  stream.on("error", () => {})
  stream.write("", () => done())
}

const teardown: Teardown = (exit, onExit) => {
  process.removeListener("SIGINT", onSignal)
  process.removeListener("SIGTERM", onSignal)
  const signal = signalled
  const stoppedBySignal = signal !== undefined && Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
  const code =
    stoppedBySignal && process.argv[2] !== "run"
      ? 128 + os.constants.signals[signal]
      : Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
        ? 1
        : 0
  let pending = 2
  const flushed = () => {
    if (--pending === 0) onExit(code)
  }
  flush(process.stdout, flushed)
  flush(process.stderr, flushed)
  // After a signal, a reader that stopped reading must not keep the process from ending.
  if (stoppedBySignal) setTimeout(() => onExit(code), 5_000).unref()
}

// Installed together with runMain's own handlers: earlier, a signal during start-up would be caught and ignored.
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
cli.pipe(
  Effect.catchTag("CliFailure", (failure) => Console.error(failure.message).pipe(Effect.zipRight(Effect.fail(failure)))),
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause) || Cause.failureOption(cause)._tag === "Some"
      ? Effect.void
      : Effect.logError("slowq failed", cause)
  ),
  Effect.provide(Layer.mergeAll(NodeContext.layer, LoggerLive)),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
)
