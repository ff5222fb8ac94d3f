import { Reactivity } from "@effect/experimental"
import type { SqlClient } from "@effect/sql"
import { Clock, Effect, Layer, Option, Redacted, type Scope } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { attachedTo } from "../../src/plugin/Enrichment.js"
import type { Finding, QueryFindings, Severity } from "../../src/plugin/Finding.js"
import { PipelineStage } from "../../src/plugin/PipelineStage.js"
import type { StageContext } from "../../src/plugin/Plugin.js"
import { makeTaggedPgClient } from "../../src/plugin/TaggedPgClient.js"
import { explainEnrichment } from "../explain/PlanStore.js"
import { decide, makePolicy } from "../explain/Policy.js"
import { advisePostgres, type PostgresAdvice } from "./advice/PostgresAdvisor.js"
import type { IndexSuggestion } from "./advice/Suggestion.js"
import type { Config } from "./config.js"
import { mysqlPlanRules } from "./rules/MysqlPlanRules.js"
import { evidenceOf, num, planNodes, planRoot, str, tablesOfPlan } from "./rules/PostgresPlan.js"
import { postgresPlanRules } from "./rules/PostgresPlanRules.js"
import type { RuleDialect, TableStats } from "./rules/Rule.js"
import { type RuleOverrides, runRules } from "./rules/RunRules.js"
import { statementRules } from "./rules/StatementRules.js"
import { readTableStats } from "./rules/TableStats.js"

/**
 * The analyze stage: per batch, each query's slowest sample is checked by the statement rules, and each query that
 * the explain stage (before it in the pipeline) gave a plan in this batch is checked by the plan rules of its dialect.
 * Findings go back to the runtime by scope (`statement`, `plan`), which stores them with the batch and resolves the
 * earlier ones of the same scope the rules no longer find. A query without a new plan keeps its plan findings.
 * On PostgreSQL, a query with a new plan of cost 100 or more also gets index advice (scope `index_advice`, within a
 * budget per query and per run, slowest first), proven with HypoPG on the source's database when it has it.
 */

/**
 * The share of a query's time a rule's finding is expected to remove, by severity, until the rules estimate their
 * own: it ranks findings by impact (the query's time times this share). Index advice carries its verified ratio.
 */
const expectedReduction: Record<Severity, number> = { crit: 0.5, warn: 0.2, info: 0.05 }

const withReduction = (findings: ReadonlyArray<Finding>): ReadonlyArray<Finding> =>
  findings.map((finding) => ({ ...finding, reduction: finding.reduction ?? expectedReduction[finding.severity] }))

const perCallMs = (collected: CollectedEvent) => collected.event.queryTimeMs / Math.max(1, collected.event.calls)

/** The database a PostgreSQL URL names (its path, else the user's own database). */
const databaseOf = (url: URL): string =>
  url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : decodeURIComponent(url.username)

/**
 * On PostgreSQL, connections to the source's database for pg_stat_user_tables and index advice (the stale-statistics rule and the
 * table sizes the sequential-scan rule needs without actuals). None for MySQL, for a source without a connection, or
 * when it cannot connect: the plan rules then run without statistics, and the pipeline goes on.
 */
const statsClient = (
  context: StageContext<RuleDialect>,
  maxConnections: number
): Effect.Effect<Option.Option<{ readonly sql: SqlClient.SqlClient; readonly database: string }>, never, Scope.Scope> => {
  if (context.source.dialect !== "postgres" || Option.isNone(context.source.connection)) return Effect.succeed(Option.none())
  const { url, password } = context.source.connection.value
  const base = new URL(Redacted.value(url))
  if (Option.isSome(password)) base.password = encodeURIComponent(Redacted.value(password.value))
  return makeTaggedPgClient({
    url: Redacted.make(base.toString()),
    maxConnections,
    idleTimeout: "5 seconds",
    connectTimeout: "5 seconds",
    applicationName: "slowq-analyze"
  }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.map((sql) => Option.some({ sql, database: databaseOf(base) })),
    Effect.catchAll((error) =>
      Effect.logWarning(
        `analyze: no table statistics this run (cannot connect to PostgreSQL at ${base.hostname}): ${error.message}`
      ).pipe(Effect.as(Option.none()))
    )
  )
}

