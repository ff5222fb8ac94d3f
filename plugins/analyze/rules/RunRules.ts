import type { Finding } from "../../../src/plugin/Finding.js"
import type { AnyRule, RuleDialect, RuleThresholds } from "./Rule.js"

/** A pipeline's changes to the rules: rules turned off, and thresholds by rule id and threshold name. */
export interface RuleOverrides {
  readonly disabled?: ReadonlySet<string>
  readonly thresholds?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/**
 * Runs the rules that apply to the input's dialect and are not disabled, each with its default thresholds under
 * the pipeline's overrides, and returns their findings in rule order. Overrides naming an unknown rule or
 * threshold are ignored here: `overrideProblems` reports them when the pipeline is loaded. Every finding has a
 * `reduction`: the one its check computed, else the rule's declared one.
 */
export const runRules = <I extends { readonly dialect: RuleDialect }>(
  rules: ReadonlyArray<AnyRule<I>>,
  input: I,
  overrides: RuleOverrides = {}
): ReadonlyArray<Finding> => {
  const out: Array<Finding> = []
  for (const rule of rules) {
    if (overrides.disabled?.has(rule.id) || !rule.dialects.includes(input.dialect)) continue
    const given = overrides.thresholds?.[rule.id]
    let thresholds: Record<string, number> = rule.thresholds
    if (given !== undefined) {
      thresholds = { ...rule.thresholds }
      for (const name of Object.keys(rule.thresholds)) {
        const value = given[name]
        if (value !== undefined) thresholds[name] = value
      }
    }
    // The rule's declared share when its check had no numbers to compute one from: every finding leaves with one.
    for (const f of rule.check(input, thresholds)) out.push(f.reduction === undefined ? { ...f, reduction: rule.reduction } : f)
  }
  return out
}

/**
 * What is wrong with a pipeline's overrides against the rules it can run: unknown rule ids (disabled or with
 * thresholds), unknown threshold names (the valid ones listed) and values that are not finite numbers.
 */
export const overrideProblems = (rules: ReadonlyArray<RuleThresholds>, overrides: RuleOverrides): ReadonlyArray<string> => {
  const byId = new Map(rules.map((r) => [r.id, r]))
  const problems: Array<string> = []
  const unknown = (id: string): string =>
    `unknown rule "${id}" (valid values: ${[...byId.keys()].sort().join(" | ")})`
  for (const id of overrides.disabled ?? []) if (!byId.has(id)) problems.push(unknown(id))
  for (const [id, given] of Object.entries(overrides.thresholds ?? {})) {
    const rule = byId.get(id)
    if (rule === undefined) {
      problems.push(unknown(id))
      continue
    }
    const names = Object.keys(rule.thresholds)
    for (const [name, value] of Object.entries(given)) {
      if (!names.includes(name)) {
        problems.push(
          `rule "${id}" has no threshold "${name}" (${names.length === 0 ? "it has none" : `valid values: ${names.join(" | ")}`})`
        )
      } else if (!Number.isFinite(value)) {
        problems.push(`rule "${id}" threshold "${name}" must be a finite number, actual ${value}`)
      }
    }
  }
  return problems
}
