import { Effect } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import type { Finding, QueryFindings } from "../../../src/plugin/Finding.js"
import type { MemoryEntry } from "../../../src/plugin/PipelineStage.js"
import type { StageMemory } from "../../../src/plugin/StageMemory.js"
import { type AnalyzeStep, type BatchView, noOutput, type StepOutput } from "../AnalyzeStep.js"
import {
  advancePlan,
  type PlanChangedThresholds,
  planChangedRule,
  planChangedThresholds,
  planMemoryKey,
  readPlanMemory
} from "../regression/PlanChange.js"
import { isEnabled } from "../regression/Regression.js"
import {
  addEvents,
  comparedSpan,
  hourlyMemoryKey,
  readHourlyMemory,
  type SlowerCallsThresholds,
  slowerCallsFinding,
  slowerCallsRule,
  slowerCallsThresholds
} from "../regression/SlowerCalls.js"
import type { RuleThresholds } from "../rules/Rule.js"
import type { RuleOverrides } from "../rules/RunRules.js"

/** The scope of the regression findings: both rules', so that each examined query gets all of its regressions back. */
export const REGRESSION_SCOPE = "regression"

/** The rules' thresholds, undefined for a rule the pipeline disabled. */
export interface RegressionSettings {
  readonly plan: PlanChangedThresholds | undefined
  readonly slower: SlowerCallsThresholds | undefined
}

export const regressionSettings = (overrides: RuleOverrides): RegressionSettings => ({
  plan: isEnabled(planChangedRule, overrides) ? planChangedThresholds(overrides) : undefined,
  slower: isEnabled(slowerCallsRule, overrides) ? slowerCallsThresholds(overrides) : undefined
})

/** The memory keys a batch needs read: those of its queries, for the rules that run. */
export const memoryKeysOf = (batch: Pick<BatchView, "totals">, settings: RegressionSettings): ReadonlyArray<string> => {
  const ids = [...batch.totals.keys()]
  return [...(settings.plan === undefined ? [] : ids.map(planMemoryKey)), ...(settings.slower === undefined ? [] : ids.map(hourlyMemoryKey))]
}

/**
 * The pure step: every query of the batch is examined, and gets back all of its regressions that hold now (none
 * resolves the earlier ones); the memory of each query moves on by the batch.
 */
export const regressionsOf = (
  batch: Pick<BatchView, "events" | "plans" | "totals">,
  remembered: ReadonlyMap<string, unknown>,
  settings: RegressionSettings
): StepOutput => {
  const eventsOf = new Map<string, Array<CollectedEvent["event"]>>()
  for (const { event, fingerprint } of batch.events) {
    const events = eventsOf.get(fingerprint.queryId)
    if (events === undefined) eventsOf.set(fingerprint.queryId, [event])
    else events.push(event)
  }
  const findings: Array<QueryFindings> = []
  const remember: Array<MemoryEntry> = []
  for (const [queryId, totals] of batch.totals) {
    const found: Array<Finding> = []
    const plan =
      settings.plan === undefined
        ? undefined
        : advancePlan(readPlanMemory(remembered.get(planMemoryKey(queryId))), batch.plans.get(queryId), totals, settings.plan)
    if (plan?.memory !== undefined) remember.push({ key: planMemoryKey(queryId), value: plan.memory })
    if (plan?.finding !== undefined) found.push(plan.finding)
    if (settings.slower !== undefined) {
      const hourly = addEvents(readHourlyMemory(remembered.get(hourlyMemoryKey(queryId))), eventsOf.get(queryId) ?? [], settings.slower)
      remember.push({ key: hourlyMemoryKey(queryId), value: hourly })
      // Both plans when the plan changed within the hours compared: the likely cause, shown with the figures.
      const span = comparedSpan(hourly, settings.slower)
      const change = plan?.memory
      const plans =
        change?.previous !== undefined && span !== undefined && change.current.since >= span[0] && change.current.since < span[1]
          ? { before: change.previous.plan, after: change.current.plan }
          : undefined
      const slower = slowerCallsFinding(hourly, settings.slower, plans)
      if (slower !== undefined) found.push(slower)
    }
    findings.push({ queryId, scope: REGRESSION_SCOPE, findings: found })
  }
  return { findings, remember }
}

/**
 * Regressions (scope `regression`): `plan_changed` and `slower_calls` over each query of the batch, from what the
 * stage's memory holds of its plans and hours. Reading the memory failing leaves the batch unexamined (its
 * findings stay open, its figures are not counted), logged; it never fails the batch.
 */
export const regressionStep = (memory: StageMemory, overrides: RuleOverrides): AnalyzeStep => {
  const settings = regressionSettings(overrides)
  return {
    name: "regressions",
    run: Effect.fn("AnalyzeStage.regressions")(
      function* (batch) {
        const keys = memoryKeysOf(batch, settings)
        const remembered = keys.length === 0 ? new Map<string, unknown>() : yield* memory.get(keys)
        return regressionsOf(batch, remembered, settings)
      },
      (effect) =>
        effect.pipe(
          Effect.catchTag("StageError", (error) =>
            Effect.logWarning(`analyze: regressions not checked in this batch: ${error.message}`).pipe(Effect.as(noOutput))
          ),
          // A bug here must not cost the batch its events: logged as one, and the batch goes on without regressions.
          Effect.catchAllDefect((defect) =>
            Effect.logError("analyze: regressions failed on this batch", defect).pipe(Effect.as(noOutput))
          )
        )
    )
  }
}

/** The regression rules, for the pipeline's overrides (`disabled_rules`, `thresholds`) to be checked against. */
export const regressionRules: ReadonlyArray<RuleThresholds> = [planChangedRule, slowerCallsRule]
