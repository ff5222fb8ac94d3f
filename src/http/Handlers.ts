import { HttpApiBuilder } from "@effect/platform"
import { Clock, Effect, Layer, Option } from "effect"
import type { PipelineStatus, RunRecord } from "../pipeline/Supervisor.js"
import { Supervisor } from "../pipeline/Supervisor.js"
import { EnrichmentReads } from "../store/EnrichmentReads.js"
import { FindingReads } from "../store/FindingReads.js"
import { QueryReads } from "../store/QueryReads.js"
import { SeriesReads } from "../store/SeriesReads.js"
import { StoreClient } from "../store/StoreClient.js"
import type { StoreError } from "../store/StoreError.js"
import {
  BadRequestError,
  MAX_SERIES_IDS,
  NotFoundError,
  PipelineRunningError,
  type SlowqApi,
  StoreUnavailableError,
  type TimeParam
} from "./Api.js"
import { gaugeFamilies, renderMetrics } from "./Prometheus.js"
import { ReadGate } from "./ReadGate.js"
import { checkReadiness } from "./Readiness.js"

// ---------------------------------------------------------------------------------------------------------------------
// Pipelines: views of the supervisor's statuses. Pipeline configs are never serialized (they hold the sources'
// credentials); a run's error text is scrubbed of credentials in case a driver quoted a connection string.

/** Hides the password of `scheme://user:password@host` and of `password=…` in a message. */
export const scrubSecrets = (text: string): string =>
  text
    .replaceAll(/([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*):[^\s@/?#]*@/gi, "$1:***@")
    .replaceAll(/\b(password|passwd|pwd)(\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s,;)]+)/gi, "$1$2***")

const runView = (run: RunRecord) => ({
  run: run.run,
  trigger: run.trigger,
  started_at: run.startedAt,
  duration_ms: run.durationMs,
  events_read: run.eventsRead,
  events_stored: run.rowsWritten,
  events_dropped: run.eventsDropped,
  new_fingerprints: run.newFingerprints,
  error: run.error === null ? null : scrubSecrets(run.error)
})

const pipelineView = (status: PipelineStatus) => ({
  name: status.name,
  source_type: status.sourceType,
  schedule: status.schedule,
  state: status.state,
  paused: status.paused,
  owner: status.owner,
  running: Option.match(status.running, {
    onNone: () => null,
    onSome: (running) => ({ run: running.run, started_at: running.startedAt })
  }),
  last_run: Option.match(status.lastRun, { onNone: () => null, onSome: runView }),
  next_run_at: Option.getOrNull(status.nextRunAt),
  consecutive_failures: status.consecutiveFailures,
  totals: {
    runs: status.totals.runs,
    failures: status.totals.failures,
    events_read: status.totals.eventsRead,
    events_stored: status.totals.rowsWritten,
    events_dropped: status.totals.eventsDropped,
    new_fingerprints: status.totals.newFingerprints
  }
})

const pipelineNotFound = (error: { readonly name: string }) =>
  new NotFoundError({ message: `no pipeline named ${error.name}` })

export const PipelinesLive = (api: SlowqApi) =>
  HttpApiBuilder.group(api, "pipelines", (handlers) =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      return handlers
        .handle("list", () =>
          Effect.all([supervisor.statuses, supervisor.schedulerPaused]).pipe(
            Effect.map(([statuses, paused]) => ({ scheduler_paused: paused, pipelines: statuses.map(pipelineView) }))
          )
        )
        .handle("get", ({ path }) =>
          supervisor.status(path.name).pipe(
            Effect.map((status) => ({ ...pipelineView(status), recent_runs: status.recentRuns.map(runView) })),
            Effect.catchTag("PipelineNotFound", (error) => Effect.fail(pipelineNotFound(error)))
          )
        )
        .handle("run", ({ path }) =>
          supervisor.runNow(path.name).pipe(
            Effect.map((run) => ({ pipeline: path.name, run })),
            Effect.tap(({ run }) => Effect.logInfo("run asked for over HTTP").pipe(Effect.annotateLogs({ pipeline: path.name, run }))),
            Effect.catchTags({
              PipelineNotFound: (error) => Effect.fail(pipelineNotFound(error)),
              PipelineElsewhere: (error) =>
                Effect.fail(
                  new StoreUnavailableError({
                    message: `pipeline ${error.name} runs on another replica, and the request for a run could not be stored; see slowq's log`
                  })
                ),
              PipelineAlreadyRunning: (error) =>
                Effect.fail(
                  new PipelineRunningError({
                    message: `pipeline ${error.name} is running already (run ${error.run})`,
                    pipeline: error.name,
                    run: error.run
                  })
                )
            })
          )
        )
        .handle("pause", ({ path }) =>
          supervisor.pause(path.name).pipe(
            Effect.map(pipelineView),
            Effect.tap(() => Effect.logInfo("pipeline paused over HTTP").pipe(Effect.annotateLogs({ pipeline: path.name }))),
            Effect.catchTag("PipelineNotFound", (error) => Effect.fail(pipelineNotFound(error)))
          )
        )
        .handle("resume", ({ path }) =>
          supervisor.resume(path.name).pipe(
            Effect.map(pipelineView),
            Effect.tap(() => Effect.logInfo("pipeline resumed over HTTP").pipe(Effect.annotateLogs({ pipeline: path.name }))),
            Effect.catchTag("PipelineNotFound", (error) => Effect.fail(pipelineNotFound(error)))
          )
        )
    })
  )

