import { describe, expect, it } from "@effect/vitest"
import { Cron, Duration, Effect, Either, Layer, Metric, Option, Ref, Schema, TestClock } from "effect"
import * as PipelineMetrics from "../../src/pipeline/PipelineMetrics.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { RunError, Runner, type RunSummary } from "../../src/pipeline/Runner.js"
import { nextDue, Supervisor } from "../../src/pipeline/Supervisor.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { SourceError } from "../../src/plugin/SlowQuerySource.js"

const source = defineSource({
  type: "fake_source",
  description: "test double",
  dialect: "mysql",
  config: Schema.Struct({ type: Schema.Literal("fake_source") }),
  layer: () => Layer.die("never built: the runner is a double")
})

const spec = (name: string, every = "30 seconds"): PipelineSpec => ({
  name,
  file: `${name}.yaml`,
  schedule: { _tag: "Every", every: Duration.decode(every as Duration.DurationInput), text: "every 30s" },
  source: { plugin: source, config: { type: "fake_source" } },
  stages: [],
  sink: { type: "store", samples: "raw" }
})

interface Script {
  /** How long each run takes. */
  readonly runFor: Duration.DurationInput
  /** Runs (1-based attempt numbers across the whole test) that fail. */
  readonly failing: ReadonlySet<number>
  /** Runs that die (a defect: a bug in slowq or a plugin). */
  readonly dying?: ReadonlySet<number>
}

/** A Runner double recording when each attempt started (test clock, ms). */
const scriptedRunner = (script: Script) =>
  Effect.gen(function* () {
    const starts = yield* Ref.make<ReadonlyArray<number>>([])
    let ids = 0
    const layer = Layer.succeed(Runner, {
      nextRunId: Effect.sync(() => `r${++ids}`),
      runOnce: (pipeline: PipelineSpec, run = "r") =>
        Effect.gen(function* () {
          const now = yield* TestClock.currentTimeMillis
          const attempt = (yield* Ref.updateAndGet(starts, (s) => [...s, now])).length
          yield* Effect.sleep(script.runFor)
          if (script.dying?.has(attempt)) return yield* Effect.die(new TypeError("o.capturedAt.toISOString is not a function"))
          if (script.failing.has(attempt)) {
            return yield* new RunError({
              pipeline: pipeline.name,
              run,
              cause: new SourceError({ plugin: "fake_source", operation: "connect", message: `attempt ${attempt} refused` })
            })
          }
          return {
            pipeline: pipeline.name,
            run,
            batches: 1,
            eventsRead: 10,
            rowsWritten: 7,
            duplicates: 3,
            eventsDropped: 1,
            newFingerprints: 2,
            durationMs: 0
          } satisfies RunSummary
        })
    })
    return { starts, layer: Supervisor.layer.pipe(Layer.provide(layer)) }
  })

