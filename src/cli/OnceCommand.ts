import { Args, Command } from "@effect/cli"
import { Console, Effect, Either } from "effect"
import { RunnerLive } from "../Daemon.js"
import { Runner } from "../pipeline/Runner.js"
import { CliFailure } from "./CliFailure.js"
import { loadValidPipelines } from "./loadValidPipelines.js"
import { pipelinesOption } from "./RunCommand.js"

const names = Args.text({ name: "NAME" }).pipe(Args.withDescription("Pipelines to run once."), Args.atLeast(1))

const once = ({ names, pipelines }: { readonly names: ReadonlyArray<string>; readonly pipelines: string }) =>
  Effect.gen(function* () {
    const specs = yield* loadValidPipelines(pipelines)
    const unknown = names.filter((name) => !specs.some((spec) => spec.name === name))
    if (unknown.length > 0) {
      return yield* new CliFailure({
        message: `unknown pipeline ${unknown.join(", ")} (pipelines in ${pipelines}: ${specs.map((s) => s.name).join(", ") || "none"})`
      })
    }
    const runner = yield* Runner
    let failed = 0
    for (const name of names) {
      const spec = specs.find((s) => s.name === name)!
      const result = yield* Effect.either(runner.runOnce(spec))
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
    Effect.catchTag("StoreError", (error) => new CliFailure({ message: error.message }))
  )

export const onceCommand = Command.make("once", { names, pipelines: pipelinesOption }, once).pipe(
  Command.withDescription("Run each named pipeline once, print a summary line per pipeline, and exit.")
)
