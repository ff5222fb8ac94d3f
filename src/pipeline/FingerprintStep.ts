/**
 * The runtime's fingerprint step: right after slowq's own statements are dropped and before any stage, every event
 * gets its fingerprint and classification, by the fingerprinter its source picked: slowq's SQL engine with the
 * pipeline's options, or the source's own. The store keys every event by it, so no pipeline can go without it.
 */
import { Context, Effect, Layer, Option, type Scope } from "effect"
import type { CollectedEvent } from "../domain/CollectedEvent.js"
import type { Fingerprinted } from "../domain/Fingerprint.js"
import type { SlowQueryEvent } from "../domain/SlowQueryEvent.js"
import type { Fingerprinter } from "../fingerprint/Fingerprinter.js"
import { EventFingerprinter } from "../plugin/EventFingerprinter.js"
import type { SourceError } from "../plugin/SlowQuerySource.js"
import type { PipelineSpec } from "./PipelineSpec.js"

// Fingerprinting is synchronous CPU work. Between slices of a batch (a few milliseconds each) the step lets the event
// loop run: Effect's own yield runs other fibers in microtasks, but the HTTP server's sockets (health probes, API
// answers) are served only from the loop's I/O phase, which setImmediate lets in.
const SLICE = 250

const yieldToEventLoop = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

export type FingerprintStep = (events: ReadonlyArray<SlowQueryEvent>) => Effect.Effect<Array<CollectedEvent>>

/**
 * The step for one run of `spec`. `engine` is the SQL engine, built once per process (it loads libpg_query at the
 * first run of a PostgreSQL pipeline); a source's own fingerprinter is built for the run, in its scope, as the
 * source is.
 */
export const makeFingerprintStep = (
  spec: PipelineSpec,
  engine: Fingerprinter["Type"]
): Effect.Effect<FingerprintStep, SourceError, Scope.Scope> =>
  Effect.gen(function* () {
    const choice = spec.source.plugin.fingerprinter
    // The loader refuses such a source, so only a spec built around it gets here.
    if (Option.isNone(choice)) {
      return yield* Effect.dieMessage(
        `source ${spec.source.plugin.type} of dialect ${spec.source.plugin.dialect} has no fingerprinter`
      )
    }
    let fingerprintOf: (event: SlowQueryEvent) => Fingerprinted
    if (choice.value._tag === "SqlEngine") {
      const { dialect } = choice.value
      yield* engine.prepare(dialect)
      const options = spec.fingerprint
      fingerprintOf = (event) => engine.fingerprint(event.sqlText, dialect, options)
    } else {
      const own = yield* Layer.build(choice.value.layer).pipe(Effect.map(Context.get(EventFingerprinter)))
      fingerprintOf = own.fingerprint
    }
    return (events) =>
      Effect.gen(function* () {
        const out: Array<CollectedEvent> = new Array(events.length)
        for (let i = 0; i < events.length; i++) {
          if (i > 0 && i % SLICE === 0) yield* yieldToEventLoop
          const event = events[i]!
          out[i] = { event, fingerprint: fingerprintOf(event) }
        }
        return out
      }).pipe(Effect.withSpan("FingerprintStep.fingerprint"))
  })
