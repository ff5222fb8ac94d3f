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
import type { Config } from "./config.js"
import { mysqlPlanRules } from "./rules/MysqlPlanRules.js"
import { tablesOfPlan } from "./rules/PostgresPlan.js"
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
 * On PostgreSQL, a connection to the source's database for pg_stat_user_tables (the stale-statistics rule and the
 * table sizes the sequential-scan rule needs without actuals). None for MySQL, for a source without a connection, or
 * when it cannot connect: the plan rules then run without statistics, and the pipeline goes on.
 */
const statsClient = (
  context: StageContext<RuleDialect>
): Effect.Effect<Option.Option<{ readonly sql: SqlClient.SqlClient; readonly database: string }>, never, Scope.Scope> => {
  if (context.source.dialect !== "postgres" || Option.isNone(context.source.connection)) return Effect.succeed(Option.none())
  const { url, password } = context.source.connection.value
  const base = new URL(Redacted.value(url))
  if (Option.isSome(password)) base.password = encodeURIComponent(Redacted.value(password.value))
  return makeTaggedPgClient({
    url: Redacted.make(base.toString()),
    maxConnections: 1,
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

export const make = (config: Config, context: StageContext<RuleDialect>) =>
  Effect.gen(function* () {
    const dialect = context.source.dialect
    const stats = yield* statsClient(context)
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
