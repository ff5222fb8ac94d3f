import { labelOf, type PlanNodeJson, relationOf, str } from "../../../src/domain/PostgresPlanLabel.js"
import { maskLiterals } from "../../explain/PlanHash.js"

export { labelOf, type PlanNodeJson, relationOf, str }

/**
 * A walk over PostgreSQL's `EXPLAIN (FORMAT JSON)` output: every node with where it sits (`Plan.Plans[0].Plans[1]`)
 * and the line PostgreSQL's text format would print for it (`Hash Left Join`, `Seq Scan on orders o`). InitPlans,
 * SubPlans and CTEs are children in `Plans` like any other, marked by their `Parent Relationship`.
 */

export interface PgPlanNode {
  readonly node: PlanNodeJson
  /** `Plan`, `Plan.Plans[0]`, …: where the node sits in the JSON. */
  readonly path: string
  /** What PostgreSQL's text EXPLAIN prints for the node: `Seq Scan on public.orders o`. */
  readonly label: string
  readonly parent: PgPlanNode | undefined
}

const isRecord = (value: unknown): value is PlanNodeJson =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The top plan node of what EXPLAIN returned: `[{ "Plan": … }]`, `{ "Plan": … }`, or a node itself. */
export const planRoot = (plan: unknown): PlanNodeJson | undefined => {
  const top = Array.isArray(plan) ? plan[0] : plan
  if (!isRecord(top)) return undefined
  if (isRecord(top.Plan)) return top.Plan
  return typeof top["Node Type"] === "string" ? top : undefined
}

/** A number of the node, or undefined when the key is absent (plain EXPLAIN has no `Actual …`). */
export const num = (node: PlanNodeJson, key: string): number | undefined => {
  const value = node[key]
  return typeof value === "number" && Number.isFinite(value) ? value : undefined
}

/** Whether the plan node was executed by EXPLAIN ANALYZE (or auto_explain with log_analyze). */
export const hasActuals = (node: PlanNodeJson): boolean => num(node, "Actual Rows") !== undefined

/** The node's children, in order. */
export const children = (node: PlanNodeJson): ReadonlyArray<PlanNodeJson> =>
  Array.isArray(node.Plans) ? node.Plans.filter(isRecord) : []

/** The per-worker details of a parallel node (EXPLAIN VERBOSE / ANALYZE): sorts and hashes report there too. */
export const workers = (node: PlanNodeJson): ReadonlyArray<PlanNodeJson> =>
  Array.isArray(node.Workers) ? node.Workers.filter(isRecord) : []

/** Every node of the plan, depth first, parents before their children. Empty for what is not a PostgreSQL plan. */
export const planNodes = (plan: unknown): ReadonlyArray<PgPlanNode> => {
  const root = planRoot(plan)
  if (root === undefined) return []
  const out: Array<PgPlanNode> = []
  const visit = (node: PlanNodeJson, path: string, parent: PgPlanNode | undefined) => {
    const entry: PgPlanNode = { node, path, label: labelOf(node), parent }
    out.push(entry)
    const kids = children(node)
    for (let i = 0; i < kids.length; i++) visit(kids[i]!, `${path}.Plans[${i}]`, entry)
  }
  visit(root, "Plan", undefined)
  return out
}

/** Where a finding points: `Plan.Plans[0] Seq Scan on orders`. */
export const evidenceOf = (entry: PgPlanNode): string => `${entry.path} ${entry.label}`

/** A condition of the node with its literals masked (`(status = ?)`), for messages that must not carry data. */
export const condition = (node: PlanNodeJson, key: string): string | undefined => {
  const text = str(node, key)
  return text === undefined ? undefined : maskLiterals(text)
}

/** The tables the plan reads or writes, as named in it (`schema.table` only under VERBOSE), each once. */
export const tablesOfPlan = (plan: unknown): ReadonlyArray<{ readonly schema: string | null; readonly table: string }> => {
  const seen = new Set<string>()
  const out: Array<{ readonly schema: string | null; readonly table: string }> = []
  for (const { node } of planNodes(plan)) {
    const table = str(node, "Relation Name")
    if (table === undefined) continue
    const schema = str(node, "Schema") ?? null
    const key = JSON.stringify([schema, table])
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ schema, table })
  }
  return out
}

const FORMAT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const FORMAT_RATIO = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 })

/** `200,000`. */
export const count = (n: number): string => FORMAT.format(n)
/** `12.5`. */
export const ratio = (n: number): string => FORMAT_RATIO.format(n)
