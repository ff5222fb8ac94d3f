import { Effect } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import type { Finding, QueryFindings } from "../../../src/plugin/Finding.js"
import type { MemoryEntry } from "../../../src/plugin/PipelineStage.js"
import type { StageMemory } from "../../../src/plugin/StageMemory.js"
import { type AnalyzeStep, type BatchView, noOutput, type StepOutput } from "../AnalyzeStep.js"
import {
  advancePlan,
  type PlanChangedThresholds,
  planBeforeKey,
  planChangedRule,
  planChangedThresholds,
  planJsonKey,
  planJsonKeysOf,
  planMemoryKey,
  readPlanState
} from "../regression/PlanChange.js"
import { isEnabled, sameJson } from "../regression/Regression.js"
import {
  addEvents,
  comparedSpan,
  hourlyMemoryKey,
  hourMemoryKey,
  readHourlyMemory,
  splitHourly,
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

/**
 * The memory keys a batch needs read first: those of its queries, for the rules that run. All small: the plans'
 * JSON is read after them, only for the queries that need it (`planJsonKeysFor`).
 */
export const memoryKeysOf = (batch: Pick<BatchView, "totals">, settings: RegressionSettings): ReadonlyArray<string> => {
  const ids = [...batch.totals.keys()]
  return [
    ...(settings.plan === undefined ? [] : ids.map(planMemoryKey)),
    ...(settings.slower === undefined ? [] : ids.flatMap((id) => [hourlyMemoryKey(id), hourMemoryKey(id)]))
  ]
}

/** The plan JSON keys to read once the first keys are: for the queries whose plan changes in the batch or whose change is reported. */
export const planJsonKeysFor = (
  batch: Pick<BatchView, "plans" | "totals">,
  remembered: ReadonlyMap<string, unknown>,
  settings: RegressionSettings
): ReadonlyArray<string> =>
  settings.plan === undefined
    ? []
    : [...batch.totals.keys()].flatMap((id) => planJsonKeysOf(id, remembered.get(planMemoryKey(id)), batch.plans.get(id)))

/**
 * The pure step: every query of the batch is examined, and gets back all of its regressions that hold now (none
 * resolves the earlier ones); the memory of each query moves on by the batch, and only the entries whose value
 * changed are written.
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
  const write = (key: string, value: unknown) => {
    if (!sameJson(value, remembered.get(key))) remember.push({ key, value })
  }
  for (const [queryId, totals] of batch.totals) {
    const found: Array<Finding> = []
    const plan =
      settings.plan === undefined
        ? undefined
        : advancePlan(
            readPlanState(
              remembered.get(planMemoryKey(queryId)),
              remembered.get(planJsonKey(queryId)),
              remembered.get(planBeforeKey(queryId))
            ),
            batch.plans.get(queryId),
            totals,
            settings.plan
          )
    const state = plan?.state
    if (state !== undefined) {
      write(planMemoryKey(queryId), state.memory)
      if (plan?.changed.current === true) remember.push({ key: planJsonKey(queryId), value: state.jsons.current ?? null })
      if (plan?.changed.before === true) remember.push({ key: planBeforeKey(queryId), value: state.jsons.before ?? null })
    }
    if (plan?.finding !== undefined) found.push(plan.finding)
    if (settings.slower !== undefined) {
      const closedKey = hourlyMemoryKey(queryId)
      const hourly = addEvents(
        readHourlyMemory(remembered.get(closedKey), remembered.get(hourMemoryKey(queryId))),
        eventsOf.get(queryId) ?? [],
        settings.slower
      )
      const { closed, latest } = splitHourly(hourly)
      if (closed.hours.length > 0 || remembered.get(closedKey) !== undefined) write(closedKey, closed)
      if (latest !== undefined) write(hourMemoryKey(queryId), latest)
      // Both plans when the plan changed within the hours compared: the likely cause, shown with the figures.
      const span = comparedSpan(hourly, settings.slower)
      const change = state?.memory
      const plans =
        change?.previous !== undefined && span !== undefined && change.current.since >= span[0] && change.current.since < span[1]
          ? { before: state?.jsons.before ?? null, after: state?.jsons.current ?? null }
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
 * stage's memory holds of its plans and hours: the small entries of every query first, then the plans' JSON of
 * the queries whose plan changes or whose change is reported. Reading the memory failing leaves the batch unexamined (its
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
        const jsonKeys = planJsonKeysFor(batch, remembered, settings)
        const jsons = jsonKeys.length === 0 ? new Map<string, unknown>() : yield* memory.get(jsonKeys)
        return regressionsOf(batch, new Map([...remembered, ...jsons]), settings)
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