export const SchedulerLive = (api: SlowqApi) =>
  HttpApiBuilder.group(api, "scheduler", (handlers) =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      return handlers
        .handle("pause", () =>
          supervisor.pauseAll.pipe(
            Effect.zipRight(Effect.logInfo("scheduler paused over HTTP")),
            Effect.as({ scheduler_paused: true })
          )
        )
        .handle("resume", () =>
          supervisor.resumeAll.pipe(
            Effect.zipRight(Effect.logInfo("scheduler resumed over HTTP")),
            Effect.as({ scheduler_paused: false })
          )
        )
    })
  )

// ---------------------------------------------------------------------------------------------------------------------
// Queries

const resolveTime = (param: TimeParam | undefined, now: number): Date | undefined =>
  param === undefined ? undefined : param._tag === "At" ? param.date : new Date(now - param.millis)

const storeUnavailable = (error: StoreError) =>
  Effect.logWarning("HTTP API: store read failed", error).pipe(
    Effect.zipRight(Effect.fail(new StoreUnavailableError({ message: "the store did not answer; see slowq's log" })))
  )

const checkWindow = (since: Date | undefined, until: Date | undefined) =>
  since !== undefined && until !== undefined && since.getTime() >= until.getTime()
    ? Effect.fail(
        new BadRequestError({
          message: `since (${since.toISOString()}) must be before until (${until.toISOString()})`,
          parameter: "since"
        })
      )
    : Effect.void

const DAY_MS = 86_400_000
const MAX_BUCKETS = 1000
const TARGET_BUCKETS = 200
const niceBuckets = [60, 300, 900, 3600, 21_600, 86_400]

/** The smallest usual bucket giving at most TARGET_BUCKETS points over the window. */
export const chooseBucketSeconds = (spanMs: number): number =>
  niceBuckets.find((seconds) => spanMs / (seconds * 1000) <= TARGET_BUCKETS) ?? Math.ceil(spanMs / 1000 / TARGET_BUCKETS)

const checkBucket = (seconds: number, spanMs: number, parameter = "bucket") =>
  spanMs / (seconds * 1000) > MAX_BUCKETS
    ? Effect.fail(
        new BadRequestError({
          message: `a ${parameter} of ${seconds}s gives more than ${MAX_BUCKETS} points over the window; use a wider ${parameter} or a shorter window`,
          parameter
        })
      )
    : Effect.succeed(seconds)

/**
 * A series' window and bucket width: `until` defaults to now, `since` to a day before it, the width to one giving
 * at most TARGET_BUCKETS points; 400 when the window is empty or would need more than MAX_BUCKETS points.
 */
const seriesWindow = (
  sinceParam: TimeParam | undefined,
  untilParam: TimeParam | undefined,
  widthParam: number | undefined,
  parameter: "bucket" | "step"
) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const until = resolveTime(untilParam, now) ?? new Date(now)
    const since = resolveTime(sinceParam, now) ?? new Date(until.getTime() - DAY_MS)
    yield* checkWindow(since, until)
    const spanMs = until.getTime() - since.getTime()
    const bucketSeconds =
      widthParam === undefined ? chooseBucketSeconds(spanMs) : yield* checkBucket(widthParam, spanMs, parameter)
    return { since, until, bucketSeconds }
  })

