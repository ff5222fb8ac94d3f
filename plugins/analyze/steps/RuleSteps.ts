import { Effect, type Option } from "effect"
import type { QueryFindings } from "../../../src/plugin/Finding.js"
import type { AnalyzeStep } from "../AnalyzeStep.js"
import { mysqlPlanRules } from "../rules/MysqlPlanRules.js"
import { postgresPlanRules } from "../rules/PostgresPlanRules.js"
import type { RuleDialect } from "../rules/Rule.js"
import { type RuleOverrides, runRules } from "../rules/RunRules.js"
import { statementRules } from "../rules/StatementRules.js"
import { type PostgresConnection, tableStatsOf } from "./PostgresConnection.js"

/** The statement rules over each query's slowest sample of the batch (scope `statement`). */
export const statementStep = (overrides: RuleOverrides): AnalyzeStep => ({
  name: "statement rules",
  run: (batch) =>
    Effect.succeed({
      findings: [...batch.slowest].map(([queryId, sample]) => ({
        queryId,
        scope: "statement",
        findings: runRules(statementRules, { dialect: batch.dialect, sql: sample.event.sqlText }, overrides)
      })),
      remember: []
    })
})

/**
 * The plan rules of the dialect over each plan the explain stage gave in the batch (scope `plan`); a query without
 * a new plan keeps its plan findings. On PostgreSQL with the stage's connection, the plan's table statistics too.
 */
export const planRulesStep = (
  dialect: RuleDialect,
  overrides: RuleOverrides,
  connection: Option.Option<PostgresConnection>
): AnalyzeStep => {
  const rules = dialect === "mysql" ? mysqlPlanRules : postgresPlanRules
  return {
    name: "plan rules",
    run: Effect.fn("AnalyzeStage.planRules")(function* (batch) {
      const findings: Array<QueryFindings> = []
      for (const [queryId, { plan }] of batch.plans) {
        const db = batch.slowest.get(queryId)?.event.db ?? null
        const tableStats = yield* tableStatsOf(connection, plan, db)
        const found = runRules(rules, { dialect, plan, now: batch.now, ...(tableStats === undefined ? {} : { tableStats }) }, overrides)
        findings.push({ queryId, scope: "plan", findings: found })
      }
      return { findings, remember: [] }
    })
  }
}
