import { Command } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Layer, Logger, LogLevel } from "effect"
import { isPluginCommand, loadPluginCommands, pluginCommands } from "../plugins/commands.js"
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
    Logger.withConsoleError(process.env.SLOWQ_LOG_FORMAT === "json" ? Logger.jsonLogger : Logger.logfmtLogger)
  ),
  Logger.minimumLogLevel(logLevel)
)

/**
 * A plugin's command (e.g. `slowq digest`) is loaded alone, so that it starts without every plugin and driver;
 * anything else loads the runtime's commands and the plugin list.
 */
const cli = Effect.gen(function* () {
  const name = process.argv[2]
  if (isPluginCommand(name)) {
    const command = yield* Effect.promise(pluginCommands[name])
    const slowq = Command.make("slowq").pipe(Command.withDescription(DESCRIPTION), Command.withSubcommands([command]))
    return yield* Command.run(slowq, { name: "slowq", version: VERSION })(process.argv)
  }
  const [{ coreCommands, CoreCommandsLive }, { plugins }, lazy] = yield* Effect.promise(() =>
    Promise.all([
      import("./cli/Commands.js"),
      import("../plugins/index.js"),
      loadPluginCommands()
    ])
  )
  const slowq = Command.make("slowq").pipe(
    Command.withDescription(DESCRIPTION),
    Command.withSubcommands([...coreCommands, ...lazy])
  )
  return yield* Command.run(slowq, { name: "slowq", version: VERSION })(process.argv).pipe(
    Effect.provide(CoreCommandsLive.pipe(Layer.provideMerge(Layer.succeed(Plugins, plugins))))
  )
})

cli.pipe(
  Effect.catchTag("CliFailure", (failure) => Console.error(failure.message).pipe(Effect.zipRight(Effect.fail(failure)))),
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause) || Cause.failureOption(cause)._tag === "Some"
      ? Effect.void
      : Effect.logError("slowq failed", cause)
  ),
  Effect.provide(Layer.mergeAll(NodeContext.layer, LoggerLive)),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
