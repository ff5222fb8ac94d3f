import { Command } from "@effect/cli"
import { Effect, Either, Layer } from "effect"
import { DaemonLive } from "../Daemon.js"
import { makeSlowqApi } from "../http/Api.js"
import { startHttpApi } from "../http/HttpApiServer.js"
import { loadHttpApiSettings } from "../http/HttpApiSettings.js"
import { loadLeaseSettings } from "../pipeline/Leases.js"
import { Supervisor } from "../pipeline/Supervisor.js"
import { Plugins, registeredEnrichments } from "../plugin/Plugin.js"
import { loadRetention } from "../store/Retention.js"
import { StorePruner } from "../store/StorePruner.js"
import { CliFailure } from "./CliFailure.js"
import { loadValidPipelines } from "./loadValidPipelines.js"
import { pipelinesOption } from "./PipelinesOption.js"

const run = ({ pipelines }: { readonly pipelines: string }) =>
  Effect.gen(function* () {
    const specs = yield* loadValidPipelines(pipelines)
    if (specs.length === 0) {
      return yield* new CliFailure({ message: `no pipelines in ${pipelines}: nothing to run` })
    }
    const http = yield* loadHttpApiSettings.pipe(Effect.mapError((error) => new CliFailure({ message: error.message })))
    const retention = yield* loadRetention.pipe(Effect.mapError((message) => new CliFailure({ message })))
    const lease = yield* loadLeaseSettings.pipe(Effect.mapError((message) => new CliFailure({ message })))
    // Checked before any pipeline starts: two plugins claiming one field of the API is a configuration error.
    const api = makeSlowqApi(registeredEnrichments(yield* Plugins))
    if (Either.isLeft(api)) return yield* new CliFailure({ message: `cannot serve the HTTP API: ${api.left.message}` })
    yield* Effect.gen(function* () {
      const supervisor = yield* Supervisor
      // Each pipeline runs here only while this replica holds its lease: any number of daemons may share the store.
      yield* supervisor.start(specs, lease)
      yield* startHttpApi(http, specs)
      // Retention in the background, in small batches beside the pipelines' writes; it ends with the daemon.
      yield* Effect.forkScoped((yield* StorePruner).pruneForever(retention))
      yield* Effect.logInfo("slowq is running").pipe(Effect.annotateLogs({ pipelines: specs.length, replica: lease.replica }))
      return yield* Effect.never
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.fresh(DaemonLive)),
      Effect.catchTag("StoreError", (error) => new CliFailure({ message: error.message })),
      Effect.catchTag("HttpApiStartError", (error) => new CliFailure({ message: error.message })),
      Effect.onInterrupt(() => Effect.logInfo("slowq stopped"))
    )
  })

export const runCommand = Command.make("run", { pipelines: pipelinesOption }, run).pipe(
  Command.withDescription("Run the daemon: every pipeline on its schedule until SIGINT/SIGTERM.")
)
