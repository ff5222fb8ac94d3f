import { Effect, Layer } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { type FingerprintOptions, Fingerprinter } from "../../src/fingerprint/Fingerprinter.js"
import { PipelineStage } from "../../src/plugin/PipelineStage.js"
import type { StageContext } from "../../src/plugin/Plugin.js"
import type { Config } from "./config.js"

// Fingerprinting is synchronous CPU work; between slices of a large batch other fibers get their turn.
const SLICE = 2000

const make = (config: Config, context: StageContext) =>
  Effect.gen(function* () {
    const fingerprinter = yield* Fingerprinter
    const dialect = context.source.dialect
    const options: FingerprintOptions | undefined = config.match_embedded_numbers ? { matchEmbeddedNumbers: true } : undefined

    const process = Effect.fn("FingerprintStage.process")(function* (events: ReadonlyArray<CollectedEvent>) {
      const out: Array<CollectedEvent> = new Array(events.length)
      for (let i = 0; i < events.length; i++) {
        if (i > 0 && i % SLICE === 0) yield* Effect.yieldNow()
        const collected = events[i]!
        out[i] = { ...collected, fingerprint: fingerprinter.fingerprint(collected.event.sqlText, dialect, options) }
      }
      return out
    })

    return PipelineStage.of({ process })
  })

/** The fingerprint stage; it cannot fail: text it cannot parse is fingerprinted by the tokenizer and flagged. */
export const layer = (config: Config, context: StageContext): Layer.Layer<PipelineStage> =>
  Layer.effect(PipelineStage, make(config, context)).pipe(Layer.provide(Fingerprinter.layer))
