import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Chunk, Data, Effect, Either, Predicate, Random, Schema, Stream } from "effect"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"
import { castTypedParameters, type Explainable } from "../../explain/Policy.js"
import { postgresReason } from "../../explain/PostgresExplainer.js"
import { hypotheticalDdl, type IndexCandidate } from "./IndexCandidates.js"
import { type IndexSuggestion, type StatementRef, suggestionOf, unverifiedSuggestion } from "./Suggestion.js"

/**
 * Proves index candidates on the real planner with HypoPG's hypothetical indexes, on ONE connection the caller has
 * pinned (a reserved connection: hypothetical indexes live in the backend, not in a transaction).
 *
 * Everything happens inside BEGIN READ ONLY with statement_timeout, lock_timeout and
 * idle_in_transaction_session_timeout set for the transaction: the statement's plan without any hypothetical index,
 * then per candidate `hypopg_create_index`, EXPLAIN, `hypopg_reset()`. The release (also on failure and
 * interruption) rolls back, then calls `hypopg_reset()` and deallocates this run's prepared statements on the same
 * connection, because neither a hypothetical index nor a prepared statement goes away with ROLLBACK (LAB.md).
 *
 * Acceptance is dexter's: a single-column index when it cuts the statement's total cost by at least half from a
 * cost of at least 100; a two-column one (the first pair of the three-star order) only when it also halves the best
 * single column's cost on its table, and it then replaces that single column. Every candidate is measured alone, so
 * each accepted index's figures are its own even when a statement gains from indexes on several tables; a candidate
 * counts only when the plan actually uses it.
 *
 * Texts with `$n` (pg_stat_statements) take the explain stage's generic-plan ladder: PREPARE (repairing a parameter
 * of unknown type as `text`, and `interval $1` as `$1::interval`), plan_cache_mode = force_generic_plan, EXPLAIN
 * EXECUTE with NULLs. Each measurement PREPAREs afresh: a cached generic plan does not see a hypothetical index
 * created after it. Collected text only travels over the extended protocol (one statement per Parse).
 */

export interface VerifyOptions {
  readonly statementTimeoutMs: number
  readonly lockTimeoutMs: number
  /** standard_conforming_strings off: a backslash escapes inside '…' (for the interval repair's lexing). */
  readonly backslashEscapes?: boolean
  /** Dexter's bars, as numbers so a pipeline may change them. */
  readonly minCost?: number
  readonly minReduction?: number
}

export interface Measured {
  readonly candidate: IndexCandidate
  /** Total cost with this hypothetical index alone. */
  readonly cost: number
  /** Whether the plan uses it. */
  readonly used: boolean
  readonly accepted: boolean
}

export type Verification =
  | {
      readonly _tag: "Verified"
      readonly costBefore: number
      readonly planBefore: unknown
      readonly measured: ReadonlyArray<Measured>
      /** The accepted indexes only, verified. */
      readonly suggestions: ReadonlyArray<IndexSuggestion>
    }
  | {
      readonly _tag: "HypoPgMissing"
      /** Says what enables verification; show it once (see `hypoPgNotices`). */
      readonly message: string
      /** Every candidate, unverified. */
      readonly suggestions: ReadonlyArray<IndexSuggestion>
    }
  | { readonly _tag: "Failed"; readonly reason: string }

export const hypoPgMissingMessage = (database: string, majorVersion: number): string =>
  `HypoPG is not installed in database ${database}, so index suggestions are not verified: install the package ` +
  `postgresql-${majorVersion}-hypopg (Debian/Ubuntu; or build HypoPG for this server) and run CREATE EXTENSION hypopg; ` +
  `in that database as a privileged user`

/** Each distinct HypoPG notice once, in the order first seen. */
export const hypoPgNotices = (verifications: ReadonlyArray<Verification>): ReadonlyArray<string> => [
  ...new Set(verifications.flatMap((v) => (v._tag === "HypoPgMissing" ? [v.message] : [])))
]

