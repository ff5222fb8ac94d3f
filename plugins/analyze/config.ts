import { Schema } from "effect"
import { AiConfig } from "./ai/config.js"
import { mysqlPlanRules } from "./rules/MysqlPlanRules.js"
import { postgresPlanRules } from "./rules/PostgresPlanRules.js"
import type { RuleThresholds } from "./rules/Rule.js"
import { overrideProblems } from "./rules/RunRules.js"
import { statementRules } from "./rules/StatementRules.js"
import { regressionRules } from "./steps/RegressionStep.js"

/** Every rule the stage may run, of both families: what a pipeline's overrides are checked against. */
export const allRules: ReadonlyArray<RuleThresholds> = [...statementRules, ...mysqlPlanRules, ...postgresPlanRules, ...regressionRules]

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
  }),
  advice: Schema.optionalWith(Schema.Boolean, { exact: true, default: () => true }).annotations({
    description:
      "PostgreSQL: index advice for each query with a new plan of total cost 100 or more, proven with HypoPG's hypothetical indexes on the source's database (README.md)."
  }),
  advice_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 60_000)), { exact: true, default: () => 5000 })
    .annotations({
      description:
        "The time index advice may take for one query; each EXPLAIN it sends is also cut off at it on the server."
    }),
  max_advice_per_run: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1000)), { exact: true, default: () => 20 })
    .annotations({ description: "Queries given index advice per run, the slowest (by time in the batch) first." }),
  ai: Schema.optionalWith(AiConfig, { exact: true, default: () => ({ type: "none" as const }) }).annotations({
    description:
      "The AI advisor: { type: none } (the default: no AI) or { type: openai_compatible, base_url, model, … } (README.md); asked once per query and plan, within a daily budget, with no sample, literal or comment."
  })
}).pipe(
  // Unknown rules and thresholds are refused when the pipeline loads, as every other option is.
  Schema.filter((config) => {
    const problems = overrideProblems(allRules, { disabled: new Set(config.disabled_rules), thresholds: config.thresholds })
    return problems.length === 0 ? true : problems.join("; ")
  })
)
export type Config = typeof Config.Type