export const QueriesLive = (api: SlowqApi) =>
  HttpApiBuilder.group(api, "queries", (handlers) =>
    Effect.gen(function* () {
      const queries = yield* QueryReads
      const enrichments = yield* EnrichmentReads
      const series = yield* SeriesReads
      const gate = yield* ReadGate
      return handlers
        .handle("list", ({ urlParams }) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const since = resolveTime(urlParams.since, now)
            const until = resolveTime(urlParams.until, now)
            yield* checkWindow(since, until)
            const order = urlParams.order ?? "total_ms"
            // The store keeps no all-time histogram per query (migration 0017 says why): ranking every fingerprint by
            // its all-time p95 would merge every hour rollup kept on each request.
            if (order === "p95_ms" && since === undefined && until === undefined) {
              return yield* new BadRequestError({
                message: "order=p95_ms ranks a window: give since or until (e.g. since=24h); slowq keeps no all-time latency histogram per query",
                parameter: "order"
              })
            }
            const limit = urlParams.limit ?? 50
            const offset = urlParams.offset ?? 0
            // The page and what the enrichments add to its rows, in one slot of the gate.
            const reads = Effect.gen(function* () {
              const page = yield* queries.listQueries({
                order,
                limit,
                offset,
                ...(urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline }),
                ...(urlParams.statement_type === undefined ? {} : { statementType: urlParams.statement_type }),
                ...(urlParams.database === undefined ? {} : { database: urlParams.database }),
                ...(urlParams.user === undefined ? {} : { user: urlParams.user }),
                withTotals: urlParams.totals === "true",
                ...(since === undefined ? {} : { since }),
                ...(until === undefined ? {} : { until })
              })
              const fields = yield* enrichments.listFields(page.queries.map((q) => ({ pipeline: q.pipeline, id: q.id })))
              return { more: page.more, totals: page.totals, rows: page.queries.map((q, i) => ({ ...q, ...fields[i] })) }
            }).pipe(Effect.catchTag("StoreError", storeUnavailable))
            const page = yield* gate.run(reads)
            return {
              since: since ?? null,
              until: until ?? null,
              order,
              limit,
              offset,
              next_offset: page.more ? offset + limit : null,
              totals: page.totals,
              queries: page.rows
            }
          })
        )
        .handle("facets", ({ urlParams }) =>
          gate.run(
            queries
              .queryFacets(urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline })
              .pipe(Effect.catchTag("StoreError", storeUnavailable))
          )
        )
        .handle("get", ({ path, urlParams }) =>
          Effect.gen(function* () {
            const { since, until, bucketSeconds } = yield* seriesWindow(urlParams.since, urlParams.until, urlParams.bucket, "bucket")
            const pipeline = urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline }
            // All the reads of one request in one slot of the gate, one after the other.
            const reads = Effect.gen(function* () {
              const stats = yield* queries.queryStats(path.id, urlParams.pipeline).pipe(Effect.catchTag("StoreError", storeUnavailable))
              if (Option.isNone(stats)) {
                return yield* new NotFoundError({
                  message: `no query ${path.id}${urlParams.pipeline === undefined ? "" : ` in pipeline ${urlParams.pipeline}`}`
                })
              }
              const [buckets, samples, fields] = yield* Effect.all([
                queries.queryIntervals(path.id, { ...pipeline, since, until, bucketSeconds }),
                // Samples are the latest ones, also of a query not seen lately, unless a window was asked for.
                queries.querySamples(path.id, {
                  ...pipeline,
                  ...(urlParams.since === undefined && urlParams.until === undefined ? {} : { since, until }),
                  limit: urlParams.samples ?? 10
                }),
                // Over the pipelines the query was found in: the one asked for, or all that hold it.
                enrichments.detailFields(path.id, stats.value.pipelines)
              ]).pipe(Effect.catchTag("StoreError", storeUnavailable))
              return { stats: stats.value, buckets, samples, fields }
            })
            const { stats, buckets, samples, fields } = yield* gate.run(reads)
            return {
              ...stats,
              ...fields,
              // The bucket read: the one asked for, at least the rollups' minute.
              series: { since, until, bucket_seconds: buckets.bucketSeconds, intervals: buckets.intervals },
              samples
            }
          })
        )
        .handle("series", ({ path, urlParams }) =>
          Effect.gen(function* () {
            const window = yield* seriesWindow(urlParams.since, urlParams.until, urlParams.step, "step")
            const { since, until } = window
            const stepSeconds = window.bucketSeconds
            // One statement: the query's pipelines (none: a 404) and its rollups in the window.
            const pipeline = urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline }
            const found = yield* gate.run(
              series
                .querySeries(path.id, { ...pipeline, since, until, stepSeconds })
                .pipe(Effect.catchTag("StoreError", storeUnavailable))
            )
            if (Option.isNone(found)) {
              return yield* new NotFoundError({
                message: `no query ${path.id}${urlParams.pipeline === undefined ? "" : ` in pipeline ${urlParams.pipeline}`}`
              })
            }
            return { query_id: path.id, since, until, step_seconds: stepSeconds, points: found.value }
          })
        )
        .handle("batch", ({ urlParams }) =>
          Effect.gen(function* () {
            // Each id once, in the order first asked for.
            const ids = [...new Set(urlParams.ids.split(","))]
            if (ids.length > MAX_SERIES_IDS) {
              return yield* new BadRequestError({
                message: `ids names ${ids.length} queries; at most ${MAX_SERIES_IDS} are read at once`,
                parameter: "ids"
              })
            }
            const window = yield* seriesWindow(urlParams.since, urlParams.until, urlParams.step, "step")
            const { since, until } = window
            const stepSeconds = window.bucketSeconds
            const pipeline = urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline }
            const found = yield* gate.run(
              series.sparkSeries(ids, { ...pipeline, since, until, stepSeconds }).pipe(Effect.catchTag("StoreError", storeUnavailable))
            )
            return { since, until, step_seconds: stepSeconds, starts: found.starts, series: found.series }
          })
        )
    })
  )

