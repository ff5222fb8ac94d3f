import { Clock, Context, Data, Duration, Effect, Layer, Metric, Ref, Stream } from "effect"
import type { CollectedEvent } from "../domain/CollectedEvent.js"
import { Fingerprinter } from "../fingerprint/Fingerprinter.js"
import { isOwnStatement } from "../plugin/OwnStatement.js"
import { stageApplies } from "../plugin/Plugin.js"
import { PipelineStage, type StageError } from "../plugin/PipelineStage.js"
import { SlowQuerySource, type SourceError } from "../plugin/SlowQuerySource.js"
import { EventWriter, type Fence, type StageFindings, type StageRemember } from "../store/EventWriter.js"
import { sampleScrubber } from "../store/SampleScrubber.js"
import { StageMemoryStore } from "../store/StageMemoryStore.js"
import type { StoreError } from "../store/StoreError.js"
import { eventsDroppedTotal, storeWriteSeconds } from "./PipelineMetrics.js"
import { makeFingerprintStep } from "./FingerprintStep.js"
import { withLogScrub } from "./LogScrub.js"
import type { PipelineSpec } from "./PipelineSpec.js"
import { stageEventsSkipped } from "./PipelineMetrics.js"

export interface RunSummary {
  readonly pipeline: string
  readonly run: string
  readonly batches: number
  /** Events the source returned, slowq's own statements left out, including ones the store already had. */
  readonly eventsRead: number
  /** Events newly stored (the rest were replays, ignored by the store). */
  readonly rowsWritten: number
  readonly duplicates: number
  /** Events the store refused: left out, each logged and recorded in slowq_dropped_events. */
  readonly eventsDropped: number
  readonly newFingerprints: number
  readonly durationMs: number
}

export class RunError extends Data.TaggedError("RunError")<{
  readonly pipeline: string
  readonly run: string
  readonly cause: SourceError | StageError | StoreError
}> {
  override get message(): string {
    return `pipeline ${this.pipeline} run ${this.run} failed: ${this.cause.message}`
  }
}

const emptyTotals = {
  batches: 0,
  eventsRead: 0,
  rowsWritten: 0,
  duplicates: 0,
  eventsDropped: 0,
  newFingerprints: 0,
  ownStatements: 0
}

