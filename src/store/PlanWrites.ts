import type { PgClient } from "@effect/sql-pg"
import { Effect, Schema } from "effect"
import type { CollectedEvent, ExplainOutcome } from "../domain/CollectedEvent.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { storableJson, storableText } from "./Storable.js"
import { StoreError } from "./StoreError.js"

// What the explain stage learned, in the store: each distinct plan of a query (slowq_plans) and the latest
// outcome per query (slowq_explains), both from migration 0004.

/** The latest explain outcome of one query of one pipeline; `plan` is set for status "plan" only. */
export const LatestExplain = Schema.Struct({
  pipeline: Schema.String,
  query_id: Schema.String,
  status: Schema.Literal("plan", "skipped", "failed"),
  reason: Schema.NullOr(Schema.String),
  method: Schema.NullOr(Schema.String),
  hash: Schema.NullOr(Schema.String),
  captured_at: Schema.DateFromSelf,
  plan: Schema.Unknown
})
export interface LatestExplain extends Schema.Schema.Type<typeof LatestExplain> {}
const decodeLatest = Schema.decodeUnknown(Schema.Array(LatestExplain))

/** One distinct plan a query has had. */
export const StoredPlan = Schema.Struct({
  hash: Schema.String,
  method: Schema.String,
  first_captured: Schema.DateFromSelf,
  last_captured: Schema.DateFromSelf,
  plan: Schema.Unknown
})
export interface StoredPlan extends Schema.Schema.Type<typeof StoredPlan> {}
const decodePlans = Schema.decodeUnknown(Schema.Array(StoredPlan))

/**
 * The report's view of a query's latest outcome: `plan: {method, captured_at, hash, json}`, or
 * `explain: {skipped: reason}` / `explain: {error: reason}`; nothing when the query was never explained.
 */
export const reportFields = (latest: LatestExplain | undefined) => {
  if (latest === undefined) return {}
  if (latest.status === "plan") {
    return {
      plan: { method: latest.method, captured_at: latest.captured_at.toISOString(), hash: latest.hash, json: latest.plan }
    }
  }
  return { explain: latest.status === "skipped" ? { skipped: latest.reason } : { error: latest.reason } }
}

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

export const makePlanWrites = (sql: PgClient.PgClient) => {
  const readError = (cause: { readonly message: string }) =>
    new StoreError({ operation: "read", message: `store read failed: ${cause.message}`, cause })

  /** Stores the explain outcomes carried by `events`: one per query id (events of a query share theirs). */
  const writePlans = Effect.fn("Store.writePlans")(function* (pipeline: string, events: ReadonlyArray<CollectedEvent>) {
    const outcomes = new Map<string, ExplainOutcome>()
    for (const { fingerprint, explain } of events) {
      if (fingerprint !== undefined && explain !== undefined) outcomes.set(fingerprint.queryId, explain)
    }
    if (outcomes.size === 0) return
    const rows = [...outcomes.entries()]
    yield* sql
      .unsafe(writePlansSql, [
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
      .pipe(
        Effect.mapError(
          (cause) => new StoreError({ operation: "write", message: `storing plans failed: ${cause.message}`, cause })
        )
      )
  })

  /** The latest outcome of each of `queryIds` (of one pipeline, or of every pipeline that has it). */
  const latestPlans = Effect.fn("Store.latestPlans")(function* (
    pipeline: string | undefined,
    queryIds: ReadonlyArray<string>
  ) {
    if (queryIds.length === 0) return []
    return yield* sql
      .unsafe(
        `${SLOWQ_MARKER}
        SELECT e.pipeline, e.query_id, e.status, e.reason, e.plan_method AS method, e.plan_hash AS hash, e.captured_at,
          p.plan
        FROM slowq_explains e
        LEFT JOIN slowq_plans p ON p.pipeline = e.pipeline AND p.query_id = e.query_id AND p.hash = e.plan_hash
        WHERE ($1::text IS NULL OR e.pipeline = $1) AND e.query_id = ANY($2::text[])
        ORDER BY e.pipeline, e.query_id`,
        [pipeline ?? null, [...queryIds]]
      )
      .pipe(Effect.flatMap(decodeLatest), Effect.mapError(readError))
  })

  /** Every distinct plan a query has had in a pipeline, oldest first. */
  const planHistory = Effect.fn("Store.planHistory")(function* (pipeline: string, queryId: string) {
    return yield* sql
      .unsafe(
        `${SLOWQ_MARKER}
        SELECT hash, method, first_captured, last_captured, plan FROM slowq_plans
        WHERE pipeline = $1 AND query_id = $2 ORDER BY first_captured, hash`,
        [pipeline, queryId]
      )
      .pipe(Effect.flatMap(decodePlans), Effect.mapError(readError))
  })

  return { writePlans, latestPlans, planHistory } as const
}
