import { Effect, Queue, Schema } from "effect"
import type { StoreReadiness } from "../store/StoreClient.js"
import type { AdmittingServer } from "./Admission.js"
import { NotReadyError, Readiness } from "./Api.js"

/** A store that has not answered the readiness check within this is not ready. */
const storeTimeout = "2 seconds"

/**
 * Whether slowq is ready: the store takes writes (it answers, is not read-only, and has slowq's schema) and every
 * pipeline is loaded.
 */
export const checkReadiness = (
  store: Effect.Effect<StoreReadiness>,
  loadedPipelines: Effect.Effect<number>,
  expectedPipelines: number
): Effect.Effect<typeof Readiness.Type, NotReadyError> =>
  Effect.gen(function* () {
    const state = yield* store.pipe(
      Effect.timeoutTo({
        duration: storeTimeout,
        onTimeout: () => ({ _tag: "NotReady", message: `store does not answer within ${storeTimeout}` }) as const,
        onSuccess: (readiness) => readiness
      })
    )
    if (state._tag === "NotReady") yield* Effect.logWarning(`readiness: ${state.message}`)
    const loaded = yield* loadedPipelines
    if (state._tag === "NotReady" || loaded < expectedPipelines || expectedPipelines === 0) {
      return yield* new NotReadyError({
        message: state._tag === "NotReady" ? state.message : "the pipelines are not loaded",
        store: state._tag === "Ready",
        pipelines: loaded
      })
    }
    return { status: "ready" as const, store: true, pipelines: loaded }
  })

const encodeReady = Schema.encodeSync(Readiness)
const encodeNotReady = Schema.encodeSync(NotReadyError)

/**
 * Answers `GET /readyz` in `server` (see AdmittingServer) until the scope closes: each probe asks for a check, and
 * one check runs at a time, so a burst of probes costs the store one round trip. The check runs here, on the
 * daemon's fibers; the probe itself is answered by Node, never queued behind the API's requests.
 */
export const serveReadiness = (server: AdmittingServer, check: Effect.Effect<typeof Readiness.Type, NotReadyError>) =>
  Effect.gen(function* () {
    // Probes that arrive while a check runs are served by the next check, which starts after them: one is enough.
    const asked = yield* Queue.sliding<number>(1)
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const probe = yield* Queue.take(asked)
          const answer = yield* check.pipe(
            Effect.match({
              onSuccess: (ready) => ({ status: 200, body: JSON.stringify(encodeReady(ready)) }),
              onFailure: (notReady) => ({ status: 503, body: JSON.stringify(encodeNotReady(notReady)) })
            })
          )
          server.publishReadiness(answer, probe)
        })
      )
    )
    yield* Effect.acquireRelease(
      Effect.sync(() => server.attachReadiness((probe) => asked.unsafeOffer(probe))),
      () => Effect.sync(() => server.detachReadiness())
    )
  })
