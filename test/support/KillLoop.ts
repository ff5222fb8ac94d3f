import { expect } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { startCli, waitForExit } from "./Cli.js"
import { eventually } from "./Poll.js"

/**
 * Starts `slowq run --pipelines dir` `kills` times and kills each start with SIGKILL while it works: once `progress`
 * shows it has moved past where it started (or `done` says there is nothing left), after a random extra moment of up
 * to `maxExtraMs`. `afterKill` checks the store after each kill. Returns the progress seen after each kill.
 */
export const killWhileWorking = <P>(options: {
  readonly dir: string
  readonly env: Record<string, string>
  readonly kills: number
  readonly maxExtraMs: number
  readonly progress: Effect.Effect<P, unknown>
  readonly moved: (before: P, now: P) => boolean
  readonly afterKill: (now: P) => Effect.Effect<void, unknown>
}) =>
  Effect.gen(function* () {
    const killedAt: Array<P> = []
    for (let kill = 0; kill < options.kills; kill++) {
      const before = yield* options.progress
      const daemon = startCli(["run", "--pipelines", options.dir], options.env)
      const exited = yield* Effect.fork(waitForExit(daemon))
      yield* eventually(
        "the restarted daemon to make progress",
        options.progress.pipe(Effect.map((now) => options.moved(before, now))),
        "60 seconds"
      ).pipe(
        Effect.catchAll((error) =>
          Effect.gen(function* () {
            daemon.kill("SIGKILL")
            const { stderr } = yield* Fiber.join(exited)
            return yield* Effect.fail(
              new Error(`${error instanceof Error ? error.message : error}; the daemon said:\n${stderr.slice(-3000)}`)
            )
          })
        )
      )
      yield* Effect.sleep(`${Math.floor(Math.random() * options.maxExtraMs)} millis`)
      daemon.kill("SIGKILL")
      const result = yield* Fiber.join(exited)
      expect(result.signal).toBe("SIGKILL")
      const now = yield* options.progress
      killedAt.push(now)
      yield* options.afterKill(now)
    }
    return killedAt
  })
