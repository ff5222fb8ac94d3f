import { Effect, Option } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import type { Finding, QueryFindings } from "../../../src/plugin/Finding.js"
import { decide, makePolicy } from "../../explain/Policy.js"
import { advisePostgres, type PostgresAdvice } from "../advice/PostgresAdvisor.js"
import type { IndexSuggestion } from "../advice/Suggestion.js"
import type { AnalyzeStep } from "../AnalyzeStep.js"
import { evidenceOf, num, planNodes, planRoot, str } from "../rules/PostgresPlan.js"
import type { PostgresConnection } from "./PostgresConnection.js"

export const INDEX_ADVICE = "index_advice"

/** What the PostgreSQL index advice needs of the stage's config. */
export interface PostgresAdviceOptions {
  readonly advice_timeout_ms: number
  readonly max_advice_per_run: number
}

const PERCENT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const COST = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

/** The top plan node's total cost, when the plan is PostgreSQL's. */
const totalCostOf = (plan: unknown): number | undefined => {
  const root = planRoot(plan)
  return root === undefined ? undefined : num(root, "Total Cost")
}

/** Where an index would serve: the plan's first node reading its table, else the table itself. */
const evidenceOfTable = (plan: unknown, suggestion: IndexSuggestion): string => {
  const entry = planNodes(plan).find(
    ({ node }) =>
      str(node, "Relation Name") === suggestion.table &&
      (str(node, "Schema") === undefined || str(node, "Schema") === suggestion.schema)
  )
  return entry === undefined ? `table ${suggestion.schema}.${suggestion.table}` : evidenceOf(entry)
}

/**
 * An accepted suggestion as a finding of the query it serves. Verified: the planner's own costs and plans with and
 * without the hypothetical index, and the share of the cost it removes as the finding's reduction. Unverified (no
 * HypoPG): a candidate only, so `info` with a small reduction.
 */
export const adviceFinding = (suggestion: IndexSuggestion, queryId: string, plan: unknown): Finding => {
  const subject = `${suggestion.table}(${suggestion.columns.join(", ")})`
  const served = suggestion.statements.find((statement) => statement.id === queryId) ?? suggestion.statements[0]
  const before = served?.cost_before ?? null
  const after = served?.cost_after ?? null
  const base = {
    rule: "pg_index_suggestion",
    source: INDEX_ADVICE,
    subject,
    evidence: evidenceOfTable(served?.plan_before ?? plan, suggestion),
    advice: `Review and run the DDL (CONCURRENTLY does not block writes, but takes longer): ${suggestion.ddl}`,
    suggestion: { kind: "create_index", ddl: suggestion.ddl }
  } as const
  if (suggestion.verified && before !== null && after !== null && before > 0) {
    const reduction = Math.min(1, Math.max(0, 1 - after / before))
    return {
      ...base,
      severity: "warn",
      message: `An index on ${subject} takes the planner's cost from ${COST.format(before)} to ${COST.format(after)} (−${PERCENT.format(reduction * 100)}%), checked with a hypothetical index`,
      verified: { cost_before: before, cost_after: after },
      plans: { before: served?.plan_before ?? plan, after: served?.plan_after ?? null },
      reduction
    }
  }
  return {
    ...base,
    severity: "info",
    message: `An index on ${subject} may serve this query; not verified (HypoPG is not installed in its database)`,
    verified: null,
    reduction: 0.05
  }
}

/**
 * Index advice on PostgreSQL (scope `index_advice`): each query with a new plan of cost 100 or more, the most time
 * in the batch first, within a budget per run and a time per query, proven with HypoPG on the source's database
 * when it has it. A query whose plan costs less is advised nothing, which resolves its earlier advice; one the
 * advice could not finish (refused, timed out, connection lost) or did not reach keeps it.
 */
export const postgresAdviceStep = (options: PostgresAdviceOptions, connection: PostgresConnection): AnalyzeStep => {
  // The explain stage's policy decides again which text may be EXPLAINed: the advisor EXPLAINs it too.
  const policy = makePolicy({ dialect: "postgres", extraForbidden: [], backslashEscapes: false, ansiQuotes: false })
  let budget = options.max_advice_per_run
  let hypoPgNoticeShown = false

  /**
   * Advice for one query on a connection reserved for it (hypothetical indexes and prepared statements live in the
   * backend; the advisor cleans them up before the connection goes back). None when it did not run to the end.
   */
  const adviseQuery = (sample: CollectedEvent, plan: unknown): Effect.Effect<Option.Option<ReadonlyArray<Finding>>> => {
    if (sample.event.db !== null && sample.event.db !== connection.database) return Effect.succeed(Option.none())
    const verdict = decide(policy, sample.event.sqlText, sample.fingerprint)
    if (verdict._tag !== "Explain") return Effect.succeed(Option.none())
    const queryId = sample.fingerprint.queryId
    return Effect.scoped(
      Effect.flatMap(connection.sql.reserve, (reserved) =>
        advisePostgres(reserved, { id: queryId, sql: sample.event.sqlText }, verdict.statement, {
          statementTimeoutMs: options.advice_timeout_ms,
          lockTimeoutMs: Math.min(1000, options.advice_timeout_ms)
        })
      )
    ).pipe(
      Effect.timeoutFail({
        duration: options.advice_timeout_ms,
        onTimeout: () => new Error(`not done within advice_timeout_ms (${options.advice_timeout_ms} ms)`)
      }),
      Effect.flatMap((advice: PostgresAdvice) => {
        if (advice._tag === "NoCandidates") return Effect.succeed(Option.some<ReadonlyArray<Finding>>([]))
        if (advice._tag === "Failed") {
          return Effect.logInfo(`analyze: no index advice for query ${queryId}: ${advice.reason}`).pipe(Effect.as(Option.none()))
        }
        const found = Option.some(advice.suggestions.map((s) => adviceFinding(s, queryId, plan)))
        if (advice._tag === "Verified" || hypoPgNoticeShown) return Effect.succeed(found)
        hypoPgNoticeShown = true
        return Effect.logWarning(`analyze: ${advice.message}`).pipe(Effect.as(found))
      }),
      Effect.catchAll((error) =>
        Effect.logWarning(`analyze: index advice for query ${queryId} failed: ${error.message}`).pipe(Effect.as(Option.none()))
      )
    )
  }

  return {
    name: "PostgreSQL index advice",
    run: Effect.fn("AnalyzeStage.postgresAdvice")(function* (batch) {
      const findings: Array<QueryFindings> = []
      // The most time in the batch first, so that the budget goes where it pays most.
      const byTime = [...batch.plans.keys()].sort(
        (a, b) => (batch.totals.get(b)?.totalMs ?? 0) - (batch.totals.get(a)?.totalMs ?? 0)
      )
      for (const queryId of byTime) {
        const plan = batch.plans.get(queryId)?.plan
        const sample = batch.slowest.get(queryId)
        const cost = totalCostOf(plan)
        if (sample === undefined || cost === undefined) continue
        // A plan this cheap has nothing to gain (dexter's bar, the verifier's own): the advice has run, and found nothing.
        if (cost < 100) {
          findings.push({ queryId, scope: INDEX_ADVICE, findings: [] })
          continue
        }
        if (budget <= 0) continue
        budget--
        const advice = yield* adviseQuery(sample, plan)
        if (Option.isSome(advice)) findings.push({ queryId, scope: INDEX_ADVICE, findings: advice.value })
      }
      return { findings, remember: [] }
    })
  }
}
