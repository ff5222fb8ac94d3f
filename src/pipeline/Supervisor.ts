import { Cause, Clock, Context, Cron, Data, Deferred, Duration, Effect, FiberMap, Layer, Metric, Option, Queue, Ref, Schedule, type Scope } from "effect"
import type { Fence } from "../store/EventWriter.js"
import { LeaseStore, SCHEDULER } from "../store/LeaseStore.js"
import { keepLeases } from "./LeaseKeeper.js"
import type { LeaseSettings } from "./Leases.js"
import * as PipelineMetrics from "./PipelineMetrics.js"
import type { PipelineSchedule, PipelineSpec } from "./PipelineSpec.js"
import { Runner, type RunSummary } from "./Runner.js"

/** `standby`: another replica holds the pipeline's lease and runs it (see Leases.ts). */
export type PipelineState = "scheduled" | "running" | "paused" | "failing" | "standby"

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
  /** Whether this replica holds the pipeline's lease (always, when it runs without leases). */
  readonly held: boolean
  /** The replica holding the pipeline's lease, as of this replica's last lease round; null without leases. */
  readonly owner: string | null
  /** Paused on its own (pause/resume), whichever replica runs it; the scheduler's pause is apart. */
  readonly paused: boolean
}

export class PipelineNotFound extends Data.TaggedError("PipelineNotFound")<{ readonly name: string }> {}
/** The pipeline runs on another replica: this one holds no lease for it. */
export class PipelineElsewhere extends Data.TaggedError("PipelineElsewhere")<{ readonly name: string }> {}
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
  recentRuns: [],
  held: true,
  owner: null,
  paused: false
})

