import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { loadRetention } from "../store/Retention.js"
import { StoreLive } from "../store/StoreLive.js"
import { StorePruner } from "../store/StorePruner.js"
import { CliFailure } from "./CliFailure.js"

/**
 * One pass of what `slowq run` does every SLOWQ_PRUNE_EVERY: for a store no daemon runs on (a `slowq once` from cron),
 * or at once after a retention was shortened.
 */
export const pruneCommand = Command.make("prune", {}, () =>
  Effect.gen(function* () {
    const retention = yield* loadRetention.pipe(Effect.mapError((message) => new CliFailure({ message })))
    const pruned = yield* (yield* StorePruner).pruneOnce(retention)
    yield* Console.log(
      `pruned events=${pruned.events} packed=${pruned.packed} blocks=${pruned.blocks} samples=${pruned.samples} minutes=${pruned.minutes} hours=${pruned.hours}`
    )
  }).pipe(
    Effect.provide(StoreLive),
    Effect.catchTag("StoreError", (error) => new CliFailure({ message: error.message }))
  )
).pipe(
  Command.withDescription(
    "Prune the store once, as slowq run does on its schedule: delete what is past its retention (SLOWQ_RETAIN_*), pack the events past their pipeline's replay window."
  )
)
