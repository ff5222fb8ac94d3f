import { SqlClient, SqlSchema } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, type ParseResult, Schema } from "effect"
import type { Attached, Enrichment, Fields, GaugeFamily, QueryRef } from "../../src/plugin/Enrichment.js"
import { SLOWQ_MARKER } from "../../src/plugin/OwnStatement.js"
import { PeriodLatency, periodLatencySql } from "../../src/store/PeriodLatency.js"
import { storableJson, storableText } from "../../src/store/Storable.js"
import type { ExplainOutcome } from "./Outcome.js"

// What the explain stage learned, in slowq's store: each distinct plan of a query (slowq_plans) and the latest
// outcome per query (slowq_explains), written with the batch that carried them, read back for the API, the report
// and /metrics.

/** One distinct plan a query has had in a pipeline, as the API serves it. */
export const PlanView = Schema.Struct({
  pipeline: Schema.String,
  hash: Schema.String.annotations({ description: "Hash of the plan's shape (costs and estimates left out)." }),
  method: Schema.String.annotations({
    description:
      "How it was obtained: direct, generic_plan, prepared_generic, rewritten, or logged (the database logged it with the execution: PostgreSQL's auto_explain; no EXPLAIN ran)."
  }),
  first_captured: Schema.Date,
  last_captured: Schema.Date,
  plan: Schema.Unknown.annotations({ description: "The database's own JSON plan." }),
  latency: PeriodLatency.annotations({
    description:
      "The query's calls, mean and p95 in the pipeline while this was its plan: from the minute of its first capture to the minute of the next plan's first capture (the latest plan: to the end of the minute of its last capture), from the rollups. slowq records no plan per call: a period is when the plan was the one captured, and a plan captured again after another has only its first period."
  })
}).annotations({ identifier: "Plan" })

/** The latest outcome of a query in a pipeline, as the API serves it. */
export const ExplainView = Schema.Struct({
  pipeline: Schema.String,
  status: Schema.Literal("plan", "skipped", "failed"),
  reason: Schema.NullOr(Schema.String).annotations({ description: "Why it was skipped or why EXPLAIN failed." }),
  method: Schema.NullOr(Schema.String),
  hash: Schema.NullOr(Schema.String).annotations({ description: "The current plan, one of `plans`." }),
  captured_at: Schema.Date
}).annotations({ identifier: "Explain" })

// The tables of the stage, as the core's migration 0004 created them before the stage was a plugin: IF NOT EXISTS,
// so a store migrated then keeps its tables and rows. slowq_plans keeps every distinct plan shape a query has had
// (hash = shape without estimates), so a plan change is a new row; slowq_explains holds the latest outcome per
// query: a plan (pointing at its row in slowq_plans), or why the statement was skipped or why its EXPLAIN failed.
const createPlans = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS slowq_plans (
      pipeline        text NOT NULL,
      query_id        text NOT NULL,
      hash            text NOT NULL,
      method          text NOT NULL,
      plan            jsonb NOT NULL,
      first_captured  timestamptz NOT NULL,
      last_captured   timestamptz NOT NULL,
      PRIMARY KEY (pipeline, query_id, hash)
    )`
  yield* sql`
    CREATE TABLE IF NOT EXISTS slowq_explains (
      pipeline     text NOT NULL,
      query_id     text NOT NULL,
      status       text NOT NULL CHECK (status IN ('plan', 'skipped', 'failed')),
      reason       text,
      plan_hash    text,
      plan_method  text,
      captured_at  timestamptz NOT NULL,
      PRIMARY KEY (pipeline, query_id),
      CHECK ((status = 'plan') = (plan_hash IS NOT NULL AND reason IS NULL))
    )`
})

// Plans and latest outcomes in one statement, so they never disagree. A replayed (older) outcome never
// replaces a newer one.
const writePlansSql = `${SLOWQ_MARKER}
WITH input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::timestamptz[])
    AS i(query_id, status, reason, hash, method, plan, captured_at)
),
plans AS (
  INSERT INTO slowq_plans AS p (pipeline, query_id, hash, method, plan, first_captured, last_captured)
  SELECT $1, query_id, hash, method, plan, captured_at, captured_at FROM input WHERE status = 'plan'
  ON CONFLICT (pipeline, query_id, hash) DO UPDATE SET
    method = excluded.method, plan = excluded.plan, last_captured = excluded.last_captured
  WHERE excluded.last_captured >= p.last_captured
)
INSERT INTO slowq_explains AS e (pipeline, query_id, status, reason, plan_hash, plan_method, captured_at)
SELECT $1, query_id, status, reason, hash, method, coalesce(captured_at, now()) FROM input
ON CONFLICT (pipeline, query_id) DO UPDATE SET
  status = excluded.status, reason = excluded.reason, plan_hash = excluded.plan_hash,
  plan_method = excluded.plan_method, captured_at = excluded.captured_at