const make = Effect.gen(function* () {
  const runner = yield* Runner
  // Only `slowq run` runs its pipelines under leases (StoreLive provides the store's side); tests may not.
  const leaseStore = yield* Effect.serviceOption(LeaseStore)
  const entries = new Map<string, Entry>()
  const schedulerPaused = yield* Ref.make(false)
  const pausedPipelines = yield* Ref.make(new Set<string>())
  // Set by start when the pipelines run under leases: pauses and asked-for runs then go through the store.
  let leased: LeaseSettings | undefined

  const isPaused = (name: string) =>
    Effect.zipWith(Ref.get(schedulerPaused), Ref.get(pausedPipelines), (all, some) => all || some.has(name))

  const settle = (entry: Entry) =>
    Effect.gen(function* () {
      const paused = yield* isPaused(entry.spec.name)
      const own = (yield* Ref.get(pausedPipelines)).has(entry.spec.name)
      yield* Ref.update(entry.status, (s): PipelineStatus => ({
        ...s,
        paused: own,
        state: Option.isSome(s.running)
          ? "running"
          : !s.held
            ? "standby"
            : paused
              ? "paused"
              : s.consecutiveFailures > 0
                ? "failing"
                : "scheduled"
      }))
    })

  /**
   * One run with its retries, recorded in the pipeline's status and metrics. Never fails; true when a write was fenced
   * off because another replica took the lease: no retry then, and the pipeline stops here.
   */
  const runRecorded = (entry: Entry, run: string, trigger: RunRecord["trigger"], fence?: Fence) =>
    Effect.gen(function* () {
      const { spec } = entry
      const startedAt = new Date(yield* Clock.currentTimeMillis)
      yield* Ref.update(entry.status, (s): PipelineStatus => ({ ...s, state: "running", running: Option.some({ run, startedAt }) }))
      let attempt = 0
      interface Attempted {
        readonly summary: Partial<RunSummary>
        readonly error: string | null
        readonly leaseLost?: boolean
      }
      const fenced = (error: { readonly cause: { readonly _tag: string } }) =>
        error.cause._tag === "StoreError" && "leaseLost" in error.cause && error.cause.leaseLost === true
      const { summary, error, leaseLost } = yield* Effect.suspend(() => {
        attempt += 1
        return runner.runOnce(spec, attempt === 1 ? run : `${run}.${attempt}`, fence)
      }).pipe(
        Effect.tapError((error) => (fenced(error) ? Effect.void : Effect.logWarning(`run failed; retrying: ${error.cause.message}`))),
        Effect.retry({ schedule: Schedule.jittered(Schedule.exponential("1 second")), times: 3, while: (error) => !fenced(error) }),
        Effect.match({
          onSuccess: (summary): Attempted => ({ summary, error: null }),
          onFailure: (error): Attempted => ({ summary: {}, error: error.cause.message, leaseLost: fenced(error) })
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
      if (leaseLost === true) {
        yield* Effect.logWarning(`lost the lease: its batch was refused by the store (${error}); the pipeline stops here`)
      } else if (error !== null) {
        yield* Effect.logError(`run failed; next attempt on the next tick: ${error}`)
      }
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
      return leaseLost === true
    }).pipe(
      // Stopped mid-run (its lease went to another replica, or the daemon stops): its uncommitted batch is rolled
      // back, and it is no longer running here.
      Effect.onInterrupt(() =>
        Ref.update(entry.status, (s): PipelineStatus => ({ ...s, running: Option.none() })).pipe(Effect.zipRight(settle(entry)))
      ),
      Effect.annotateLogs({ pipeline: entry.spec.name, plugin: entry.spec.source.plugin.type, run })
    )

  /**
   * A pipeline's life: a run at once, then one at each due time of its schedule, or when asked to run now.
   * Runs never overlap: the loop waits for one to finish before it waits for the next. Scheduled runs are
   * skipped while paused; a run asked for explicitly still happens. Failures are contained in runRecorded.
   */
  const supervise = (entry: Entry, fence?: Fence) =>
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
          if (yield* runRecorded(entry, wake.value.run, "manual", fence)) return
          continue
        }
        scheduledStart = due
        if (!(yield* isPaused(entry.spec.name))) {
          if (yield* runRecorded(entry, yield* runner.nextRunId, "schedule", fence)) return
        }
        due = nextDue(entry.spec.schedule, scheduledStart, yield* Clock.currentTimeMillis)
      }
    })

  /** Marks whether this replica holds the pipeline's lease, in its status. */
  const setHeld = (entry: Entry, held: boolean) =>
    Ref.update(entry.status, (s): PipelineStatus => ({ ...s, held, ...(held ? {} : { nextRunAt: Option.none() }) })).pipe(
      Effect.zipRight(settle(entry))
    )

  /**
   * Starts the pipelines, all tied to the caller's scope. Without `lease`, every pipeline runs here on its own fiber.
   * With it, a pipeline runs here only while this replica holds its lease (LeaseKeeper.ts decides which).
   */
  const start = (specs: ReadonlyArray<PipelineSpec>, lease?: LeaseSettings): Effect.Effect<void, never, Scope.Scope> =>
    Effect.gen(function* () {
      for (const spec of specs) {
        const entry: Entry = {
          spec,
          status: yield* Ref.make({ ...initialStatus(spec), held: lease === undefined }),
          triggers: yield* Queue.unbounded<{ readonly run: string; readonly started: Deferred.Deferred<void> }>()
        }
        entries.set(spec.name, entry)
        yield* settle(entry)
        if (lease === undefined) yield* Effect.forkScoped(supervise(entry))
        yield* Effect.logInfo("pipeline scheduled").pipe(
          Effect.annotateLogs({ pipeline: spec.name, schedule: spec.schedule.text })
        )
      }
      if (lease === undefined) return
      if (Option.isNone(leaseStore)) return yield* Effect.dieMessage("Supervisor.start: leases need the LeaseStore")
      leased = lease
      const me = lease.replica
      const running = yield* FiberMap.make<string>()
      yield* keepLeases(
        leaseStore.value,
        lease,
        specs.map((spec) => spec.name),
        {
          runHere: (name, epoch) =>
            Effect.gen(function* () {
              const entry = entries.get(name)!
              yield* setHeld(entry, true)
              yield* FiberMap.run(running, name, supervise(entry, { owner: me, epoch }))
            }),
          stopHere: (name) => FiberMap.remove(running, name).pipe(Effect.zipRight(setHeld(entries.get(name)!, false))),
          // Who runs what, for the API; the pauses stored from whichever replica.
          observe: (owners, control) =>
            Effect.gen(function* () {
              yield* Ref.set(schedulerPaused, control.some((row) => row.pipeline === SCHEDULER && row.paused))
              yield* Ref.set(pausedPipelines, new Set(control.filter((row) => row.paused).map((row) => row.pipeline)))
              for (const [name, entry] of entries) {
                yield* Ref.update(entry.status, (s): PipelineStatus => ({ ...s, owner: owners.get(name) ?? null }))
                yield* settle(entry)
              }
            }),
          runAsked: (name, run) =>
            Effect.gen(function* () {
              const entry = entries.get(name)
              if (entry === undefined) return
              yield* Queue.offer(entry.triggers, { run, started: yield* Deferred.make<void>() })
              yield* Effect.logInfo("run asked for on another replica").pipe(Effect.annotateLogs({ pipeline: name, run }))
            })
        }
      )
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
      if (!current.held) {
        if (leased === undefined) return yield* new PipelineElsewhere({ name })
        // The replica holding the lease starts it on its next round.
        const run = yield* runner.nextRunId
        if (Option.isNone(leaseStore)) return yield* new PipelineElsewhere({ name })
        yield* leaseStore.value.requestRun(name, run).pipe(Effect.mapError(() => new PipelineElsewhere({ name })))
        return run
      }
      if (Option.isSome(current.running)) {
        return yield* new PipelineAlreadyRunning({ name, run: current.running.value.run })
      }
      const run = yield* runner.nextRunId
      const started = yield* Deferred.make<void>()
      yield* Queue.offer(e.triggers, { run, started })
      yield* Deferred.await(started)
      return run
    })

  /** Under leases, a pause is stored for every replica (the holder applies it on its next round) and applied here. */
  const storePause = (name: string, paused: boolean) =>
    leased === undefined || Option.isNone(leaseStore)
      ? Effect.void
      : leaseStore.value.setPaused(name, paused).pipe(
          Effect.catchAll((error) => Effect.logWarning(`the pause is applied on this replica only: ${error.message}`))
        )

  const setPaused = (name: string, paused: boolean) =>
    Effect.gen(function* () {
      const e = yield* entry(name)
      yield* storePause(name, paused)
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
    Effect.suspend(() => storePause(SCHEDULER, paused)).pipe(
      Effect.zipRight(Ref.set(schedulerPaused, paused)),
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
