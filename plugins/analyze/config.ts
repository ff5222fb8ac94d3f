import { Schema } from "effect"
import { mysqlPlanRules } from "./rules/MysqlPlanRules.js"
import { postgresPlanRules } from "./rules/PostgresPlanRules.js"
import type { AnyRule } from "./rules/Rule.js"
import { overrideProblems } from "./rules/RunRules.js"
import { statementRules } from "./rules/StatementRules.js"

/** Every rule the stage may run, of both families: what a pipeline's overrides are checked against. */
// biome-ignore lint/suspicious/noExplicitAny: statement and plan rules take different inputs; only ids and thresholds are read here
export const allRules: ReadonlyArray<AnyRule<any>> = [...statementRules, ...mysqlPlanRules, ...postgresPlanRules]

const RuleId = Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_]*$/)).annotations({
  message: (issue) => `Expected a rule id such as stmt_select_star, actual ${JSON.stringify(issue.actual)}`
})

export const Config = Schema.Struct({
  type: Schema.Literal("analyze"),
  disabled_rules: Schema.optionalWith(Schema.Array(RuleId), { exact: true, default: () => [] }).annotations({
    description: "Rules this pipeline does not run, by id (see README.md for the list)."
  }),
  thresholds: Schema.optionalWith(
    Schema.Record({ key: RuleId, value: Schema.Record({ key: Schema.String, value: Schema.Number }) }),
    { exact: true, default: () => ({}) }
  ).annotations({
    description:
      "Thresholds to change, by rule id and threshold name, e.g. { mysql_full_scan: { min_rows: 50000 } }; the others keep their defaults (README.md)."
  })
}).pipe(
  // Unknown rules and thresholds are refused when the pipeline loads, as every other option is.
  Schema.filter((config) => {
    const problems = overrideProblems(allRules, { disabled: new Set(config.disabled_rules), thresholds: config.thresholds })
    return problems.length === 0 ? true : problems.join("; ")
  })
)
export type Config = typeof Config.Type
