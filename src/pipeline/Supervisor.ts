import { Cause, Clock, Context, Cron, Data, Deferred, Duration, Effect, Layer, Metric, Option, Queue, Ref, Schedule, type Scope } from "effect"
import * as PipelineMetrics from "./PipelineMetrics.js"
import type { PipelineSchedule, PipelineSpec } from "./PipelineSpec.js"
import { Runner, type RunSummary } from "./Runner.js"

export type PipelineState = "scheduled" | "running" | "paused" | "failing"

export interface RunRecord {
  readonly run: string
  readonly trigger: "schedule" | "manual"
  readonly startedAt: Date
  readonly durationMs: number
  readonly eventsRead: number
  readonly rowsWritten: number
  /** Events the store refused (see RunSummary.eventsDropped). */
  readonly eventsDropped: number
  readonly newFingerprints: number
  /** Null for a successful run; else the last attempt's error. */
  readonly error: string | null
}

export interface PipelineStatus {
  readonly name: string
  readonly sourceType: string
  readonly schedule: string
  readonly state: PipelineState
  readonly running: Option.Option<{ readonly run: string; readonly startedAt: Date }>
  readonly lastRun: Option.Option<RunRecord>
  readonly nextRunAt: Option.Option<Date>
  readonly consecutiveFailures: number
  readonly totals: {
    readonly runs: number
    readonly failures: number
    readonly eventsRead: number
    readonly rowsWritten: number
    readonly eventsDropped: number
    readonly newFingerprints: number
  }
  /** Newest first, at most `RECENT_RUNS`. */
  readonly recentRuns: ReadonlyArray<RunRecord>
}

export class PipelineNotFound extends Data.TaggedError("PipelineNotFound")<{ readonly name: string }> {}
export class PipelineAlreadyRunning extends Data.TaggedError("PipelineAlreadyRunning")<{
  readonly name: string
  readonly run: string
}> {}

const RECENT_RUNS = 20

/** When the next scheduled run is due, given the start of the previous scheduled one. */
export const nextDue = (schedule: PipelineSchedule, previousStart: number, now: number): number =>
  schedule._tag === "Every"
    ? Math.max(now, previousStart + Duration.toMillis(schedule.every))
    : Cron.next(schedule.cron, new Date(now)).getTime()

interface Entry {
  readonly spec: PipelineSpec
  readonly status: Ref.Ref<PipelineStatus>
  /** Out-of-schedule runs asked for; each carries its run id and is answered when the run starts. */
  readonly triggers: Queue.Queue<{ readonly run: string; readonly started: Deferred.Deferred<void> }>
}

const initialStatus = (spec: PipelineSpec): PipelineStatus => ({
  name: spec.name,
  sourceType: spec.source.plugin.type,
  schedule: spec.schedule.text,
  state: "scheduled",
  running: Option.none(),
  lastRun: Option.none(),
  nextRunAt: Option.none(),
  consecutiveFailures: 0,
  totals: { runs: 0, failures: 0, eventsRead: 0, rowsWritten: 0, eventsDropped: 0, newFingerprints: 0 },
  recentRuns: []
})