WHERE excluded.captured_at >= e.captured_at`

/** Stores the outcomes attached to a batch's events: one per query id (events of a query share theirs). */
const write = Effect.fn("ExplainEnrichment.write")(function* (
  pipeline: string,
  attached: ReadonlyArray<Attached<ExplainOutcome>>
) {
  const outcomes = new Map<string, ExplainOutcome>()
  for (const { event, value } of attached) outcomes.set(event.fingerprint.queryId, value)
  if (outcomes.size === 0) return
  const rows = [...outcomes.entries()]
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(writePlansSql, [
    // Reasons quote the database's errors and plans its text (binary literals hold NULs): see Storable.
    storableText(pipeline),
    rows.map(([queryId]) => storableText(queryId)),
    rows.map(([, o]) => (o._tag === "Plan" ? "plan" : o._tag === "Skipped" ? "skipped" : "failed")),
    rows.map(([, o]) => (o._tag === "Plan" ? null : storableText(o.reason))),
    rows.map(([, o]) => (o._tag === "Plan" ? storableText(o.hash) : null)),
    rows.map(([, o]) => (o._tag === "Plan" ? o.method : null)),
    rows.map(([, o]) => (o._tag === "Plan" ? (storableJson(o.plan) ?? "null") : null)),
    // A skip is decided when the batch is stored; a plan or a failure when the EXPLAIN ran.
    rows.map(([, o]) => (o._tag === "Plan" ? o.capturedAt.toISOString() : null))
  ])
})

// A row the store gave back that does not decode is a failed read of the store, like the driver's own errors.
const undecodable = (error: ParseResult.ParseError) =>
  new SqlError({ cause: error, message: `unexpected row from slowq_plans/slowq_explains: ${error.message}` })

const Pairs = Schema.Struct({ pipelines: Schema.Array(Schema.String), ids: Schema.Array(Schema.String) })
const pairsOf = (queries: ReadonlyArray<QueryRef>) => ({
  pipelines: queries.map((q) => q.pipeline),
  ids: queries.map((q) => q.id)
})

const listFields = {
  plan_known: Schema.Boolean.annotations({ description: "Whether an EXPLAIN plan of this fingerprint is stored." })
}

/** Whether a plan of each query is stored, in the order given. */
const readList = Effect.fn("ExplainEnrichment.list")(function* (queries: ReadonlyArray<QueryRef>) {
  const sql = yield* SqlClient.SqlClient
  const find = SqlSchema.findAll({
    Request: Pairs,
    Result: Schema.Struct(listFields),
    execute: ({ pipelines, ids }) =>
      sql.unsafe(
        `${SLOWQ_MARKER}
        SELECT EXISTS (SELECT 1 FROM slowq_plans p WHERE p.pipeline = i.pipeline AND p.query_id = i.id) AS plan_known
        FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(pipeline, id, n)
        ORDER BY i.n`,
        [pipelines, ids]
      )
  })
  return yield* find(pairsOf(queries)).pipe(Effect.catchTag("ParseError", (error) => Effect.fail(undecodable(error))))
})

const detailFields = {
  plan_known: Schema.Boolean.annotations({ description: "Whether any plan of this fingerprint is stored." }),
  explain: Schema.Array(ExplainView).annotations({ description: "The latest EXPLAIN outcome, per pipeline." }),
  plans: Schema.Array(PlanView).annotations({
    description: "Every distinct plan seen, per pipeline, oldest first: each after the first is a plan change."
  })
}

const ByQuery = Schema.Struct({ id: Schema.String, pipelines: Schema.Array(Schema.String) })

const minuteOf = (time: string) => `(date_trunc('minute', (${time}) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`

/** A plan as read, its period's figures flat. Dates come from the driver as Date: the views' type side. */
const PlanRow = Schema.Struct({
  pipeline: Schema.String,
  hash: Schema.String,
  method: Schema.String,
  first_captured: Schema.DateFromSelf,
  last_captured: Schema.DateFromSelf,
  plan: Schema.Unknown,
  since: Schema.DateFromSelf,
  until: Schema.DateFromSelf,
  calls: Schema.Number,
  total_ms: Schema.Number,
  mean_ms: Schema.NullOr(Schema.Number),
  p95_ms: Schema.NullOr(Schema.Number)
})

/** The query's latest outcome per pipeline (by pipeline name) and every plan it had (pipelines in the order given). */
const readDetail = Effect.fn("ExplainEnrichment.detail")(function* (id: string, pipelines: ReadonlyArray<string>) {
  const sql = yield* SqlClient.SqlClient
  const latest = SqlSchema.findAll({
    Request: ByQuery,
    // Dates come from the driver as Date: decoded by the views' type side, encoded by the API with the views.
    Result: Schema.typeSchema(ExplainView),
    execute: (request) =>
      sql.unsafe(
        `${SLOWQ_MARKER}
        SELECT pipeline, status, reason, plan_method AS method, plan_hash AS hash, captured_at
        FROM slowq_explains WHERE query_id = $1 AND pipeline = ANY($2::text[])
        ORDER BY pipeline`,
        [request.id, request.pipelines]
      )
  })
  // Each plan's period (PlanView.latency) and the rollups' figures over it, in the same statement: a LATERAL read of
  // the query's own rollup rows (primary key ranges) per plan.
  const history = SqlSchema.findAll({
    Request: ByQuery,
    Result: PlanRow,
    execute: (request) =>
      sql.unsafe(
        `${SLOWQ_MARKER}
        SELECT p.pipeline, p.hash, p.method, p.first_captured, p.last_captured, p.plan, l.since, l.until,
          u.calls, u.total_ms, u.mean_ms, u.p95_ms
        FROM unnest($2::text[]) WITH ORDINALITY AS i(pipeline, n)
        JOIN slowq_plans p ON p.pipeline = i.pipeline AND p.query_id = $1
        CROSS JOIN LATERAL (
          SELECT ${minuteOf("p.first_captured")} AS since,
            coalesce(
              (SELECT ${minuteOf("min(x.first_captured)")} FROM slowq_plans x
               WHERE x.pipeline = p.pipeline AND x.query_id = p.query_id
                 AND (x.first_captured, x.hash) > (p.first_captured, p.hash)),
              ${minuteOf("p.last_captured")} + interval '1 minute'
            ) AS until
        ) l
        CROSS JOIN LATERAL (${periodLatencySql("p.pipeline", "p.query_id", "l.since", "l.until")}) u
        ORDER BY i.n, p.first_captured, p.hash`,
        [request.id, request.pipelines]
      )
  })
  const [explain, rows] = yield* Effect.all([latest({ id, pipelines }), history({ id, pipelines })]).pipe(
    Effect.catchTag("ParseError", (error) => Effect.fail(undecodable(error)))
  )
  const plans = rows.map(({ since, until, calls, total_ms, mean_ms, p95_ms, ...plan }) => ({
    ...plan,
    latency: { since, until, calls, total_ms, mean_ms, p95_ms }
  }))
  return { plan_known: plans.length > 0, explain, plans } satisfies Fields
})

const ReportRow = Schema.Struct({
  status: Schema.NullOr(Schema.Literal("plan", "skipped", "failed")),
  reason: Schema.NullOr(Schema.String),
  method: Schema.NullOr(Schema.String),
  hash: Schema.NullOr(Schema.String),
  captured_at: Schema.NullOr(Schema.DateFromSelf),
  plan: Schema.Unknown
})

/**
 * The report's view of a query's latest outcome: `plan: {method, captured_at, hash, json}`, or
 * `explain: {skipped: reason}` / `explain: {error: reason}`; nothing when the query was never explained.
 */
export const reportFields = (row: typeof ReportRow.Type): Fields => {
  if (row.status === null) return {}
  if (row.status === "plan") {
    return { plan: { method: row.method, captured_at: row.captured_at?.toISOString(), hash: row.hash, json: row.plan } }
  }
  return { explain: row.status === "skipped" ? { skipped: row.reason } : { error: row.reason } }
}

/** The latest outcome of each query, in the order given. */
const readReport = Effect.fn("ExplainEnrichment.report")(function* (queries: ReadonlyArray<QueryRef>) {
  const sql = yield* SqlClient.SqlClient
  const find = SqlSchema.findAll({
    Request: Pairs,
    Result: ReportRow,
    execute: ({ pipelines, ids }) =>
      sql.unsafe(
        `${SLOWQ_MARKER}
        SELECT e.status, e.reason, e.plan_method AS method, e.plan_hash AS hash, e.captured_at, p.plan
        FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(pipeline, id, n)
        LEFT JOIN slowq_explains e ON e.pipeline = i.pipeline AND e.query_id = i.id
        LEFT JOIN slowq_plans p ON p.pipeline = e.pipeline AND p.query_id = e.query_id AND p.hash = e.plan_hash
        ORDER BY i.n`,
        [pipelines, ids]
      )
  })
  const rows = yield* find(pairsOf(queries)).pipe(Effect.catchTag("ParseError", (error) => Effect.fail(undecodable(error))))
  return rows.map(reportFields)
})

const OutcomeCount = Schema.Struct({ pipeline: Schema.String, status: Schema.String, queries: Schema.Number })

/** The queries of each pipeline by their latest EXPLAIN outcome, read at scrape time. */
const readMetrics = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const counts = yield* SqlSchema.findAll({
    Request: Schema.Void,
    Result: OutcomeCount,
    execute: () =>
      sql.unsafe(
        `${SLOWQ_MARKER} SELECT pipeline, status, count(*)::float8 AS queries FROM slowq_explains
         GROUP BY pipeline, status ORDER BY pipeline, status`
      )
  })(undefined).pipe(Effect.catchTag("ParseError", (error) => Effect.fail(undecodable(error))))
  const family: GaugeFamily = {
    name: "slowq_explain_queries",
    help: "Queries by the outcome of their latest EXPLAIN (plan, skipped, failed), from the store.",
    samples: counts.map((row) => ({
      labels: [
        ["pipeline", row.pipeline],
        ["status", row.status]
      ],
      value: row.queries
    }))
  }
  return [family]
}).pipe(Effect.withSpan("ExplainEnrichment.metrics"))

/**
 * The explain stage's outcomes in slowq's store, API, report and /metrics. (`satisfies`, not a type annotation: the
 * plugin's own tests read its fields with their types.)
 */
export const explainEnrichment = {
  name: "explain",
  migrations: { "0001_plans": createPlans },
  write,
  list: { fields: listFields, read: readList },
  detail: { fields: detailFields, read: readDetail },
  report: readReport,
  metrics: readMetrics
} satisfies Enrichment<ExplainOutcome>
