import { Redacted, Schema } from "effect"
import { isMysqlUrl, mysqlTarget, sameTarget } from "./advice/MysqlTarget.js"
import { AiConfig } from "./ai/config.js"
import { mysqlPlanRules } from "./rules/MysqlPlanRules.js"
import { postgresPlanRules } from "./rules/PostgresPlanRules.js"
import type { RuleThresholds } from "./rules/Rule.js"
import { overrideProblems } from "./rules/RunRules.js"
import { statementRules } from "./rules/StatementRules.js"
import { regressionRules } from "./steps/RegressionStep.js"

/** Every rule the stage may run, of both families: what a pipeline's overrides are checked against. */
export const allRules: ReadonlyArray<RuleThresholds> = [...statementRules, ...mysqlPlanRules, ...postgresPlanRules, ...regressionRules]

const parsedUrl = (text: string): URL | undefined => {
  try {
    const url = new URL(text)
    return url.hostname === "" ? undefined : url
  } catch {
    return undefined
  }
}

// Messages never repeat the value: a URL may hold a password.
const DatabaseUrl = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter((text) => {
    const url = parsedUrl(text)
    return url !== undefined && (isMysqlUrl(url) || url.protocol === "postgres:" || url.protocol === "postgresql:")
  }, {
    message: () =>
      "Expected a URL like mysql://user@host:3306/db or postgres://user@host:5432/db; the value is not shown because it may hold a password"
  })
)
const SandboxUrl = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter((text) => {
    const url = parsedUrl(text)
    return url !== undefined && isMysqlUrl(url) && url.pathname.length > 1
  }, {
    message: () =>
      "Expected a MySQL/MariaDB URL naming a database, like mysql://user@host:3306/slowq_sandbox; the value is not shown because it may hold a password"
  })
)

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
      "Index advice for each query with a new plan of total cost (MariaDB: rows examined) 100 or more: proven with HypoPG's hypothetical indexes on PostgreSQL, in the sandbox_url database on MySQL/MariaDB (README.md)."
  }),
  advice_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 60_000)), { exact: true, default: () => 5000 })
    .annotations({
      description:
        "The time index advice may take for one query; each EXPLAIN it sends is also cut off at it on the server."
    }),
  max_advice_per_run: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1000)), { exact: true, default: () => 20 })
    .annotations({ description: "Queries given index advice per run, the slowest (by time in the batch) first." }),
  database_url: Schema.optionalWith(
    Schema.Redacted(DatabaseUrl).annotations({
      description:
        "The watched database the stage reads its catalog from (information_schema, pg_stat_user_tables; read only, never DDL), as mysql://user@host:3306/db or postgres://user@host:5432/db. Defaults to the source's own connection; needed for index advice when the source reads no database (a slow log file)."
    }),
    { exact: true }
  ),
  sandbox_url: Schema.optionalWith(
    Schema.Redacted(SandboxUrl).annotations({
      description:
        "MySQL/MariaDB: a database slowq owns (mysql://user@host:3306/slowq_sandbox), never a watched one, where index suggestions are verified on temporary copies of the tables (README.md). Without it they are unverified."
    }),
    { exact: true }
  ),
  sandbox_sample_rows: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1_000_000)), { exact: true, default: () => 0 })
    .annotations({
      description:
        "MySQL/MariaDB: rows copied per table into the sandbox (the first ones the server returns). 0 (the default) copies none, and then nothing is verified: an empty table's plan proves nothing."
    }),
  ai: Schema.optionalWith(AiConfig, { exact: true, default: () => ({ type: "none" as const }) }).annotations({
    description:
      "The AI advisor: { type: none } (the default: no AI) or { type: openai_compatible, base_url, model, … } (README.md); asked once per query and plan, within a daily budget, with no sample, literal or comment."
  })
}).pipe(
  // Unknown rules and thresholds are refused when the pipeline loads, as every other option is.
  Schema.filter((config) => {
    const problems = overrideProblems(allRules, { disabled: new Set(config.disabled_rules), thresholds: config.thresholds })
    return problems.length === 0 ? true : problems.join("; ")
  }),
  // The sandbox gets DDL: it must never be the watched database.
  Schema.filter((config) => {
    if (config.sandbox_url === undefined || config.database_url === undefined) return true
    const watched = parsedUrl(Redacted.value(config.database_url))
    const sandbox = parsedUrl(Redacted.value(config.sandbox_url))
    if (watched === undefined || sandbox === undefined || !isMysqlUrl(watched)) return true
    return sameTarget(mysqlTarget(watched), mysqlTarget(sandbox))
      ? { path: ["sandbox_url"], message: "names the watched database (database_url); give a database slowq owns" }
      : true
  })
)
export type Config = typeof Config.Type
