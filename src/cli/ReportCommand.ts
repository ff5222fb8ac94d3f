import { Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Option } from "effect"
import { TimeParam } from "../http/Api.js"
import { EnrichmentReads } from "../store/EnrichmentReads.js"
import { FindingReads, type FindingView } from "../store/FindingReads.js"
import { QueryReads, type QuerySummary } from "../store/QueryReads.js"
import { StoreLive } from "../store/StoreLive.js"
import { CliFailure } from "./CliFailure.js"

const top = Options.integer("top").pipe(Options.withDescription("How many fingerprints."), Options.withDefault(20))
const pipeline = Options.text("pipeline").pipe(Options.withDescription("Only this pipeline."), Options.optional)
const excludeBaseline = Options.boolean("exclude-baseline").pipe(
  Options.withDescription(
    "Leave out baseline events (what pg_stat_statements had counted before slowq first looked); included by default."
  )
)
// The API's grammar of a time (ISO 8601, or a duration back from now), so `--since 24h` reads as `?since=24h` does.
const since = Options.text("since").pipe(
  Options.withSchema(TimeParam),
  Options.withDescription(
    "Rank over the window from this time (inclusive, from the start of its minute): ISO 8601 or a duration back from now (90s, 15m, 24h, 7d). Read from the rollups, as GET /api/v1/queries?since= is."
  ),
  Options.optional
)
const until = Options.text("until").pipe(
  Options.withSchema(TimeParam),
  Options.withDescription("End of the window (exclusive; default now): ISO 8601 or a duration back from now."),
  Options.optional
)
const format = Options.choice("format", ["table", "json"]).pipe(Options.withDefault("table" as const))

const toJson = (q: QuerySummary) => ({
  id: q.id,
  fingerprint: q.fingerprint,
  pipeline: q.pipeline,
  dialect: q.dialect,
  statement_type: q.statement_type,
  read_only: q.read_only,
  tables: q.tables,
  events: q.events,
  // For aggregate sources (pg_stat_statements) every stored event is one interval.
  intervals: q.events,
  calls: q.calls,
  total_ms: q.total_ms,
  avg_ms: q.avg_ms,
  max_ms: q.max_ms,
  lock_ms: q.lock_ms,
  rows_sent: q.rows_sent,
  rows_examined: q.rows_examined,
  rows_affected: q.rows_affected,
  first_seen: q.first_seen.toISOString(),
  last_seen: q.last_seen.toISOString(),
  sample: q.sample
})

/** A finding as the report shows it (open findings only, most impact first). */
const findingJson = (f: FindingView) => ({
  rule: f.rule,
  severity: f.severity,
  message: f.message,
  evidence: f.evidence,
  advice: f.advice,
  suggestion: f.suggestion,
  verified: f.verified,
  impact_ms: f.impact_ms
})

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(2))

/** The top finding of each query ("" when none) goes in the column before the fingerprint. */
export const formatTable = (queries: ReadonlyArray<QuerySummary>, topFindings: ReadonlyArray<string>): string => {
  const header = ["rank", "id", "calls", "total_ms", "avg_ms", "max_ms", "rows_exam", "pipeline", "top_finding", "fingerprint"]
  const rows = queries.map((q, i) => [
    String(i + 1),
    q.id,
    String(q.calls),
    ms(q.total_ms),
    ms(q.avg_ms),
    ms(q.max_ms),
    String(q.rows_examined),
    q.pipeline,
    topFindings[i] || "-",
    q.fingerprint.length > 80 ? `${q.fingerprint.slice(0, 77)}...` : q.fingerprint
  ])
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : c >= 2 && c <= 6 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join("  ")
  return [line(header), ...rows.map(line)].join("\n")
}

const resolveTime = (param: TimeParam, now: number) => (param._tag === "At" ? param.date : new Date(now - param.millis))

const options = { top, pipeline, format, excludeBaseline, since, until }

export const reportCommand = Command.make("report", options, ({ top, pipeline, format, excludeBaseline, since, until }) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const window = {
      ...Option.match(since, { onNone: () => ({}), onSome: (t) => ({ since: resolveTime(t, now) }) }),
      ...Option.match(until, { onNone: () => ({}), onSome: (t) => ({ until: resolveTime(t, now) }) })
    }
    // Windows are read from the rollups, which sum every stored event: the baseline is a mark on raw events only.
    if (excludeBaseline && (window.since !== undefined || window.until !== undefined)) {
      return yield* new CliFailure({
        message: "--exclude-baseline cannot be combined with --since/--until: a window is read from the rollups, which count baseline events"
      })
    }
    if (window.since !== undefined && window.until !== undefined && window.since.getTime() >= window.until.getTime()) {
      return yield* new CliFailure({ message: "--since must be before --until" })
    }
    const reads = yield* QueryReads
    const queries = yield* reads.topQueries({
      top,
      excludeBaseline,
      ...window,
      ...Option.match(pipeline, { onNone: () => ({}), onSome: (p) => ({ pipeline: p }) })
    })
    const findingReads = yield* FindingReads
    const findings = yield* Effect.forEach(queries, (q) =>
      Effect.map(findingReads.queryFindings(q.id, [q.pipeline]), (rows) => rows.filter((f) => f.resolved_at === null))
    )
    if (format === "json") {
      // What the pipelines' stages add to each query (their enrichments) and their findings, after its own fields.
      const enrichments = yield* EnrichmentReads
      const fields = yield* enrichments.reportFields(queries.map((q) => ({ pipeline: q.pipeline, id: q.id })))
      const json = queries.map((q, i) => ({ ...toJson(q), ...fields[i], findings: findings[i]!.map(findingJson) }))
      yield* Console.log(JSON.stringify({ queries: json }, null, 2))
    } else if (queries.length === 0) {
      yield* Console.log("no queries stored yet")
    } else {
      const top = findings.map((rows) => (rows[0] === undefined ? "" : `${rows[0].severity} ${rows[0].rule}`))
      yield* Console.log(formatTable(queries, top))
    }
  }).pipe(
    Effect.provide(StoreLive),
    Effect.catchTag("StoreError", (error) => new CliFailure({ message: error.message }))
  )
).pipe(Command.withDescription("Top fingerprints from the store by total time, all time or over a window."))
