import { Option, Schema } from "effect"
import type { Finding, FindingPlans } from "../../../src/plugin/Finding.js"
import type { RuleOverrides } from "../rules/RunRules.js"
import {
  DAY_MS,
  formatCalls,
  formatInstant,
  formatMs,
  formatRatio,
  type RegressionRule,
  regressionFinding,
  regressionReduction,
  thresholdOf
} from "./Regression.js"

// `plan_changed`: the explain stage (re)explains a query now and then and gives each plan a shape hash; a hash that
// differs from the one remembered for the query is a plan change. The memory follows each plan's calls and time from
// the events' own times, so the finding can say how fast the query was under each plan, and stays open for
// `open_days` after the change (then the change is history, and resolves).

export const planChangedRule: RegressionRule<{ readonly crit_factor: number; readonly open_days: number }> = {
  id: "plan_changed",
  severity: "warn",
  description:
    "The query's plan changed (a new shape hash from the explain stage): both plans and the mean time per call under each.",
  thresholds: { crit_factor: 2, open_days: 7 }
}

export interface PlanChangedThresholds {
  /** crit when the new plan's mean per call is at least this many times the old one's. */
  readonly critFactor: number
  /** How long after the change (by the events' times) the finding stays open. */
  readonly openMs: number
}

export const planChangedThresholds = (overrides: RuleOverrides): PlanChangedThresholds => ({
  critFactor: thresholdOf(planChangedRule, overrides, "crit_factor"),
  openMs: Math.max(0, thresholdOf(planChangedRule, overrides, "open_days")) * DAY_MS
})

/** One plan's time in force for a query: its shape hash, since when (the first event under it), its calls and time since. */
const PlanPeriod = Schema.Struct({ hash: Schema.String, since: Schema.Number, calls: Schema.Number, totalMs: Schema.Number })
export type PlanPeriod = typeof PlanPeriod.Type

/**
 * What is remembered per query in `plan:<query id>`, rewritten on each batch with calls: the current plan's
 * figures, and the one's before it while the change is reported. Small (about 80 bytes, 160 with the plan before):
 * the plans' JSON, often kilobytes, is kept apart, written only when the plan changes (`PlanJsons`).
 */
export const PlanMemory = Schema.Struct({ current: PlanPeriod, previous: Schema.optional(PlanPeriod) })
export type PlanMemory = typeof PlanMemory.Type

/**
 * The plans' JSON: `plan-json:<query id>` the current plan as first seen with its hash (written when a new hash
 * comes), `plan-before:<query id>` the plan before it (written at the change, set to null when the change stops
 * being reported). Undefined when not known.
 */
export interface PlanJsons {
  readonly current: unknown
  readonly before: unknown
}

const noJsons: PlanJsons = { current: undefined, before: undefined }

/** What the query's remembered entries give: its figures and the plans' JSON. */
export interface PlanState {
  readonly memory: PlanMemory
  readonly jsons: PlanJsons
  /**
   * Read from the layout before the JSONs had keys of their own (`plan:<query id>` held each period's `plan`):
   * nothing is lost, the JSONs are taken from it, and the batch writes them to their keys.
   */
  readonly legacy: boolean
}

const decodePlanMemory = Schema.decodeUnknownOption(PlanMemory)

const legacyPlanOf = (period: unknown): unknown =>
  typeof period === "object" && period !== null && "plan" in period ? period.plan : undefined

/**
 * The remembered state from the values of `plan:`, `plan-json:` and `plan-before:` (undefined or null when not
 * stored), or undefined when there is no `plan:` of a known shape (then the query starts afresh).
 */
export const readPlanState = (value: unknown, current: unknown, before: unknown): PlanState | undefined => {
  if (value === undefined || value === null) return undefined
  const memory = Option.getOrUndefined(decodePlanMemory(value))
  if (memory === undefined) return undefined
  const { current: legacyCurrent, previous: legacyPrevious } = value as { current: unknown; previous?: unknown }
  if (legacyPlanOf(legacyCurrent) !== undefined) {
    const { current: period, previous } = memory
    return {
      memory: { current: periodOf(period), ...(previous === undefined ? {} : { previous: periodOf(previous) }) },
      jsons: { current: legacyPlanOf(legacyCurrent), before: legacyPlanOf(legacyPrevious) },
      legacy: true
    }
  }
  return { memory, jsons: { current: absentAsUndefined(current), before: absentAsUndefined(before) }, legacy: false }
}

/** Only the period's own fields: a legacy value's `plan` is left out. */
const periodOf = ({ hash, since, calls, totalMs }: PlanPeriod): PlanPeriod => ({ hash, since, calls, totalMs })

const absentAsUndefined = (value: unknown): unknown => (value === null ? undefined : value)

export const planMemoryKey = (queryId: string) => `plan:${queryId}`
export const planJsonKey = (queryId: string) => `plan-json:${queryId}`
export const planBeforeKey = (queryId: string) => `plan-before:${queryId}`

/**
 * The JSON keys a batch needs read for a query, from its `plan:` value and the plan the batch brings: the current
 * plan's when a new hash comes (it becomes the plan before), both while a change is reported; none otherwise, so
 * the kilobytes of a plan are read only around a change.
 */
