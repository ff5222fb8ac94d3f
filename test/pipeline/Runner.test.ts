import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Layer, Option, Schema, Stream, TestClock, TestServices } from "effect"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeAt } from "../support/StoreServices.js"

const READ_TAKES = Duration.millis(1500)

const Checkpoint = Schema.Struct({ n: Schema.Number })

/** A source double: each read takes READ_TAKES on the clock, then yields the one event after its checkpoint. */
const sleepySource = defineSource({
  type: "sleepy_source",
  description: "test double",
  dialect: "mysql",
  config: Schema.Struct({ type: Schema.Literal("sleepy_source") }),
  layer: () =>
    Layer.succeed(SlowQuerySource, {
      read: (checkpoint) =>
        Stream.fromEffect(
          Effect.gen(function* () {
            yield* Effect.sleep(READ_TAKES)
            const n = Option.match(checkpoint, { onNone: () => 0, onSome: (c) => Schema.decodeUnknownSync(Checkpoint)(c).n }) + 1
            const event = makeEvent({ key: `k${n}`, startTimeUs: 1_700_000_000_000_000 + n, queryTimeMs: n, sqlText: `SELECT ${n}` })
            return { events: [event], checkpoint: { n } }
          })
        )
    })
})

const spec: PipelineSpec = {
  name: "clocked",
  file: "clocked.yaml",
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: { plugin: sleepySource, config: { type: "sleepy_source" } },
  stages: [],
  sink: { type: "store", samples: "raw" }
}

/**
 * The store does real I/O, which the test clock does not wait for: adjusting the clock before the source's read
 * has gone to sleep would move time under nothing. So wait, in real time, until that sleep is registered.
 */
const untilSourceSleeps = (since: number) =>
  Effect.gen(function* () {
    const wake = since + Duration.toMillis(READ_TAKES)
    while (!Chunk.some(yield* TestClock.sleeps(), (at) => at === wake)) {
      yield* TestServices.provideLive(Effect.sleep("5 millis"))
    }
  })

/** Runs a pass with the clock moved by READ_TAKES while the source reads. */
const runAdjusted = (runner: Runner["Type"], runId?: string) =>
  Effect.gen(function* () {
    const since = yield* TestClock.currentTimeMillis
    const fiber = yield* Effect.fork(runner.runOnce(spec, runId))
    yield* untilSourceSleeps(since)
    yield* TestClock.adjust(READ_TAKES)
    return yield* Fiber.join(fiber)
  })

describe("Runner", () => {
  it.scoped("takes run timing and run ids from the clock, so the test clock decides them", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const layer = Runner.layer.pipe(Layer.provide(storeAt(db.url)))
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        const first = yield* runAdjusted(runner)
        expect(first).toEqual({
          pipeline: "clocked",
          run: "0-1",
          batches: 1,
          eventsRead: 1,
          rowsWritten: 1,
          duplicates: 0,
          eventsDropped: 0,
          newFingerprints: 1,
          durationMs: 1500
        })

        // A run given its id keeps it and leaves the counter alone.
        yield* TestClock.adjust("1 hours")
        const named = yield* runAdjusted(runner, "manual")
        expect([named.run, named.rowsWritten, named.durationMs]).toEqual(["manual", 1, 1500])

        // Started at 3_603_000 ms on the test clock (1 hour and two reads), "2583c" in base 36.
        const third = yield* runAdjusted(runner)
        expect([third.run, third.rowsWritten, third.durationMs]).toEqual(["2583c-2", 1, 1500])
        // 3_604_500 ms, after the third read.
        expect(yield* runner.nextRunId).toBe("25990-3")
      }).pipe(Effect.provide(layer))
    })
  )
})
