import { readMysqlPlan } from "../rules/MysqlPlan.js"

/**
 * What a MySQL/MariaDB plan costs, as the index advice compares it before and after a candidate index.
 *
 * - MySQL prints the optimizer's cost: v1 `query_block.cost_info.query_cost`, v2 the root's `estimated_total_cost`.
 * - MariaDB's EXPLAIN FORMAT=JSON (10.11) prints no cost at all. What it prints per table is `rows` (rows read per
 *   scan of it) and `filtered` (the share its conditions keep), so the comparison is on the rows examined: each
 *   table's `rows` times the rows that reach it, which are the product of `rows` × `filtered` / 100 of the tables
 *   joined before it in its query block. A full scan of 10,000 rows examines 10,000; a `ref` lookup of 10 rows
 *   per outer row, under 50 outer rows, examines 500. A subquery's block counts once, like the top block (the plan
 *   does not say how often a dependent one runs).
 */

export type MysqlCostMeasure = "query_cost" | "rows_examined"

export interface MysqlPlanCost {
  readonly cost: number
  readonly measure: MysqlCostMeasure
}

const record = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined

const numberOf = (value: unknown): number | undefined => {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN
  return Number.isFinite(n) ? n : undefined
}

/** The plan's cost, or undefined when it is not a MySQL/MariaDB plan or lacks the figures. */
export const mysqlPlanCost = (plan: unknown): MysqlPlanCost | undefined => {
  const view = readMysqlPlan(plan)
  if (view === undefined) return undefined
  const top = record(plan)
  if (view.format === "mysql_v1") {
    const cost = numberOf(record(record(top?.query_block)?.cost_info)?.query_cost)
    return cost === undefined ? undefined : { cost, measure: "query_cost" }
  }
  if (view.format === "mysql_v2") {
    const root = record(top?.query_plan) ?? top
    const cost = numberOf(root?.estimated_total_cost)
    return cost === undefined ? undefined : { cost, measure: "query_cost" }
  }
  let examined = 0
  let reaching = 1
  for (const table of view.tables) {
    if (table.rows === undefined) return undefined
    if (table.joinPosition === 0) reaching = 1
    examined += reaching * table.rows
    reaching *= table.rows * ((table.filtered ?? 100) / 100)
  }
  return { cost: examined, measure: "rows_examined" }
}

/** Whether any table of the plan is read through the index named `name`. */
export const mysqlPlanUsesIndex = (plan: unknown, name: string): boolean =>
  readMysqlPlan(plan)?.tables.some((table) => table.key === name) === true