const make = Effect.gen(function* () {
  const runner = yield* Runner
  const entries = new Map<string, Entry>()
  const schedulerPaused = yield* Ref.make(false)
  const pausedPipelines = yield* Ref.make(new Set<string>())

  const isPaused = (name: string) =>
    Effect.zipWith(Ref.get(schedulerPaused), Ref.get(pausedPipelines), (all, some) => all || some.has(name))

  const settle = (entry: Entry) =>
    Effect.gen(function* () {
      const paused = yield* isPaused(entry.spec.name)
      yield* Ref.update(entry.status, (s): PipelineStatus => ({
        ...s,
        state: Option.isSome(s.running) ? "running" : paused ? "paused" : s.consecutiveFailures > 0 ? "failing" : "scheduled"
      }))
    })

  /** One run with its retries, recorded in the pipeline's status and metrics. Never fails. */
  const runRecorded = (entry: Entry, run: string, trigger: RunRecord["trigger"]) =>
    Effect.gen(function* () {
      const { spec } = entry
      const startedAt = new Date(yield* Clock.currentTimeMillis)
      yield* Ref.update(entry.status, (s): PipelineStatus => ({ ...s, state: "running", running: Option.some({ run, startedAt }) }))
      let attempt = 0
      interface Attempted {
        readonly summary: Partial<RunSummary>
        readonly error: string | null
      }
      const { summary, error } = yield* Effect.suspend(() => {
        attempt += 1
        return runner.runOnce(spec, attempt === 1 ? run : `${run}.${attempt}`)
      }).pipe(
        Effect.tapError((error) => Effect.logWarning(`run failed; retrying: ${error.cause.message}`)),
        Effect.retry({ schedule: Schedule.jittered(Schedule.exponential("1 second")), times: 3 }),
        Effect.match({
          onSuccess: (summary): Attempted => ({ summary, error: null }),
          onFailure: (error): Attempted => ({ summary: {}, error: error.cause.message })
        }),
        // A defect (a bug in slowq or a plugin) fails this run like an error, with its stack in the log: the
        // pipeline's loop must live on, or it would stop for good with nothing said above debug level.
        Effect.catchAllDefect((defect) =>
          Effect.logError("run failed on a defect", Cause.die(defect)).pipe(
            Effect.as<Attempted>({ summary: {}, error: `defect: ${defect instanceof Error ? defect.message : String(defect)}` })
          )
        )
      )
      const durationMs = (yield* Clock.currentTimeMillis) - startedAt.getTime()
      const record: RunRecord = {
        run,
        trigger,
        startedAt,
        durationMs,
        eventsRead: summary.eventsRead ?? 0,
        rowsWritten: summary.rowsWritten ?? 0,
        eventsDropped: summary.eventsDropped ?? 0,
        newFingerprints: summary.newFingerprints ?? 0,
        error
      }
      if (error !== null) yield* Effect.logError(`run failed; next attempt on the next tick: ${error}`)
      yield* Ref.update(entry.status, (s) => ({
        ...s,
        running: Option.none(),
        lastRun: Option.some(record),
        consecutiveFailures: error === null ? 0 : s.consecutiveFailures + 1,
        totals: {
          runs: s.totals.runs + 1,
          failures: s.totals.failures + (error === null ? 0 : 1),
          eventsRead: s.totals.eventsRead + record.eventsRead,
          rowsWritten: s.totals.rowsWritten + record.rowsWritten,
          eventsDropped: s.totals.eventsDropped + record.eventsDropped,
          newFingerprints: s.totals.newFingerprints + record.newFingerprints
        },
        recentRuns: [record, ...s.recentRuns].slice(0, RECENT_RUNS)
      }))
      yield* settle(entry)
      const pipeline = spec.name
      yield* Metric.increment(Metric.tagged(PipelineMetrics.runsTotal, "pipeline", pipeline))
      yield* Metric.incrementBy(Metric.tagged(PipelineMetrics.eventsTotal, "pipeline", pipeline), record.eventsRead)
      yield* Metric.incrementBy(Metric.tagged(PipelineMetrics.rowsWrittenTotal, "pipeline", pipeline), record.rowsWritten)
      yield* Metric.update(Metric.tagged(PipelineMetrics.runDurationSeconds, "pipeline", pipeline), durationMs / 1000)
      if (error === null) {
        yield* Metric.set(Metric.tagged(PipelineMetrics.lastSuccessSeconds, "pipeline", pipeline), (yield* Clock.currentTimeMillis) / 1000)
      } else {
        yield* Metric.increment(Metric.tagged(PipelineMetrics.failuresTotal, "pipeline", pipeline))
      }
    }).pipe(Effect.annotateLogs({ pipeline: entry.spec.name, plugin: entry.spec.source.plugin.type, run }))

  /**
   * A pipeline's life: a run at once, then one at each due time of its schedule, or when asked to run now.
   * Runs never overlap: the loop waits for one to finish before it waits for the next. Scheduled runs are
   * skipped while paused; a run asked for explicitly still happens. Failures are contained in runRecorded.
   */
  const supervise = (entry: Entry) =>
    Effect.gen(function* () {
      let scheduledStart = yield* Clock.currentTimeMillis
      let due = scheduledStart
      while (true) {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(entry.status, (s) => ({ ...s, nextRunAt: Option.some(new Date(Math.max(due, now))) }))
        const wake = yield* Effect.raceFirst(
          Effect.sleep(Duration.millis(Math.max(0, due - now))).pipe(Effect.as(Option.none())),
          Queue.take(entry.triggers).pipe(Effect.map(Option.some))
        )
        if (Option.isSome(wake)) {
          yield* Deferred.succeed(wake.value.started, undefined)
          yield* runRecorded(entry, wake.value.run, "manual")
          continue
        }
        scheduledStart = due
        if (!(yield* isPaused(entry.spec.name))) yield* runRecorded(entry, yield* runner.nextRunId, "schedule")
        due = nextDue(entry.spec.schedule, scheduledStart, yield* Clock.currentTimeMillis)
      }
    })

  /** Starts every pipeline on its own fiber, all tied to the caller's scope. */
  const start = (specs: ReadonlyArray<PipelineSpec>): Effect.Effect<void, never, Scope.Scope> =>
    Effect.gen(function* () {
      for (const spec of specs) {
        const entry: Entry = {
          spec,
          status: yield* Ref.make(initialStatus(spec)),
          triggers: yield* Queue.unbounded<{ readonly run: string; readonly started: Deferred.Deferred<void> }>()
        }
        entries.set(spec.name, entry)
        yield* Effect.forkScoped(supervise(entry))
        yield* Effect.logInfo("pipeline scheduled").pipe(
          Effect.annotateLogs({ pipeline: spec.name, schedule: spec.schedule.text })
        )
      }
    })

  const entry = (name: string): Effect.Effect<Entry, PipelineNotFound> => {
    const found = entries.get(name)
    return found === undefined ? Effect.fail(new PipelineNotFound({ name })) : Effect.succeed(found)
  }

  const status = (name: string) => entry(name).pipe(Effect.flatMap((e) => Ref.get(e.status)))
  const statuses = Effect.suspend(() => Effect.forEach([...entries.values()], (e) => Ref.get(e.status)))

  /** Asks for a run now; resolves with its run id once it has started. */
  const runNow = (name: string) =>
    Effect.gen(function* () {
      const e = yield* entry(name)
      const current = yield* Ref.get(e.status)
      if (Option.isSome(current.running)) {
        return yield* new PipelineAlreadyRunning({ name, run: current.running.value.run })
      }
      const run = yield* runner.nextRunId
      const started = yield* Deferred.make<void>()
      yield* Queue.offer(e.triggers, { run, started })
      yield* Deferred.await(started)
      return run
    })

  const setPaused = (name: string, paused: boolean) =>
    Effect.gen(function* () {
      const e = yield* entry(name)
      yield* Ref.update(pausedPipelines, (set) => {
        const next = new Set(set)
        if (paused) next.add(name)
        else next.delete(name)
        return next
      })
      yield* settle(e)
      return yield* Ref.get(e.status)
    })

  const setSchedulerPaused = (paused: boolean) =>
    Ref.set(schedulerPaused, paused).pipe(
      Effect.zipRight(Effect.suspend(() => Effect.forEach([...entries.values()], settle, { discard: true })))
    )

  return {
    start,
    status,
    statuses,
    runNow,
    pause: (name: string) => setPaused(name, true),
    resume: (name: string) => setPaused(name, false),
    pauseAll: setSchedulerPaused(true),
    resumeAll: setSchedulerPaused(false),
    schedulerPaused: Ref.get(schedulerPaused)
  } as const
})

/** Owns the pipelines' fibers and schedules, and answers what each is doing. */
export class Supervisor extends Context.Tag("slowq/pipeline/Supervisor")<Supervisor, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
