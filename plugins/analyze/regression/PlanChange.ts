import { Option, Schema } from "effect"
import type { Finding } from "../../../src/plugin/Finding.js"
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

/** One plan's time in force for a query: since when (the first event under it), and its calls and time since. */
const PlanPeriod = Schema.Struct({
  hash: Schema.String,
  plan: Schema.Unknown,
  since: Schema.Number,
  calls: Schema.Number,
  totalMs: Schema.Number
})
export type PlanPeriod = typeof PlanPeriod.Type

/** What is remembered per query (`plan:<query id>`): the current plan, and the one before it while the change is reported. */
export const PlanMemory = Schema.Struct({ current: PlanPeriod, previous: Schema.optional(PlanPeriod) })
export type PlanMemory = typeof PlanMemory.Type

const decodePlanMemory = Schema.decodeUnknownOption(PlanMemory)

/** The remembered value, or undefined when absent or not of this shape (then the query starts afresh). */
export const readPlanMemory = (value: unknown): PlanMemory | undefined =>
  value === undefined ? undefined : Option.getOrUndefined(decodePlanMemory(value))

export const planMemoryKey = (queryId: string) => `plan:${queryId}`

/** The query's figures in a batch: calls and time, and its events' first and last time (epoch ms). */
export interface PlanBatchFigures {
  readonly calls: number
  readonly totalMs: number
  readonly firstAt: number
  readonly lastAt: number
}

export interface PlanStep {
  /** The memory to store, undefined when there is nothing to remember (no plan known yet). */
  readonly memory: PlanMemory | undefined
  readonly finding: Finding | undefined
}

const meanOf = (period: PlanPeriod): number | undefined => (period.calls > 0 ? period.totalMs / period.calls : undefined)

/**
 * One batch of a query: the plan the explain stage gave it in the batch, if any, and its figures. The batch's calls
 * count for the plan in force after it: the first batch of a new plan gives the new plan its first figures.
 */
export const advancePlan = (
  remembered: PlanMemory | undefined,
  plan: { readonly hash: string; readonly plan: unknown } | undefined,
  batch: PlanBatchFigures,
  thresholds: PlanChangedThresholds
): PlanStep => {
  let memory: PlanMemory
  if (remembered === undefined) {
    if (plan === undefined) return { memory: undefined, finding: undefined }
    memory = { current: { hash: plan.hash, plan: plan.plan, since: batch.firstAt, calls: batch.calls, totalMs: batch.totalMs } }
  } else if (plan === undefined || plan.hash === remembered.current.hash) {
    const { current } = remembered
    memory = {
      ...remembered,
      // The latest plan of the same shape: its costs and estimates are the freshest.
      current: {
        ...current,
        plan: plan === undefined ? current.plan : plan.plan,
        calls: current.calls + batch.calls,
        totalMs: current.totalMs + batch.totalMs
      }
    }
  } else {
    memory = {
      previous: remembered.current,
      current: { hash: plan.hash, plan: plan.plan, since: batch.firstAt, calls: batch.calls, totalMs: batch.totalMs }
    }
  }
  const { current, previous } = memory
  if (previous === undefined) return { memory, finding: undefined }
  // The change is reported for a while after it, by the events' times; after that it is history.
  if (batch.lastAt - current.since >= thresholds.openMs) return { memory: { current }, finding: undefined }
  return { memory, finding: planChangedFinding(previous, current, thresholds) }
}

/** The finding of a change from `before` to `after`, with each plan's mean per call so far. */
export const planChangedFinding = (before: PlanPeriod, after: PlanPeriod, thresholds: PlanChangedThresholds): Finding => {
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
    plans: { before: before.plan, after: after.plan },
    reduction: oldMean === undefined || newMean === undefined ? 0 : regressionReduction(oldMean, newMean)
  })
}
