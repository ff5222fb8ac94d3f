import { SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Schema } from "effect"
import { FindingPlans, FindingSource, Severity, Suggestion, Verified } from "../plugin/Finding.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

// The findings of slowq_findings (migration 0006) as the API and the report serve them. The row schema is the API's
// response schema too. Impact is computed at read time from the query's stored time, so it follows the totals.

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** One finding of one query of one pipeline. */
export const FindingView = Schema.Struct({
  pipeline: Schema.String,
  query_id: Schema.String,
  fingerprint: Schema.String.annotations({ description: "The query's normalized text." }),
  stage: Schema.String.annotations({ description: "The stage that found it." }),
  scope: Schema.String.annotations({ description: "Which of the stage's checks found it (e.g. statement, plan)." }),
  rule: Schema.String,
  subject: Schema.String.annotations({ description: "What it is about (a table, columns); empty for a whole query." }),
  severity: Severity,
  source: FindingSource,
  message: Schema.String,
  evidence: Schema.String,
  advice: Schema.String,
  suggestion: Schema.NullOr(Suggestion).annotations({ description: "The exact change to review, if any." }),
  verified: Schema.NullOr(Verified).annotations({ description: "Planner cost before and after, when verified." }),
  impact_ms: Schema.Number.annotations({
    description: "The query's total time in the pipeline times the share the finding would remove: the ranking key."
  }),
  impact_share: Schema.Number.annotations({
    description:
      "impact_ms as a share (0–1) of the pipeline's total time: how much of all the time the pipeline's queries take the finding would save."
  }),
  first_seen: Schema.Date,
  last_seen: Schema.Date,
  resolved_at: Schema.NullOr(Schema.Date).annotations({
    description: "When the stage looked at the query again and no longer found it; null while open."
  })
}).annotations({ identifier: "Finding" })
export interface FindingView extends Schema.Schema.Type<typeof FindingView> {}

/** A finding as one query's page shows it: with the two plans it compares, which the ranked lists leave out. */
export const QueryFindingView = Schema.Struct({
  ...FindingView.fields,
  plans: Schema.NullOr(FindingPlans).annotations({
    description:
      "The plans the finding compares, as the database printed them: without and with the suggested index, or before and after a plan change; null when it compares none."
  })
}).annotations({ identifier: "QueryFinding" })
export interface QueryFindingView extends Schema.Schema.Type<typeof QueryFindingView> {}

/** One query an index suggestion serves, with the planner's costs for it when verified. */
export const ServedQuery = Schema.Struct({
  query_id: Schema.String,
  fingerprint: Schema.String,
  rule: Schema.String.annotations({ description: "The finding that suggests it for this query." }),
  cost_before: Schema.NullOr(Schema.Number),
  cost_after: Schema.NullOr(Schema.Number),
  impact_ms: Schema.Number
})

/**
 * One change to make, once, with every query of the pipeline it serves: the open findings that carry the same
 * suggestion (the same DDL), merged. Verified when it was proven for every one of them.
 */
export const SuggestionView = Schema.Struct({
  pipeline: Schema.String,
  kind: Schema.String.annotations({ description: "What the change is, e.g. create_index." }),
  ddl: Schema.String.annotations({ description: "The exact statement to review and run." }),
  severity: Severity.annotations({ description: "The highest of its findings." }),
  verified: Schema.Boolean.annotations({ description: "Proven on a real planner for every query it serves." }),
  impact_ms: Schema.Number.annotations({ description: "The sum of its findings' impacts: the ranking key." }),
  impact_share: Schema.Number.annotations({ description: "impact_ms as a share (0–1) of the pipeline's total time." }),
  queries: Schema.Array(ServedQuery).annotations({ description: "The queries it serves, most impact first." })
}).annotations({ identifier: "Suggestion" })
export interface SuggestionView extends Schema.Schema.Type<typeof SuggestionView> {}

export interface ListSuggestionsOptions {
  readonly pipeline?: string
  readonly limit: number
}

export interface ListFindingsOptions {
  readonly pipeline?: string
  /** At least this severity. */
  readonly severity?: Severity
  readonly rule?: string
  readonly limit: number
  /** Resolved findings too (default: open ones only). */
  readonly resolved?: boolean
}

const columns = `f.pipeline, f.query_id, q.fingerprint, f.stage, f.scope, f.rule, f.subject, f.severity, f.source, f.message,
  f.evidence, f.advice, f.suggestion, f.verified, f.reduction * q.total_ms AS impact_ms,
  CASE WHEN t.total_ms > 0 THEN f.reduction * q.total_ms / t.total_ms ELSE 0 END AS impact_share,
  ${iso("f.first_seen")} AS first_seen, ${iso("f.last_seen")} AS last_seen,
  CASE WHEN f.resolved_at IS NULL THEN NULL ELSE ${iso("f.resolved_at")} END AS resolved_at`

// Severity as a number, for "at least": crit > warn > info.
const rank = (severity: string) => `CASE ${severity} WHEN 'crit' THEN 3 WHEN 'warn' THEN 2 ELSE 1 END`

// Each pipeline's total time, the denominator of impact_share.
const pipelineTotals = (where: string) => `JOIN (
    SELECT pipeline, sum(total_ms) AS total_ms FROM slowq_queries WHERE ${where} GROUP BY pipeline
  ) t ON t.pipeline = f.pipeline`

