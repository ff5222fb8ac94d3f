import { Clock, Effect, Layer, Option } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { attachedTo } from "../../src/plugin/Enrichment.js"
import type { Finding, QueryFindings, Severity } from "../../src/plugin/Finding.js"
import { type MemoryEntry, PipelineStage, type StageError } from "../../src/plugin/PipelineStage.js"
import type { StageContext } from "../../src/plugin/Plugin.js"
import { explainEnrichment } from "../explain/PlanStore.js"
import type { AnalyzeStep, BatchPlan, BatchTotals, BatchView } from "./AnalyzeStep.js"
import type { Config } from "./config.js"
import type { RuleDialect } from "./rules/Rule.js"
import type { RuleOverrides } from "./rules/RunRules.js"
import { makeAiStep } from "./steps/AiStep.js"
import { mysqlAdviceStep } from "./steps/MysqlAdviceStep.js"
import { postgresAdviceStep } from "./steps/PostgresAdviceStep.js"
import { postgresConnection } from "./steps/PostgresConnection.js"
import { regressionStep } from "./steps/RegressionStep.js"
import { planRulesStep, statementStep } from "./steps/RuleSteps.js"

/**
 * The analyze stage: per batch, a list of steps over what the batch holds (each query's slowest sample, the plans
 * the explain stage before it attached, the batch's figures per query): the statement rules, the plan rules, index
 * advice, regressions and the AI advisor. Each step hands back findings by query and scope, and memory entries; the
 * runtime stores both with the batch and resolves a scope's earlier findings of a query the step examined again.
 */

/**
 * The share of a query's time a finding is expected to remove when its rule did not estimate it: ranks findings by
 * impact (the query's time times this share).
 */
const expectedReduction: Record<Severity, number> = { crit: 0.5, warn: 0.2, info: 0.05 }

const withReduction = (findings: ReadonlyArray<Finding>): ReadonlyArray<Finding> =>
  findings.map((finding) => ({ ...finding, reduction: finding.reduction ?? expectedReduction[finding.severity] }))

const perCallMs = (collected: CollectedEvent) => collected.event.queryTimeMs / Math.max(1, collected.event.calls)

/** The batch as the steps see it, computed once. */
const viewOf = (dialect: RuleDialect, events: ReadonlyArray<CollectedEvent>, now: number): BatchView => {
  const slowest = new Map<string, CollectedEvent>()
  const plans = new Map<string, BatchPlan>()
  const totals = new Map<string, BatchTotals>()
  for (const collected of events) {
    const id = collected.fingerprint.queryId
    const known = slowest.get(id)
    if (known === undefined || perCallMs(collected) > perCallMs(known)) slowest.set(id, collected)
    const outcome = attachedTo(collected, explainEnrichment)
    if (outcome?._tag === "Plan") {
      plans.set(id, { plan: outcome.plan, hash: outcome.hash, method: outcome.method, capturedAt: outcome.capturedAt })
    }
    const at = Math.floor(collected.event.startTimeUs / 1000)
    const total = totals.get(id)
    totals.set(id, {
      calls: (total?.calls ?? 0) + collected.event.calls,
      totalMs: (total?.totalMs ?? 0) + collected.event.queryTimeMs,
      firstAt: Math.min(total?.firstAt ?? at, at),
      lastAt: Math.max(total?.lastAt ?? at, at)
    })
  }
  return { dialect, events, slowest, plans, totals, now }
}

export const make = (config: Config, context: StageContext<RuleDialect>) =>
  Effect.gen(function* () {
    const dialect = context.source.dialect
    // A second connection for index advice: the advisor pins one, and an interrupted statement of it is cancelled
    // from another.
    const connection = yield* postgresConnection(context, config.advice ? 2 : 1, config.database_url)
    const overrides: RuleOverrides = { disabled: new Set(config.disabled_rules), thresholds: config.thresholds }
    // The AI advisor's provider lives in the stage's scope (one run); none without `ai:`. Last: it reads the others.
    const ai = yield* makeAiStep(config, dialect, context.memory, connection)
    const steps: ReadonlyArray<AnalyzeStep> = [
      statementStep(overrides),
      planRulesStep(dialect, overrides, connection),
      ...(dialect === "postgres" && config.advice && Option.isSome(connection)
        ? [postgresAdviceStep(config, connection.value)]
        : []),
      ...(dialect === "mysql" && config.advice ? [yield* mysqlAdviceStep(config, context)] : []),
      regressionStep(context.memory, overrides),
      ...ai
    ]

    const process = Effect.fn("AnalyzeStage.process")(function* (events: ReadonlyArray<CollectedEvent>) {
      const batch = viewOf(dialect, events, yield* Clock.currentTimeMillis)
      const findings: Array<QueryFindings> = []
      const remember: Array<MemoryEntry> = []
      for (const step of steps) {
        const output = yield* step.run(batch, findings)
        for (const query of output.findings) findings.push({ ...query, findings: withReduction(query.findings) })
        remember.push(...output.remember)
      }
      yield* Effect.logDebug("analyze stage processed a batch").pipe(
        Effect.annotateLogs({
          queries: batch.slowest.size,
          plans: batch.plans.size,
          findings: findings.reduce((sum, query) => sum + query.findings.length, 0)
        })
      )
      return { events, remember, findings }
    })
    return PipelineStage.of({ process })
  })

/** The stage as a layer of the port; its statistics connection lives and dies with the layer (one run). */
export const layer = (config: Config, context: StageContext<RuleDialect>): Layer.Layer<PipelineStage, StageError> =>
  Layer.scoped(PipelineStage, make(config, context))