// ---------------------------------------------------------------------------------------------------------------------
// Findings

export const FindingsLive = (api: SlowqApi) =>
  HttpApiBuilder.group(api, "findings", (handlers) =>
    Effect.gen(function* () {
      const findings = yield* FindingReads
      const queries = yield* QueryReads
      const gate = yield* ReadGate
      return handlers
        .handle("list", ({ urlParams }) =>
          gate
            .run(
              findings.listFindings({
                limit: urlParams.limit ?? 50,
                resolved: urlParams.resolved === "true",
                ...(urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline }),
                ...(urlParams.severity === undefined ? {} : { severity: urlParams.severity }),
                ...(urlParams.rule === undefined ? {} : { rule: urlParams.rule })
              })
            )
            .pipe(
              Effect.catchTag("StoreError", storeUnavailable),
              Effect.map((rows) => ({ findings: rows }))
            )
        )
        .handle("ofQuery", ({ path, urlParams }) =>
          gate.run(
            Effect.gen(function* () {
              // The pipelines that hold the query: a query no pipeline saw is a 404, not an empty list.
              const stats = yield* queries.queryStats(path.id, urlParams.pipeline)
              if (Option.isNone(stats)) {
                return yield* new NotFoundError({
                  message: `no query ${path.id}${urlParams.pipeline === undefined ? "" : ` in pipeline ${urlParams.pipeline}`}`
                })
              }
              return { findings: yield* findings.queryFindings(path.id, stats.value.pipelines) }
            }).pipe(Effect.catchTag("StoreError", storeUnavailable))
          )
        )
        .handle("suggestions", ({ urlParams }) =>
          gate
            .run(
              findings.listSuggestions({
                limit: urlParams.limit ?? 50,
                ...(urlParams.pipeline === undefined ? {} : { pipeline: urlParams.pipeline })
              })
            )
            .pipe(
              Effect.catchTag("StoreError", storeUnavailable),
              Effect.map((rows) => ({ suggestions: rows }))
            )
        )
    })
  )

// ---------------------------------------------------------------------------------------------------------------------
// Operations

export const OperationsLive = (api: SlowqApi, expectedPipelines: number) =>
  HttpApiBuilder.group(api, "operations", (handlers) =>
    Effect.gen(function* () {
      const { readiness } = yield* StoreClient
      const enrichments = yield* EnrichmentReads
      const supervisor = yield* Supervisor
      return handlers
        .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
        // Node answers GET /readyz itself (Admission.ts, Readiness.ts); this serves the same check to the rest.
        .handle("readyz", () =>
          checkReadiness(readiness, Effect.map(supervisor.statuses, (statuses) => statuses.length), expectedPipelines)
        )
        .handle("metrics", () =>
          enrichments.metricFamilies().pipe(
            // The store's read slots may all be taken by slow API reads: a scrape does not wait for them.
            Effect.timeoutOption("1 second"),
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.succeed([]),
                onSome: (gauges) => {
                  const { families, refused } = gaugeFamilies(gauges)
                  return refused.length === 0
                    ? Effect.succeed(families)
                    : Effect.logWarning("metrics: gauges with a name Prometheus refuses left out").pipe(
                        Effect.annotateLogs({ families: refused.join(", ") }),
                        Effect.as(families)
                      )
                }
              })
            ),
            // A scrape still answers when the store does not; only the enrichments' families are missing.
            Effect.catchTag("StoreError", (error) =>
              Effect.logWarning("metrics: the enrichments' gauges not read from the store", error).pipe(Effect.as([]))
            ),
            Effect.flatMap(renderMetrics)
          )
        )
    })
  )

/** Every group's handlers of `api`; they need the store's services and the supervisor the daemon built. */
export const handlersLayer = (api: SlowqApi, expectedPipelines: number) =>
  Layer.mergeAll(
    PipelinesLive(api),
    SchedulerLive(api),
    Layer.mergeAll(QueriesLive(api), FindingsLive(api)).pipe(Layer.provide(ReadGate.layer)),
    OperationsLive(api, expectedPipelines)
  )
