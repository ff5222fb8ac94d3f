import type { Finding, Severity } from "../../../src/plugin/Finding.js"
import type { RuleOverrides } from "../rules/RunRules.js"

// What the two regression rules share: their declaration (an id and thresholds a pipeline may change, checked against
// `allRules` like the rules' own), the thresholds a pipeline gives them, and how their numbers read.

/** A regression rule: its id, severity, what it finds, and its thresholds with their defaults. */
export interface RegressionRule<T extends Record<string, number>> {
  readonly id: string
  readonly severity: Severity
  readonly description: string
  readonly thresholds: T
}

export const HOUR_MS = 3_600_000
export const DAY_MS = 24 * HOUR_MS

/** One threshold of the rule under the pipeline's overrides (unknown names are refused at load by `overrideProblems`). */
export const thresholdOf = <K extends string>(
  rule: RegressionRule<Readonly<Record<K, number>>>,
  overrides: RuleOverrides,
  name: K
): number => {
  const given = overrides.thresholds?.[rule.id]?.[name]
  return given !== undefined && Number.isFinite(given) ? given : rule.thresholds[name]
}

export const isEnabled = (rule: { readonly id: string }, overrides: RuleOverrides): boolean =>
  !(overrides.disabled?.has(rule.id) ?? false)

const significant = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 })
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const oneDecimal = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })

/** A time per call: three significant digits (`0.512 ms`, `4.1 ms`, `1,230 ms`). */
export const formatMs = (ms: number): string => `${significant.format(ms)} ms`

/** A number of calls; an aggregate spread over hours may give a fraction of one, shown rounded. */
export const formatCalls = (calls: number): string => whole.format(calls)

/** A ratio of two means: `7.9×`. */
export const formatRatio = (ratio: number): string => `${oneDecimal.format(ratio)}×`

/** An instant to the minute, UTC: `2026-05-01 10:00 UTC`. */
export const formatInstant = (epochMs: number): string => `${new Date(epochMs).toISOString().slice(0, 16).replace("T", " ")} UTC`

/**
 * The share of the time now spent that going back to the earlier speed would remove: 1 − before/after when it got
 * slower, 0 when not; at most 0.95, since the query still costs something at its old speed.
 */
export const regressionReduction = (before: number, after: number): number =>
  after <= before || after <= 0 ? 0 : Math.min(0.95, 1 - before / after)

export const regressionFinding = (
  fields: Pick<Finding, "rule" | "severity" | "message" | "evidence" | "advice" | "reduction"> &
    Partial<Pick<Finding, "subject" | "plans">>
): Finding => ({ ...fields, source: "regression" })

/**
 * Whether two JSON values are the same (key order aside: jsonb gives objects back with its own key order), so that
 * an entry of the stage's memory whose value a batch did not change is not written again.
 */
export const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const aKeys = Object.keys(a).filter((key) => (a as Record<string, unknown>)[key] !== undefined)
  const bKeys = Object.keys(b).filter((key) => (b as Record<string, unknown>)[key] !== undefined)
  return (
    aKeys.length === bKeys.length &&
    aKeys.every((key) => sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
  )
}