const make = Effect.gen(function* () {
  const writer = yield* EventWriter
  const memories = yield* StageMemoryStore
  const engine = yield* Fingerprinter
  // The counter lives in the service, which Daemon.ts builds once per process, so ids stay unique there; the time
  // prefix keeps them readable and apart across restarts. Both come from effects so that TestClock decides them.
  const runCounter = yield* Ref.make(0)
  const nextRunId: Effect.Effect<string> = Effect.gen(function* () {
    const n = yield* Ref.updateAndGet(runCounter, (count) => count + 1)
    const now = yield* Clock.currentTimeMillis
    return `${now.toString(36)}-${n}`
  })

  /**
   * One pass of a pipeline: builds its source and stages for this run only (so a database that restarted
   * between runs is simply reconnected), reads everything after the stored checkpoint and stores each batch
   * with its checkpoint in one write.
   */
  const runOnce = Effect.fn("Runner.runOnce")(function* (spec: PipelineSpec, requestedRunId?: string, fence?: Fence) {
    const runId = requestedRunId ?? (yield* nextRunId)
    const started = yield* Clock.currentTimeMillis
    const context = {
      pipeline: spec.name,
      source: {
        type: spec.source.plugin.type,
        dialect: spec.source.plugin.dialect,
        config: spec.source.config,
        connection: spec.source.plugin.connection(spec.source.config),
        logsPlans: spec.source.plugin.logsPlans
      }
    }
    // A stage that does not understand the source's dialect is not built: events pass it untouched, and are counted.
    const applicable = spec.stages.filter((stage) => stageApplies(stage.plugin, spec.source.plugin.dialect))
    const skippedStages = spec.stages.flatMap((stage) => (applicable.includes(stage) ? [] : [stage.plugin.type]))
    const { ownStatements, ...totals } = yield* Effect.gen(function* () {
      const source = yield* Layer.build(spec.source.plugin.layer(spec.source.config)).pipe(
        Effect.map(Context.get(SlowQuerySource))
      )
      const fingerprint = yield* makeFingerprintStep(spec, engine)
      const stages = yield* Effect.forEach(applicable, (stage) =>
        Layer.build(
          stage.plugin.layer(stage.config, { ...context, memory: memories.reader(spec.name, stage.plugin.type) })
        ).pipe(Effect.map((built) => ({ type: stage.plugin.type, stage: Context.get(built, PipelineStage) })))
      )
      const checkpoint = yield* writer.readCheckpoint(spec.name)
      return yield* source.read(checkpoint).pipe(
        // slowq's own statements (a watched server logs the polls, the EXPLAINs and a store on it) are dropped here,
        // once for every source, before any stage sees them; the checkpoint still moves past them. Then every event
        // is fingerprinted, before any stage, by the fingerprinter of the source's dialect.
        Stream.mapEffect((batch) =>
          Effect.map(fingerprint(batch.events.filter((event) => !isOwnStatement(event.sqlText))), (collected) => ({
            batch,
            collected
          }))
        ),
        // The next batch is read and fingerprinted while this one goes through the stages and into the store (one
        // batch ahead, no more): the store's work and slowq's overlap. Batches are still stored in order, each with
        // its checkpoint, so a failure or a crash keeps exactly what it kept before.
        Stream.buffer({ capacity: 1 }),
        Stream.runFoldEffect(emptyTotals, (totals, { batch, collected }) => {
          // What the pipeline's sample policy lets out of this batch, into the store and into the log.
          const scrubber = sampleScrubber(spec.sink.samples, spec.source.plugin.dialect, collected)
          return Effect.gen(function* () {
            const own = batch.events.length - collected.length
            for (const stage of skippedStages) {
              yield* Metric.incrementBy(stageEventsSkipped(spec.name, stage, "dialect"), collected.length)
            }
            let events: ReadonlyArray<CollectedEvent> = collected
            // What the stages want remembered is stored with the batch, in its transaction, never before it.
            const remember: Array<StageRemember> = []
            const findings: Array<StageFindings> = []
            for (const { type, stage } of stages) {
              const output = yield* stage.process(events)
              events = output.events
              if (output.remember.length > 0) remember.push({ stage: type, entries: output.remember })
              if (output.findings !== undefined && output.findings.length > 0) {
                findings.push({ stage: type, queries: output.findings })
              }
            }
            const [elapsed, written] = yield* Effect.timed(
              writer.writeBatch(spec.name, spec.source.plugin.dialect, events, batch.checkpoint, {
                ...(batch.locate === undefined ? {} : { locate: batch.locate }),
                remember,
                findings,
                samples: spec.sink.samples,
                scrubber,
                ...(fence === undefined ? {} : { fence })
              })
            )
            for (const dropped of written.dropped) {
              yield* Effect.logWarning(`event dropped: the store refused it: ${dropped.reason}`).pipe(
                Effect.annotateLogs({ event: dropped.key, ...(dropped.position === null ? {} : { position: dropped.position }) })
              )
            }
            // Counted here rather than from the run's summary: the checkpoint has moved past these events, so a run
            // that fails later and is retried never reads (nor reports) them again.
            yield* Metric.incrementBy(Metric.tagged(eventsDroppedTotal, "pipeline", spec.name), written.dropped.length)
            yield* Metric.update(storeWriteSeconds, Duration.toMillis(elapsed) / 1000)
            yield* Effect.logDebug("batch stored").pipe(
              Effect.annotateLogs({
                events: collected.length,
                events_own: own,
                events_skipped: collected.length * skippedStages.length,
                inserted: written.inserted
              })
            )
            return {
              batches: totals.batches + 1,
              eventsRead: totals.eventsRead + collected.length,
              rowsWritten: totals.rowsWritten + written.inserted,
              duplicates: totals.duplicates + written.duplicates,
              eventsDropped: totals.eventsDropped + written.dropped.length,
              newFingerprints: totals.newFingerprints + written.newFingerprints,
              ownStatements: totals.ownStatements + own
            }
          }).pipe(
            // Under a sample policy other than raw, what the batch's stages and the store log loses the batch's literals.
            scrubber.policy === "raw" ? (effect) => effect : withLogScrub(scrubber.text)
          )
        })
      )
    }).pipe(
      Effect.scoped,
      Effect.mapError((cause) => new RunError({ pipeline: spec.name, run: runId, cause })),
      Effect.annotateLogs({ pipeline: spec.name, plugin: spec.source.plugin.type, run: runId })
    )
    const finished = yield* Clock.currentTimeMillis
    const summary: RunSummary = { pipeline: spec.name, run: runId, ...totals, durationMs: finished - started }
    yield* Effect.logInfo("run finished").pipe(
      Effect.annotateLogs({
        pipeline: spec.name,
        plugin: spec.source.plugin.type,
        run: runId,
        events: summary.eventsRead,
        written: summary.rowsWritten,
        duplicates: summary.duplicates,
        dropped: summary.eventsDropped,
        new_fingerprints: summary.newFingerprints,
        events_own: ownStatements,
        // Every event read passed each stage of another dialect untouched.
        ...(skippedStages.length === 0
          ? {}
          : { stages_skipped: skippedStages.join(","), events_skipped: summary.eventsRead * skippedStages.length }),
        duration_ms: summary.durationMs
      })
    )
    return summary
  })

  return { runOnce, nextRunId } as const
})

/** Runs one pass of a pipeline: source → stages → store. */
export class Runner extends Context.Tag("slowq/pipeline/Runner")<Runner, Effect.Effect.Success<typeof make>>() {
  /** The SQL engine is built here, once per Runner (once per process in the daemon): it loads libpg_query. */
  static readonly layer = Layer.effect(this, make).pipe(Layer.provide(Fingerprinter.layer))
}