const listSql = `${SLOWQ_MARKER}
SELECT ${columns}
FROM slowq_findings f JOIN slowq_queries q ON q.pipeline = f.pipeline AND q.query_id = f.query_id
  ${pipelineTotals("$1::text IS NULL OR pipeline = $1")}
WHERE ($1::text IS NULL OR f.pipeline = $1)
  AND ($2::text IS NULL OR ${rank("f.severity")} >= ${rank("$2::text")})
  AND ($3::text IS NULL OR f.rule = $3)
  AND ($5::bool OR f.resolved_at IS NULL)
ORDER BY f.resolved_at IS NOT NULL, impact_ms DESC, ${rank("f.severity")} DESC, f.pipeline, f.query_id, f.stage, f.scope, f.rule, f.subject
LIMIT $4`

const ofQuerySql = `${SLOWQ_MARKER}
SELECT ${columns}, f.plans
FROM slowq_findings f JOIN slowq_queries q ON q.pipeline = f.pipeline AND q.query_id = f.query_id
  ${pipelineTotals("pipeline = ANY($2::text[])")}
WHERE f.query_id = $1 AND f.pipeline = ANY($2::text[])
ORDER BY f.resolved_at IS NOT NULL, impact_ms DESC, ${rank("f.severity")} DESC, f.pipeline, f.stage, f.scope, f.rule, f.subject`

const suggestionsSql = `${SLOWQ_MARKER}
WITH served AS (
  SELECT f.pipeline, f.suggestion->>'kind' AS kind, f.suggestion->>'ddl' AS ddl, f.severity, f.verified, f.query_id,
    q.fingerprint, f.rule, f.reduction * q.total_ms AS impact_ms,
    CASE WHEN t.total_ms > 0 THEN f.reduction * q.total_ms / t.total_ms ELSE 0 END AS impact_share
  FROM slowq_findings f JOIN slowq_queries q ON q.pipeline = f.pipeline AND q.query_id = f.query_id
    ${pipelineTotals("$1::text IS NULL OR pipeline = $1")}
  WHERE f.resolved_at IS NULL AND f.suggestion IS NOT NULL AND ($1::text IS NULL OR f.pipeline = $1)
)
SELECT pipeline, kind, ddl,
  (ARRAY['info', 'warn', 'crit'])[max(${rank("severity")})] AS severity,
  bool_and(verified IS NOT NULL) AS verified,
  sum(impact_ms) AS impact_ms,
  sum(impact_share) AS impact_share,
  jsonb_agg(jsonb_build_object('query_id', query_id, 'fingerprint', fingerprint, 'rule', rule,
    'cost_before', verified->'cost_before', 'cost_after', verified->'cost_after', 'impact_ms', impact_ms)
    ORDER BY impact_ms DESC, query_id) AS queries
FROM served
GROUP BY pipeline, kind, ddl
ORDER BY impact_ms DESC, pipeline, ddl
LIMIT $2`

const make = Effect.gen(function* () {
  const { sql, readPermits } = yield* StoreClient
  const readError = (cause: { readonly message: string; readonly cause?: unknown }) => {
    const reason = cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
    return new StoreError({ operation: "read", message: `store read failed: ${reason}`, cause })
  }

  const findList = SqlSchema.findAll({
    Request: Schema.Struct({
      pipeline: Schema.NullOr(Schema.String),
      severity: Schema.NullOr(Severity),
      rule: Schema.NullOr(Schema.String),
      limit: Schema.Number,
      resolved: Schema.Boolean
    }),
    Result: FindingView,
    execute: (r) => sql.unsafe(listSql, [r.pipeline, r.severity, r.rule, r.limit, r.resolved])
  })
  /** Findings ranked by impact, open ones first (only open ones unless `resolved`). */
  const listFindings = (options: ListFindingsOptions) =>
    findList({
      pipeline: options.pipeline ?? null,
      severity: options.severity ?? null,
      rule: options.rule ?? null,
      limit: options.limit,
      resolved: options.resolved === true
    }).pipe(Effect.mapError(readError), readPermits.withPermits(1), Effect.withSpan("FindingReads.listFindings"))

  const findOfQuery = SqlSchema.findAll({
    Request: Schema.Struct({ id: Schema.String, pipelines: Schema.Array(Schema.String) }),
    Result: QueryFindingView,
    execute: (r) => sql.unsafe(ofQuerySql, [r.id, r.pipelines])
  })
  /** Every finding of query `id` in `pipelines`, open ones first, by impact. */
  const queryFindings = (id: string, pipelines: ReadonlyArray<string>) =>
    findOfQuery({ id, pipelines }).pipe(
      Effect.mapError(readError),
      readPermits.withPermits(1),
      Effect.withSpan("FindingReads.queryFindings")
    )

  const findSuggestions = SqlSchema.findAll({
    Request: Schema.Struct({ pipeline: Schema.NullOr(Schema.String), limit: Schema.Number }),
    Result: SuggestionView,
    execute: (r) => sql.unsafe(suggestionsSql, [r.pipeline, r.limit])
  })
  /** The open suggestions, each once with the queries it serves, by total impact. */
  const listSuggestions = (options: ListSuggestionsOptions) =>
    findSuggestions({ pipeline: options.pipeline ?? null, limit: options.limit }).pipe(
      Effect.mapError(readError),
      readPermits.withPermits(1),
      Effect.withSpan("FindingReads.listSuggestions")
    )

  return { listFindings, queryFindings, listSuggestions } as const
})

/** The stages' findings, as the API and the report serve them. */
export class FindingReads extends Context.Tag("slowq/store/FindingReads")<FindingReads, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