const ServerRow = Schema.Tuple(
  Schema.Struct({ database: Schema.String, major: Schema.Number, hypopg: Schema.NullOr(Schema.String) })
)
const decodeServer = Schema.decodeUnknown(ServerRow)
const HypoRow = Schema.Tuple(Schema.Struct({ indexname: Schema.String }))
const decodeHypo = Schema.decodeUnknown(HypoRow)
const PlanRows = Schema.Tuple(Schema.Struct({ "QUERY PLAN": Schema.Unknown }))
const decodePlanRows = Schema.decodeUnknownEither(PlanRows)
const CountRows = Schema.Tuple(Schema.Struct({ n: Schema.Number }))
const decodeCountRows = Schema.decodeUnknownEither(CountRows)
const NameRows = Schema.Array(Schema.Struct({ name: Schema.String }))
const decodeNameRows = Schema.decodeUnknown(NameRows)

/** A statement the server refused (class 08/57P0x: the connection is gone, which is an error, not a result). */
const serverFailure = (error: SqlError): { readonly code: string; readonly message: string } | undefined => {
  const cause = error.cause
  if (!Predicate.hasProperty(cause, "code") || !Predicate.isString(cause.code)) return undefined
  if (!/^[0-9A-Z]{5}$/.test(cause.code) || cause.code.startsWith("08") || cause.code.startsWith("57P0")) return undefined
  return { code: cause.code, message: cause instanceof Error ? cause.message : error.message }
}

/** The server refused a statement: the verification ends with this reason (the transaction is aborted by then). */
class Refused extends Data.TaggedError("Refused")<{ readonly reason: string }> {}

const unexpected = (cause: unknown) => new SqlError({ cause, message: "unexpected answer from PostgreSQL" })

const totalCost = (plan: unknown): number | undefined => {
  const top = Array.isArray(plan) ? plan[0] : undefined
  const node = Predicate.hasProperty(top, "Plan") ? top.Plan : undefined
  const cost = Predicate.hasProperty(node, "Total Cost") ? node["Total Cost"] : undefined
  return typeof cost === "number" ? cost : undefined
}

/** Whether any plan node scans the index named `name`. */
export const planUsesIndex = (plan: unknown, name: string): boolean => {
  if (Array.isArray(plan)) return plan.some((p) => planUsesIndex(p, name))
  if (typeof plan !== "object" || plan === null) return false
  for (const [key, value] of Object.entries(plan)) {
    if (key === "Index Name" && value === name) return true
    if ((key === "Plan" || key === "Plans") && planUsesIndex(value, name)) return true
  }
  return false
}

