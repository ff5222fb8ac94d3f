import { Metric, MetricBoundaries } from "effect"

/** Per-pipeline metrics, tagged `pipeline`; rendered in Prometheus text by the HTTP server. */
export const runsTotal = Metric.counter("slowq_pipeline_runs_total", {
  description: "Pipeline runs finished, successful or not.",
  incremental: true
})
export const failuresTotal = Metric.counter("slowq_pipeline_failures_total", {
  description: "Pipeline runs that failed after their retries.",
  incremental: true
})
export const eventsTotal = Metric.counter("slowq_pipeline_events_total", {
  description: "Events read from sources (including replays the store ignored).",
  incremental: true
})
export const rowsWrittenTotal = Metric.counter("slowq_pipeline_events_stored_total", {
  description: "Events newly stored.",
  incremental: true
})
export const eventsDroppedTotal = Metric.counter("slowq_pipeline_events_dropped_total", {
  description: "Events the store refused (a value it cannot hold): left out, logged and kept in slowq_dropped_events.",
  incremental: true
})
export const stageEventsSkippedTotal = Metric.counter("slowq_stage_events_skipped_total", {
  description:
    "Events that passed a stage untouched, by `stage` and `reason` (dialect: the stage does not apply to the source's dialect).",
  incremental: true
})
/** The skip counter of one stage of one pipeline, for one reason. */
export const stageEventsSkipped = (pipeline: string, stage: string, reason: "dialect") =>
  stageEventsSkippedTotal.pipe(Metric.tagged("pipeline", pipeline), Metric.tagged("stage", stage), Metric.tagged("reason", reason))
export const lastSuccessSeconds = Metric.gauge("slowq_pipeline_last_success_timestamp_seconds", {
  description: "Unix time of the pipeline's last successful run."
})
export const runDurationSeconds = Metric.histogram(
  "slowq_pipeline_run_duration_seconds",
  MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 14 }),
  "Duration of pipeline runs, retries included."
)
export const storeWriteSeconds = Metric.histogram(
  "slowq_store_write_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 14 }),
  "Duration of one store write (a batch with its checkpoint)."
)