export const planJsonKeysOf = (
  queryId: string,
  value: unknown,
  plan: { readonly hash: string } | undefined
): ReadonlyArray<string> => {
  const memory = value === undefined || value === null ? undefined : Option.getOrUndefined(decodePlanMemory(value))
  if (memory === undefined || legacyPlanOf((value as { current: unknown }).current) !== undefined) return []
  if (memory.previous !== undefined) return [planJsonKey(queryId), planBeforeKey(queryId)]
  return plan !== undefined && plan.hash !== memory.current.hash ? [planJsonKey(queryId)] : []
}

/** The query's figures in a batch: calls and time, and its events' first and last time (epoch ms). */
export interface PlanBatchFigures {
  readonly calls: number
  readonly totalMs: number
  readonly firstAt: number
  readonly lastAt: number
}

export interface PlanStep {
  /** The state after the batch, undefined when there is nothing to remember (no plan known yet). */
  readonly state: PlanState | undefined
  /** Which of the JSONs the batch changed (to be written); `before` changed to undefined is written as null. */
  readonly changed: { readonly current: boolean; readonly before: boolean }
  readonly finding: Finding | undefined
}

const meanOf = (period: PlanPeriod): number | undefined => (period.calls > 0 ? period.totalMs / period.calls : undefined)

/**
 * One batch of a query: the plan the explain stage gave it in the batch, if any, and its figures. The batch's calls
 * count for the plan in force after it: the first batch of a new plan gives the new plan its first figures. A plan
 * of the same hash changes nothing of the JSONs (its costs and estimates may differ; slowq_plans keeps the latest).
 */
export const advancePlan = (
  remembered: PlanState | undefined,
  plan: { readonly hash: string; readonly plan: unknown } | undefined,
  batch: PlanBatchFigures,
  thresholds: PlanChangedThresholds
): PlanStep => {
  const unchanged = { current: remembered?.legacy ?? false, before: remembered?.legacy ?? false }
  let memory: PlanMemory
  let jsons = remembered?.jsons ?? noJsons
  let changed = unchanged
  if (remembered === undefined) {
    if (plan === undefined) return { state: undefined, changed, finding: undefined }
    memory = { current: { hash: plan.hash, since: batch.firstAt, calls: batch.calls, totalMs: batch.totalMs } }
    jsons = { current: plan.plan, before: undefined }
    changed = { current: true, before: false }
  } else if (plan === undefined || plan.hash === remembered.memory.current.hash) {
    const { current } = remembered.memory
    memory = {
      ...remembered.memory,
      current: { ...current, calls: current.calls + batch.calls, totalMs: current.totalMs + batch.totalMs }
    }
  } else {
    memory = {
      previous: remembered.memory.current,
      current: { hash: plan.hash, since: batch.firstAt, calls: batch.calls, totalMs: batch.totalMs }
    }
    jsons = { current: plan.plan, before: jsons.current }
    changed = { current: true, before: true }
  }
  const { current, previous } = memory
  if (previous === undefined) return { state: { memory, jsons, legacy: false }, changed, finding: undefined }
  // The change is reported for a while after it, by the events' times; after that it is history.
  if (batch.lastAt - current.since >= thresholds.openMs) {
    return {
      state: { memory: { current }, jsons: { current: jsons.current, before: undefined }, legacy: false },
      changed: { current: changed.current, before: true },
      finding: undefined
    }
  }
  return {
    state: { memory, jsons, legacy: false },
    changed,
    finding: planChangedFinding(previous, current, { before: jsons.before ?? null, after: jsons.current ?? null }, thresholds)
  }
}

/** The finding of a change from `before` to `after`, with each plan's mean per call so far. */
export const planChangedFinding = (
  before: PlanPeriod,
  after: PlanPeriod,
  plans: typeof FindingPlans.Type,
  thresholds: PlanChangedThresholds
): Finding => {
  const oldMean = meanOf(before)
  const newMean = meanOf(after)
  const ratio = oldMean !== undefined && newMean !== undefined && oldMean > 0 ? newMean / oldMean : undefined
  const under = (mean: number | undefined, period: PlanPeriod, plan: string) =>
    mean === undefined ? `no calls measured under the ${plan} plan` : `${formatMs(mean)} per call under the ${plan} plan (${formatCalls(period.calls)} calls)`
  const verdict =
    ratio === undefined ? "" : ratio > 1 ? `: ${formatRatio(ratio)} slower` : ratio < 1 ? `: ${formatRatio(1 / ratio)} faster` : ": as fast"
  return regressionFinding({
    rule: planChangedRule.id,
    // A faster plan is news, not a problem (creating a suggested index does it): info, ranked last by its 0 reduction.
    severity: ratio === undefined ? "warn" : ratio >= thresholds.critFactor ? "crit" : ratio < 1 ? "info" : "warn",
    message: `Plan changed at ${formatInstant(after.since)}: ${under(oldMean, before, "old")}, ${under(newMean, after, "new")}${verdict}`,
    evidence: `plan ${before.hash} → ${after.hash}`,
    advice:
      "Compare the two plans; if the new one is slower, give back what the old one used: recreate a dropped index, ANALYZE tables whose statistics moved, revert the schema or setting changed at that time",
    subject: `${before.hash}→${after.hash}`,
    plans,
    reduction: oldMean === undefined || newMean === undefined ? 0 : regressionReduction(oldMean, newMean)
  })
}