export const verifyCandidates = Effect.fn("HypoPgVerifier.verify")(function* (
  connection: Connection,
  statement: StatementRef,
  explainable: Explainable,
  candidates: ReadonlyArray<IndexCandidate>,
  options: VerifyOptions
) {
  const minCost = options.minCost ?? 100
  const keep = 1 - (options.minReduction ?? 0.5)
  const run = (text: string, params: ReadonlyArray<unknown> = []) => connection.execute(text, params, undefined)
  const runExtended = (text: string) =>
    connection.executeStream(text, [], undefined).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

  const [server] = yield* run(
    `${SLOWQ_MARKER} SELECT current_database()::text AS database, current_setting('server_version_num')::int / 10000 AS major, ` +
      "(SELECT extversion::text FROM pg_extension WHERE extname = 'hypopg') AS hypopg"
  ).pipe(Effect.flatMap((rows) => Effect.mapError(decodeServer(rows), unexpected)))
  if (server.hypopg === null) {
    return {
      _tag: "HypoPgMissing",
      message: hypoPgMissingMessage(server.database, server.major),
      suggestions: candidates.map((c) => unverifiedSuggestion(c, statement))
    } satisfies Verification
  }

  const prefix = `slowq_hypo_${yield* Random.nextIntBetween(0, 1_000_000_000)}_`
  const cleanup = Effect.gen(function* () {
    yield* run(`${SLOWQ_MARKER} ROLLBACK`)
    yield* run(`${SLOWQ_MARKER} SELECT hypopg_reset()`)
    const names = yield* run(`${SLOWQ_MARKER} SELECT name FROM pg_prepared_statements WHERE starts_with(name, $1)`, [
      prefix
    ]).pipe(Effect.flatMap((rows) => Effect.mapError(decodeNameRows(rows), unexpected)))
    // The names are our own, made of letters, digits and `_`.
    for (const { name } of names) yield* run(`${SLOWQ_MARKER} DEALLOCATE ${name}`)
  }).pipe(
    Effect.catchAllCause((cause) =>
      Effect.logWarning("index advice: cleaning up the HypoPG connection failed; the connection may be unusable", cause)
    )
  )

  const idleMs = options.statementTimeoutMs + options.lockTimeoutMs + 1000
  let counter = 0
  let prepared: { readonly text: string; readonly types: ReadonlyArray<string> } | undefined

  /** A statement failure becomes a `Refused`; a lost connection stays an error. */
  const refusing = <A>(effect: Effect.Effect<A, SqlError>) =>
    effect.pipe(
      Effect.catchAll((error): Effect.Effect<never, SqlError | Refused> => {
        const failure = serverFailure(error)
        return failure === undefined ? Effect.fail(error) : Effect.fail(new Refused({ reason: postgresReason(failure) }))
      })
    )

  const decodePlan = (rows: ReadonlyArray<unknown>): Effect.Effect<{ readonly plan: unknown; readonly cost: number }, Refused> => {
    const decoded = decodePlanRows(rows)
    if (Either.isLeft(decoded)) return Effect.fail(new Refused({ reason: "error: unexpected EXPLAIN output" }))
    const raw = decoded.right[0]["QUERY PLAN"]
    const plan: unknown = typeof raw === "string" ? JSON.parse(raw) : raw
    const cost = totalCost(plan)
    return cost === undefined ? Effect.fail(new Refused({ reason: "error: no total cost in the plan" })) : Effect.succeed({ plan, cost })
  }

  /** PREPARE with the ladder's repairs, inside a savepoint so that a refused attempt does not abort the transaction. */
  const prepare = (name: string) =>
    Effect.gen(function* () {
      if (prepared !== undefined) {
        const typeList = prepared.types.length === 0 ? "" : `(${prepared.types.join(", ")})`
        yield* refusing(runExtended(`${SLOWQ_MARKER} PREPARE ${name}${typeList} AS\n${prepared.text}`))
        return
      }
      let text = explainable.text
      let types: ReadonlyArray<string> = []
      let cast = false
      for (let attempt = 0; attempt < 8; attempt++) {
        const typeList = types.length === 0 ? "" : `(${types.join(", ")})`
        yield* run(`${SLOWQ_MARKER} SAVEPOINT slowq_prepare`)
        const result = yield* Effect.either(runExtended(`${SLOWQ_MARKER} PREPARE ${name}${typeList} AS\n${text}`))
        if (Either.isRight(result)) {
          yield* run(`${SLOWQ_MARKER} RELEASE SAVEPOINT slowq_prepare`)
          prepared = { text, types }
          return
        }
        const failure = serverFailure(result.left)
        if (failure === undefined) return yield* Effect.fail(result.left)
        yield* run(`${SLOWQ_MARKER} ROLLBACK TO SAVEPOINT slowq_prepare`)
        if (failure.code === "42P18") {
          const match = /parameter \$(\d+)/.exec(failure.message)
          const position = match === null ? 0 : Number(match[1])
          if (position >= 1 && position <= 65_535 && types[position - 1] !== "text") {
            const next = Array.from({ length: Math.max(types.length, position) }, (_, i) => types[i] ?? "unknown")
            next[position - 1] = "text"
            types = next
            continue
          }
        }
        if (failure.code === "42601" && !cast) {
          const repaired = castTypedParameters(text, options.backslashEscapes ?? false)
          if (repaired !== undefined) {
            text = repaired
            cast = true
            continue
          }
        }
        return yield* Effect.fail(new Refused({ reason: postgresReason(failure) }))
      }
      return yield* Effect.fail(new Refused({ reason: "error: parameter types could not be repaired" }))
    })

  const explain = Effect.gen(function* () {
    if (explainable.method !== "prepared_generic") {
      return yield* decodePlan(yield* refusing(runExtended(`${SLOWQ_MARKER} EXPLAIN (FORMAT JSON)\n${explainable.text}`)))
    }
    counter += 1
    const name = `${prefix}${counter}`
    yield* prepare(name)
    const counted = decodeCountRows(
      yield* run(`${SLOWQ_MARKER} SELECT cardinality(parameter_types)::int AS n FROM pg_prepared_statements WHERE name = $1`, [
        name
      ])
    )
    const count = Either.isRight(counted) ? counted.right[0].n : 0
    const values = count === 0 ? "" : `(${Array.from({ length: count }, () => "NULL").join(", ")})`
    const rows = yield* refusing(run(`${SLOWQ_MARKER} EXPLAIN (FORMAT JSON) EXECUTE ${name}${values}`))
    yield* run(`${SLOWQ_MARKER} DEALLOCATE ${name}`)
    return yield* decodePlan(rows)
  })

  const withHypothetical = (candidate: IndexCandidate) =>
    Effect.gen(function* () {
      const [created] = yield* refusing(
        run(`${SLOWQ_MARKER} SELECT indexname::text AS indexname FROM hypopg_create_index($1)`, [hypotheticalDdl(candidate)])
      ).pipe(Effect.flatMap((rows) => Effect.mapError(decodeHypo(rows), unexpected)))
      const measured = yield* explain
      yield* run(`${SLOWQ_MARKER} SELECT hypopg_reset()`)
      return { ...measured, used: planUsesIndex(measured.plan, created.indexname) }
    })

  const measure = Effect.gen(function* () {
    yield* run(
      `${SLOWQ_MARKER} SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true), ` +
        "set_config('idle_in_transaction_session_timeout', $3, true), set_config('plan_cache_mode', 'force_generic_plan', true)",
      [`${options.statementTimeoutMs}ms`, `${options.lockTimeoutMs}ms`, `${idleMs}ms`]
    )
    // A connection handed over with hypothetical indexes (by a caller that did not reset) would skew "before".
    yield* run(`${SLOWQ_MARKER} SELECT hypopg_reset()`)
    const before = yield* explain
    if (before.cost < minCost) {
      return { _tag: "Verified", costBefore: before.cost, planBefore: before.plan, measured: [], suggestions: [] } as const
    }
    const results: Array<{ candidate: IndexCandidate; cost: number; used: boolean; plan: unknown }> = []
    for (const candidate of candidates.filter((c) => c.columns.length === 1)) {
      results.push({ candidate, ...(yield* withHypothetical(candidate)) })
    }
    const tableOf = (c: IndexCandidate) => `${c.schema}.${c.table}`
    const accepted = new Map<string, (typeof results)[number]>()
    for (const r of results) {
      if (!r.used || r.cost > before.cost * keep) continue
      const best = accepted.get(tableOf(r.candidate))
      if (best === undefined || r.cost < best.cost) accepted.set(tableOf(r.candidate), r)
    }
    for (const candidate of candidates.filter((c) => c.columns.length === 2)) {
      const r = { candidate, ...(yield* withHypothetical(candidate)) }
      results.push(r)
      const singles = results.filter((s) => s.candidate.columns.length === 1 && tableOf(s.candidate) === tableOf(candidate))
      const bestSingle = Math.min(before.cost, ...singles.filter((s) => s.used).map((s) => s.cost))
      if (r.used && r.cost <= bestSingle * keep && r.cost <= before.cost * keep) accepted.set(tableOf(candidate), r)
    }
    const chosen = new Set([...accepted.values()])
    return {
      _tag: "Verified",
      costBefore: before.cost,
      planBefore: before.plan,
      measured: results.map((r) => ({ candidate: r.candidate, cost: r.cost, used: r.used, accepted: chosen.has(r) })),
      suggestions: [...chosen].map((r) =>
        suggestionOf(r.candidate, {
          id: statement.id,
          sql: statement.sql,
          verified: true,
          cost_before: before.cost,
          cost_after: r.cost,
          plan_before: before.plan,
          plan_after: r.plan
        })
      )
    } as const
  })

  return yield* Effect.acquireUseRelease(
    run(`${SLOWQ_MARKER} BEGIN READ ONLY`),
    () => measure,
    () => cleanup
  ).pipe(
    Effect.map((verified): Verification => verified),
    Effect.catchTag("Refused", (refused) => Effect.succeed<Verification>({ _tag: "Failed", reason: refused.reason }))
  )
})
