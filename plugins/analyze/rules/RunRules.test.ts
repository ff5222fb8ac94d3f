import { describe, expect, it } from "@effect/vitest"
import type { Finding } from "../../../src/plugin/Finding.js"
import type { AnyRule, Rule, RuleDialect } from "./Rule.js"
import { overrideProblems, runRules } from "./RunRules.js"

interface Input {
  readonly dialect: RuleDialect
  readonly size: number
}

const big: Rule<Input, { readonly min_size: number; readonly factor: number }> = {
  id: "test_big",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description: "size at or above min_size",
  thresholds: { min_size: 100, factor: 2 },
  check: (input, t) =>
    input.size >= t.min_size
      ? [
          {
            rule: "test_big",
            severity: "warn",
            message: `size ${input.size} ≥ ${t.min_size} (factor ${t.factor})`,
            evidence: "size",
            advice: "shrink",
            source: "rule"
          }
        ]
      : []
}
const pgOnly: Rule<Input, {}> = {
  id: "test_pg_only",
  severity: "info",
  dialects: ["postgres"],
  description: "always, on PostgreSQL",
  thresholds: {},
  check: () => [{ rule: "test_pg_only", severity: "info", message: "pg", evidence: "-", advice: "-", source: "rule" }]
}
const rules: ReadonlyArray<AnyRule<Input>> = [big, pgOnly]
const messages = (findings: ReadonlyArray<Finding>) => findings.map((f) => `${f.rule}: ${f.message}`)

describe("runRules", () => {
  it("runs the rules of the input's dialect with their default thresholds, in rule order", () => {
    expect(messages(runRules(rules, { dialect: "postgres", size: 150 }))).toEqual([
      "test_big: size 150 ≥ 100 (factor 2)",
      "test_pg_only: pg"
    ])
    expect(messages(runRules(rules, { dialect: "mysql", size: 150 }))).toEqual(["test_big: size 150 ≥ 100 (factor 2)"])
  })
  it("skips disabled rules", () => {
    expect(messages(runRules(rules, { dialect: "postgres", size: 150 }, { disabled: new Set(["test_big"]) }))).toEqual([
      "test_pg_only: pg"
    ])
  })
  it("overrides the thresholds it is given and keeps the others at their defaults, ignoring unknown names", () => {
    const overrides = { thresholds: { test_big: { min_size: 200, bogus: 1 }, test_unknown: { x: 1 } } }
    expect(messages(runRules(rules, { dialect: "mysql", size: 150 }, overrides))).toEqual([])
    expect(messages(runRules(rules, { dialect: "mysql", size: 250 }, overrides))).toEqual([
      "test_big: size 250 ≥ 200 (factor 2)"
    ])
    // The rule's own defaults are untouched by an override.
    expect(big.thresholds).toEqual({ min_size: 100, factor: 2 })
  })
})

describe("overrideProblems", () => {
  it("lists unknown rules, unknown thresholds and non-finite values, with the valid names", () => {
    expect(
      overrideProblems(rules, {
        disabled: new Set(["test_big", "test_nope"]),
        thresholds: {
          test_big: { min_sise: 5, factor: Number.NaN },
          test_pg_only: { x: 1 },
          test_other: { y: 2 }
        }
      })
    ).toEqual([
      'unknown rule "test_nope" (valid values: test_big | test_pg_only)',
      'rule "test_big" has no threshold "min_sise" (valid values: min_size | factor)',
      'rule "test_big" threshold "factor" must be a finite number, actual NaN',
      'rule "test_pg_only" has no threshold "x" (it has none)',
      'unknown rule "test_other" (valid values: test_big | test_pg_only)'
    ])
  })
  it("finds nothing wrong with valid overrides", () => {
    expect(overrideProblems(rules, { disabled: new Set(["test_pg_only"]), thresholds: { test_big: { factor: 3 } } })).toEqual([])
  })
})
