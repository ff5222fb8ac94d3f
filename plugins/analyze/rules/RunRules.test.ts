import { describe, expect, it } from "@effect/vitest"
import type { Finding } from "../../../src/plugin/Finding.js"
import { mysqlPlanRules } from "./MysqlPlanRules.js"
import { postgresPlanRules } from "./PostgresPlanRules.js"
import { type AnyRule, type Rule, type RuleDialect, scanReduction } from "./Rule.js"
import { overrideProblems, runRules } from "./RunRules.js"
import { statementRules } from "./StatementRules.js"

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
  reduction: 0.2,
  check: (input, t) =>
    input.size >= t.min_size
      ? [
          {
            rule: "test_big",
            severity: "warn",
            message: `size ${input.size} ≥ ${t.min_size} (factor ${t.factor})`,
            evidence: "size",
            advice: "shrink",
            source: "rule",
            // Computed when the numbers allow it (here: sizes of 1,000 and more).
            ...(input.size >= 1000 ? { reduction: 1 - t.min_size / input.size } : {})
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
  reduction: 0,
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
  it("gives every finding a reduction: the one its check computed, else the rule's declared one", () => {
    const reductions = (size: number) =>
      runRules(rules, { dialect: "postgres", size }).map((f) => [f.rule, f.reduction])
    expect(reductions(150)).toEqual([
      ["test_big", 0.2],
      ["test_pg_only", 0]
    ])
    expect(reductions(4000)).toEqual([
      ["test_big", 0.975],
      ["test_pg_only", 0]
    ])
    // A check's finding as it returned it: no reduction of its own at 150.
    expect(big.check({ dialect: "postgres", size: 150 }, big.thresholds)[0]?.reduction).toBe(undefined)
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

describe("the rules' declared reductions", () => {
  // The README's rule tables list the same numbers; each rule's definition says why.
  it("are the shares each rule argues for, all within 0–1", () => {
    const declared = (rules: ReadonlyArray<{ readonly id: string; readonly reduction: number }>) =>
      Object.fromEntries(rules.map((rule) => [rule.id, rule.reduction]))
    expect(declared(statementRules)).toEqual({
      stmt_dml_without_where: 0.5,
      stmt_select_without_where: 0.3,
      stmt_select_star: 0.05,
      stmt_like_leading_wildcard: 0.5,
      stmt_function_on_column: 0.3,
      stmt_order_by_rand: 0.6,
      stmt_large_offset: 0.5,
      stmt_in_subquery: 0.3,
      stmt_long_in_list: 0.05,
      stmt_limit_without_order_by: 0,
      stmt_outer_join_in_where: 0,
      stmt_too_many_joins: 0.1,
      stmt_sql_calc_found_rows: 0.3
    })
    expect(declared(mysqlPlanRules)).toEqual({
      mysql_full_scan: 0.5,
      mysql_no_candidate_index: 0.5,
      mysql_filesort: 0.1,
      mysql_temporary_table: 0.1,
      mysql_join_buffer: 0.5,
      mysql_dependent_subquery: 0.5
    })
    expect(declared(postgresPlanRules)).toEqual({
      pg_seq_scan_filter: 0.5,
      pg_index_scan_filter: 0.5,
      pg_large_sort_hash: 0.1,
      pg_nested_loop_large: 0.5,
      pg_stale_statistics: 0.2,
      pg_row_misestimate: 0.2,
      pg_disk_spill: 0.3,
      pg_lossy_bitmap: 0.2
    })
  })
  it("bound a scan's computed share to [0.05, 0.95]", () => {
    expect([scanReduction(1, 200_000), scanReduction(100, 200), scanReduction(200, 200), scanReduction(0, 0)]).toEqual([
      0.95, 0.5, 0.05, 0.05
    ])
  })
})