describe("Supervisor", () => {
  it.scoped("runs at once, then every interval; a run longer than the interval never overlaps the next", () =>
    Effect.gen(function* () {
      const { starts, layer } = yield* scriptedRunner({ runFor: "45 seconds", failing: new Set() })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* supervisor.start([spec("p")])
      yield* TestClock.adjust("1 millis")
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("15 seconds")
      // 0: run until 45; due 30 → immediately at 45; until 90; due 75 → at 90; …
      expect(yield* Ref.get(starts)).toEqual([0, 45_000, 90_000, 135_000])
      const status = yield* supervisor.status("p")
      expect(status.totals).toEqual({ runs: 3, failures: 0, eventsRead: 30, rowsWritten: 21, eventsDropped: 3, newFingerprints: 6 })
      expect(status.state).toBe("running")
    })
  )

  it.scoped("waits for the interval between short runs, and reports the next run", () =>
    Effect.gen(function* () {
      const { starts, layer } = yield* scriptedRunner({ runFor: "2 seconds", failing: new Set() })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* supervisor.start([spec("p")])
      yield* TestClock.adjust("65 seconds")
      expect(yield* Ref.get(starts)).toEqual([0, 30_000, 60_000])
      const status = yield* supervisor.status("p")
      expect(status.state).toBe("scheduled")
      expect(Option.map(status.nextRunAt, (d) => d.getTime())).toEqual(Option.some(90_000))
      expect(Option.map(status.lastRun, (r) => [r.run, r.trigger, r.startedAt.getTime(), r.durationMs, r.error])).toEqual(
        Option.some(["r3", "schedule", 60_000, 2_000, null])
      )
    })
  )

  it.scoped("retries a failed run with backoff, then marks the pipeline failing until a run succeeds", () =>
    Effect.gen(function* () {
      // Attempts 1–4 fail: the first run and its three retries. The next tick's run succeeds.
      const { starts, layer } = yield* scriptedRunner({ runFor: "0 millis", failing: new Set([1, 2, 3, 4]) })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* supervisor.start([spec("p")])
      yield* TestClock.adjust("20 seconds")
      expect((yield* Ref.get(starts)).length).toBe(4)
      const failing = yield* supervisor.status("p")
      expect(failing.state).toBe("failing")
      expect(failing.consecutiveFailures).toBe(1)
      expect(Option.map(failing.lastRun, (r) => r.error)).toEqual(Option.some("attempt 4 refused"))
      yield* TestClock.adjust("15 seconds")
      const healthy = yield* supervisor.status("p")
      expect([healthy.state, healthy.consecutiveFailures, healthy.totals.runs, healthy.totals.failures]).toEqual([
        "scheduled",
        0,
        2,
        1
      ])
    })
  )

  it.scoped("run now starts at once out of schedule; asking again while it runs is refused", () =>
    Effect.gen(function* () {
      const { starts, layer } = yield* scriptedRunner({ runFor: "10 seconds", failing: new Set() })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* supervisor.start([spec("p")])
      yield* TestClock.adjust("12 seconds")
      const run = yield* supervisor.runNow("p")
      expect(run).toBe("r2")
      const again = yield* Effect.either(supervisor.runNow("p"))
      expect(Either.isLeft(again) && again.left).toMatchObject({ _tag: "PipelineAlreadyRunning", name: "p", run: "r2" })
      const missing = yield* Effect.either(supervisor.runNow("nope"))
      expect(Either.isLeft(missing) && missing.left._tag).toBe("PipelineNotFound")
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(starts)).toEqual([0, 12_000])
      const status = yield* supervisor.status("p")
      expect(Option.map(status.lastRun, (r) => [r.run, r.trigger])).toEqual(Option.some(["r2", "manual"]))
    })
  )

  it.scoped("paused pipelines skip their scheduled runs until resumed; pausing all pauses every pipeline", () =>
    Effect.gen(function* () {
      const { starts, layer } = yield* scriptedRunner({ runFor: "1 seconds", failing: new Set() })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* supervisor.start([spec("p")])
      yield* TestClock.adjust("5 seconds")
      expect((yield* supervisor.pause("p")).state).toBe("paused")
      yield* TestClock.adjust("60 seconds")
      expect(yield* Ref.get(starts)).toEqual([0])
      expect((yield* supervisor.resume("p")).state).toBe("scheduled")
      yield* TestClock.adjust("30 seconds")
      expect(yield* Ref.get(starts)).toEqual([0, 90_000])
      yield* supervisor.pauseAll
      expect((yield* supervisor.status("p")).state).toBe("paused")
      yield* TestClock.adjust("60 seconds")
      expect((yield* Ref.get(starts)).length).toBe(2)
      yield* supervisor.resumeAll
      yield* TestClock.adjust("30 seconds")
      expect((yield* Ref.get(starts)).length).toBe(3)
    })
  )

  it.scoped("records a run's start, duration and last success on the clock", () =>
    Effect.gen(function* () {
      const { layer } = yield* scriptedRunner({ runFor: "2500 millis", failing: new Set() })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* TestClock.adjust("10 seconds")
      yield* supervisor.start([spec("clocked")])
      yield* TestClock.adjust("35 seconds")
      // Runs at 10 s and 40 s, each 2.5 s long: the last succeeded at 42.5 s.
      const status = yield* supervisor.status("clocked")
      expect(Option.map(status.lastRun, (r) => [r.startedAt.getTime(), r.durationMs])).toEqual(Option.some([40_000, 2_500]))
      const lastSuccess = Metric.tagged(PipelineMetrics.lastSuccessSeconds, "pipeline", "clocked")
      expect((yield* Metric.value(lastSuccess)).value).toBe(42.5)
    })
  )

  it.scoped("a run that dies on a defect is a failed run, logged, and the pipeline runs on its schedule", () =>
    Effect.gen(function* () {
      const { starts, layer } = yield* scriptedRunner({ runFor: "1 second", failing: new Set(), dying: new Set([1]) })
      const supervisor = yield* Effect.provide(Supervisor, layer)
      yield* supervisor.start([spec("p")])
      yield* TestClock.adjust("2 seconds")
      const failed = yield* supervisor.status("p")
      expect([failed.state, failed.consecutiveFailures, Option.map(failed.lastRun, (r) => r.error)]).toEqual([
        "failing",
        1,
        Option.some("defect: o.capturedAt.toISOString is not a function")
      ])
      yield* TestClock.adjust("30 seconds")
      expect(yield* Ref.get(starts)).toEqual([0, 30_000])
      const recovered = yield* supervisor.status("p")
      expect([recovered.state, recovered.totals.runs, recovered.totals.failures]).toEqual(["scheduled", 2, 1])
    })
  )

  it.effect("computes cron due times from the clock", () =>
    Effect.sync(() => {
      const cron = Cron.unsafeParse("*/5 * * * *", "UTC")
      const schedule = { _tag: "Cron", cron, text: "*/5 * * * *" } as const
      expect(new Date(nextDue(schedule, 0, Date.UTC(2026, 0, 1, 10, 3, 20))).toISOString()).toBe("2026-01-01T10:05:00.000Z")
    })
  )
})