/** The top plan node's total cost, when the plan is PostgreSQL's. */
const totalCostOf = (plan: unknown): number | undefined => {
  const root = planRoot(plan)
  return root === undefined ? undefined : num(root, "Total Cost")
}

const INDEX_ADVICE = "index_advice"
const PERCENT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const COST = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

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
 * An accepted suggestion as a finding of the query it serves. Verified: the planner's own costs with and without
 * the hypothetical index, and the share of the cost it removes as the finding's reduction. Unverified (no HypoPG):
 * a candidate only, so `info` and the severity's default share.
 */
const adviceFinding = (suggestion: IndexSuggestion, queryId: string, plan: unknown): Finding => {
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
      reduction
    }
  }
  return {
    ...base,
    severity: "info",
    message: `An index on ${subject} may serve this query; not verified (HypoPG is not installed in its database)`,
    verified: null
  }
}

export const make = (config: Config, context: StageContext<RuleDialect>) =>
  Effect.gen(function* () {
    const dialect = context.source.dialect
    // A second connection for index advice: the advisor pins one, and an interrupted statement of it is cancelled
    // from another.
    const stats = yield* statsClient(context, config.advice ? 2 : 1)
    /** The statistics of the plan's tables, when the plan is of the connected database; none on any failure. */
    const tableStatsOf = (plan: unknown, db: string | null) =>
      Option.match(stats, {
        onNone: () => Effect.succeed(undefined),
        onSome: ({ sql, database }) =>
          db !== null && db !== database
            ? Effect.succeed(undefined)
            : readTableStats(sql, tablesOfPlan(plan)).pipe(
                Effect.timeout("2 seconds"),
                Effect.map((found): ReadonlyMap<string, TableStats> | undefined => found),
                Effect.catchAll((error) =>
                  Effect.logDebug(`analyze: table statistics not read: ${error.message}`).pipe(Effect.as(undefined))
                )
              )
      })
    const overrides: RuleOverrides = { disabled: new Set(config.disabled_rules), thresholds: config.thresholds }
    // The explain stage's policy decides again which text may be EXPLAINed: the advisor EXPLAINs it too.
    const policy = makePolicy({ dialect: "postgres", extraForbidden: [], backslashEscapes: false, ansiQuotes: false })
    let adviceBudget = config.max_advice_per_run
    let hypoPgNoticeShown = false

    /**
     * Index advice for one query on a connection reserved for it (hypothetical indexes and prepared statements live
     * in the backend; the advisor cleans them up before the connection goes back). None when the advice did not run
     * to the end (refused, timed out, the connection failed): the query's earlier advice then stays open.
     */
    const adviseQuery = (sample: CollectedEvent, plan: unknown): Effect.Effect<Option.Option<ReadonlyArray<Finding>>> =>
      Option.match(stats, {
        onNone: () => Effect.succeed(Option.none()),
        onSome: ({ sql, database }) => {
          if (sample.event.db !== null && sample.event.db !== database) return Effect.succeed(Option.none())
          const verdict = decide(policy, sample.event.sqlText, sample.fingerprint)
          if (verdict._tag !== "Explain") return Effect.succeed(Option.none())
          const queryId = sample.fingerprint.queryId
          return Effect.scoped(
            Effect.flatMap(sql.reserve, (connection) =>
              advisePostgres(connection, { id: queryId, sql: sample.event.sqlText }, verdict.statement, {
                statementTimeoutMs: config.advice_timeout_ms,
                lockTimeoutMs: Math.min(1000, config.advice_timeout_ms)
              })
            )
          ).pipe(
            Effect.timeoutFail({
              duration: config.advice_timeout_ms,
              onTimeout: () => new Error(`not done within advice_timeout_ms (${config.advice_timeout_ms} ms)`)
            }),
            Effect.flatMap((advice: PostgresAdvice) => {
              if (advice._tag === "NoCandidates") return Effect.succeed(Option.some<ReadonlyArray<Finding>>([]))
              if (advice._tag === "Failed") {
                return Effect.logInfo(`analyze: no index advice for query ${queryId}: ${advice.reason}`).pipe(
                  Effect.as(Option.none())
                )
              }
              const found = Option.some(advice.suggestions.map((s) => adviceFinding(s, queryId, plan)))
              if (advice._tag === "Verified" || hypoPgNoticeShown) return Effect.succeed(found)
              hypoPgNoticeShown = true
              return Effect.logWarning(`analyze: ${advice.message}`).pipe(Effect.as(found))
            }),
            Effect.catchAll((error) =>
              Effect.logWarning(`analyze: index advice for query ${queryId} failed: ${error.message}`).pipe(
                Effect.as(Option.none())
              )
            )
          )
        }
      })
    const planRules = dialect === "mysql" ? mysqlPlanRules : postgresPlanRules

    const process = Effect.fn("AnalyzeStage.process")(function* (events: ReadonlyArray<CollectedEvent>) {
      // The slowest sample of each query, and the plan the explain stage attached in this batch, if any.
      const slowest = new Map<string, CollectedEvent>()
      const plans = new Map<string, unknown>()
      for (const collected of events) {
        const id = collected.fingerprint.queryId
        const known = slowest.get(id)
        if (known === undefined || perCallMs(collected) > perCallMs(known)) slowest.set(id, collected)
        const outcome = attachedTo(collected, explainEnrichment)
        if (outcome?._tag === "Plan") plans.set(id, outcome.plan)
      }
      const now = yield* Clock.currentTimeMillis
      const findings: Array<QueryFindings> = []
      if (dialect === "postgres" && config.advice) {
        // Slowest first (time in the batch), so that the budget goes where it pays most.
        const timeInBatch = new Map<string, number>()
        for (const collected of events) {
          const id = collected.fingerprint.queryId
          timeInBatch.set(id, (timeInBatch.get(id) ?? 0) + collected.event.queryTimeMs)
        }
        const candidates = [...plans.keys()].sort((a, b) => (timeInBatch.get(b) ?? 0) - (timeInBatch.get(a) ?? 0))
        for (const queryId of candidates) {
          const plan = plans.get(queryId)
          const sample = slowest.get(queryId)
          const cost = totalCostOf(plan)
          if (sample === undefined || cost === undefined) continue
          // A plan this cheap has nothing to gain (dexter's bar, the verifier's own): the advice has run, and found nothing.
          if (cost < 100) {
            findings.push({ queryId, scope: INDEX_ADVICE, findings: [] })
            continue
          }
          if (adviceBudget <= 0) continue
          adviceBudget--
          const advice = yield* adviseQuery(sample, plan)
          if (Option.isSome(advice)) findings.push({ queryId, scope: INDEX_ADVICE, findings: withReduction(advice.value) })
        }
      }
      for (const [queryId, sample] of slowest) {
        const statement = runRules(statementRules, { dialect, sql: sample.event.sqlText }, overrides)
        findings.push({ queryId, scope: "statement", findings: withReduction(statement) })
        if (plans.has(queryId)) {
          const plan = plans.get(queryId)
          const tableStats = yield* tableStatsOf(plan, sample.event.db)
          const found = runRules(planRules, { dialect, plan, now, ...(tableStats === undefined ? {} : { tableStats }) }, overrides)
          findings.push({ queryId, scope: "plan", findings: withReduction(found) })
        }
      }
      yield* Effect.logDebug("analyze stage processed a batch").pipe(
        Effect.annotateLogs({
          queries: slowest.size,
          plans: plans.size,
          findings: findings.reduce((sum, query) => sum + query.findings.length, 0)
        })
      )
      return { events, remember: [], findings }
    })
    return PipelineStage.of({ process })
  })

/** The stage as a layer of the port; its statistics connection lives and dies with the layer (one run). */
export const layer = (config: Config, context: StageContext<RuleDialect>): Layer.Layer<PipelineStage> =>
  Layer.scoped(PipelineStage, make(config, context))
