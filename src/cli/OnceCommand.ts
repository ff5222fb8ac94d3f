import { Args, Command } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import { RunnerLive } from "../Daemon.js"
import { Runner } from "../pipeline/Runner.js"
import { CliFailure } from "./CliFailure.js"
import { loadValidPipelines } from "./loadValidPipelines.js"
import { pipelinesOption } from "./PipelinesOption.js"

const names = Args.text({ name: "NAME" }).pipe(Args.withDescription("Pipelines to run once."), Args.atLeast(1))

const once = ({ names, pipelines }: { readonly names: ReadonlyArray<string>; readonly pipelines: string }) => {
  // How far a signal let the command get: the pipeline in flight is reported as interrupted, the ones after it as
  // not run, so that a stopped `once` never looks like one that had nothing to do.
  let inFlight: string | undefined
  let notStarted = 0
  const reportUnfinished = () =>
    Console.log(
      [...(inFlight === undefined ? [] : [`${inFlight}  interrupted`]), ...names.slice(notStarted).map((name) => `${name}  not run`)].join("\n")
    )
  return Effect.gen(function* () {
    const specs = yield* loadValidPipelines(pipelines)
    const unknown = names.filter((name) => !specs.some((spec) => spec.name === name))
    if (unknown.length > 0) {
      return yield* new CliFailure({
        message: `unknown pipeline ${unknown.join(", ")} (pipelines in ${pipelines}: ${specs.map((s) => s.name).join(", ") || "none"})`
      })
    }
    const runner = yield* Runner
    let failed = 0
    for (const [index, name] of names.entries()) {
      inFlight = name
      notStarted = index + 1
      const spec = specs.find((s) => s.name === name)!
      const result = yield* Effect.either(runner.runOnce(spec))
      inFlight = undefined
      if (Either.isRight(result)) {
        const s = result.right
        yield* Console.log(
          `${name}  ok  events=${s.eventsRead} new_fingerprints=${s.newFingerprints} written=${s.rowsWritten} duplicates=${s.duplicates} dropped=${s.eventsDropped} duration_ms=${s.durationMs}`
        )
      } else {
        failed += 1
        yield* Console.log(`${name}  failed  ${result.left.cause.message}`)
      }
    }
    if (failed > 0) return yield* new CliFailure({ message: `${failed} of ${names.length} pipelines failed` })
  }).pipe(
    Effect.provide(RunnerLive),
    Effect.catchTag("StoreError", (error) => new CliFailure({ message: error.message })),
    Effect.onInterrupt(reportUnfinished)
  )
}

export const onceCommand = Command.make("once", { names, pipelines: pipelinesOption }, once).pipe(
  Command.withDescription("Run each named pipeline once, print a summary line per pipeline, and exit.")
)
