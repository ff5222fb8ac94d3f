// The plans the explain stage stores, in the database's own JSON, read into one tree shape the page draws for both
// dialects: PostgreSQL's EXPLAIN (FORMAT JSON) (`[{ "Plan": { "Node Type", "Plans": […] } }]`), MariaDB's and MySQL's
// EXPLAIN FORMAT=JSON v1 (`query_block` → `nested_loop[]` of `table`, with wrapper nodes: MariaDB's `filesort`,
// `temporary_table`, `block-nl-join`; MySQL's `ordering_operation`, `grouping_operation` with `using_filesort` /
// `using_temporary_table` flags) and MySQL 8.3+'s v2 (`query_plan` → `operation` / `access_type` / `inputs[]`).
// The reading follows the analyzer's walks (plugins/analyze/rules/PostgresPlan.ts and MysqlPlan.ts), rewritten here
// because those import server code (node:crypto through PlanHash.ts) that must not reach the browser; a PostgreSQL
// node's name comes from the same pure module as the analyzer's evidence (src/domain/PostgresPlanLabel.ts).

import { labelOf, relationOf } from "../../../src/domain/PostgresPlanLabel.js"

export type PlanFlag = "full_scan" | "full_index_scan" | "filesort" | "temporary"

export interface PlanNode {
  /** Where the node sits in the JSON: `Plan.Plans[0]`, `query_block.nested_loop[1].table`. */
  readonly path: string
  /** What the database's text EXPLAIN calls it: `Seq Scan on orders o`, `table c`, `filesort`. */
  readonly label: string
  readonly relation: string | undefined
  /** PostgreSQL: the node type of a scan (`Seq Scan`, `Index Scan`); MySQL/MariaDB: `access_type` (`ALL`, `ref`). */
  readonly access: string | undefined
  readonly index: string | undefined
  /** The optimizer's estimate of the rows the node returns (MySQL/MariaDB: rows read per scan). */
  readonly rows: number | undefined
  /** The node's cumulative cost as the plan prints it (PostgreSQL `Total Cost`, MySQL v1 `prefix_cost`, v2 `estimated_total_cost`). */
  readonly cost: number | undefined
  /** Its own share: its cost minus its children's (MySQL v1 tables: read + eval cost). */
  readonly selfCost: number | undefined
  readonly flags: ReadonlyArray<PlanFlag>
  /** Conditions and other facts worth a line: `Filter: (customer = $1)`. */
  readonly details: ReadonlyArray<readonly [string, string]>
  readonly children: ReadonlyArray<PlanNode>
}

export interface NormalizedPlan {
  readonly format: "postgres" | "mariadb" | "mysql_v1" | "mysql_v2"
  readonly root: PlanNode
  /** The path of the node that weighs most: the largest own cost, or without costs (MariaDB) the most rows read. */
  readonly costliest: string | undefined
  /** What `costliest` was judged by. */
  readonly costliestBy: "cost" | "rows" | undefined
}

type Json = Readonly<Record<string, unknown>>

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const num = (node: Json, key: string): number | undefined => {
  const value = node[key]
  if (typeof value === "number" && Number.isFinite(value)) return value
  // MySQL v1 prints costs and `filtered` as strings ("100.00").
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value)
  return undefined
}

const str = (node: Json, key: string): string | undefined => {
  const value = node[key]
  return typeof value === "string" ? value : undefined
}

const sum = (values: ReadonlyArray<number | undefined>) => values.reduce<number>((total, value) => total + (value ?? 0), 0)

// ---------------------------------------------------------------------------------------------------------------------
// PostgreSQL

const PG_DETAILS = [
  "Parent Relationship",
  "Subplan Name",
  "Index Cond",
  "Recheck Cond",
  "Hash Cond",
  "Merge Cond",
  "Join Filter",
  "Filter",
  "Sort Key",
  "Group Key",
  "One-Time Filter"
] as const

const pgNode = (node: Json, path: string): PlanNode => {
  const type = str(node, "Node Type") ?? "?"
  const kids = Array.isArray(node.Plans) ? node.Plans.filter(isRecord) : []
  const children = kids.map((kid, i) => pgNode(kid, `${path}.Plans[${i}]`))
  const cost = num(node, "Total Cost")
  const flags: Array<PlanFlag> = []
  if (type === "Seq Scan") flags.push("full_scan")
  if (type === "Sort" || type === "Incremental Sort") flags.push("filesort")
  if (type === "Materialize" || (type === "Aggregate" && str(node, "Strategy") === "Hashed")) flags.push("temporary")
  const details: Array<readonly [string, string]> = []
  for (const key of PG_DETAILS) {
    const value = node[key]
    if (typeof value === "string") details.push([key, value])
    else if (Array.isArray(value)) details.push([key, value.filter((v) => typeof v === "string").join(", ")])
  }
  const scan = type.endsWith("Scan") ? type : undefined
  return {
    path,
    label: labelOf(node),
    relation: relationOf(node),
    access: scan,
    index: str(node, "Index Name"),
    rows: num(node, "Plan Rows"),
    cost,
    selfCost: cost === undefined ? undefined : Math.max(0, cost - sum(children.map((child) => child.cost))),
    flags,
    details,
    children
  }
}

const pgRoot = (plan: unknown): Json | undefined => {
  const top = Array.isArray(plan) ? plan[0] : plan
  if (!isRecord(top)) return undefined
  if (isRecord(top.Plan)) return top.Plan
  return typeof top["Node Type"] === "string" ? top : undefined
}

// ---------------------------------------------------------------------------------------------------------------------
// MySQL / MariaDB v1 shape: nodes are the objects under known keys; arrays and the objects inside them are passed through.

// Object-valued keys that are facts about a node, not nodes.
const NOT_NODES = new Set(["cost_info", "r_filesort", "used_columns", "range-checked-for-each-record"])

const MYSQL_DETAILS = ["ref", "attached_condition", "sort_key", "join_type", "filtered", "possible_keys", "used_key_parts"] as const

const labelOfKey = (key: string, value: Json): string => {
  switch (key) {
    case "query_block": {
      const id = num(value, "select_id")
      return id === undefined ? "query_block" : `query_block #${id}`
    }
    case "temporary_table":
      return "temporary table"
    case "block-nl-join":
      return `block-nl-join${str(value, "join_type") === undefined ? "" : ` (${str(value, "join_type")})`}`
    default:
      return key.replaceAll("_", " ")
  }
}

const mysqlNodes = (value: unknown, key: string, path: string): Array<PlanNode> => {
  if (Array.isArray(value)) return value.flatMap((item, i) => mysqlNodes(item, key, `${path}[${i}]`))
  if (!isRecord(value)) return []
  const children: Array<PlanNode> = []
  for (const [childKey, child] of Object.entries(value)) {
    if (NOT_NODES.has(childKey)) continue
    children.push(...mysqlNodes(child, childKey, `${path}.${childKey}`))
  }
  // The members of a list (`nested_loop[0]` = `{ "table": … }`) are holders, not nodes.
  if (/\]$/.test(path) && key !== "query_specifications") return children
  if (key === "query_specifications" || key === "subqueries" || key === "attached_subqueries") return children
  const costInfo = isRecord(value.cost_info) ? value.cost_info : undefined
  const tableName = str(value, "table_name")
  const accessType = str(value, "access_type")
  const isTable = key === "table" && tableName !== undefined
  const flags: Array<PlanFlag> = []
  if (isTable && (accessType === "ALL" || accessType === "hash_ALL")) flags.push("full_scan")
  if (isTable && (accessType === "index" || accessType === "hash_index")) flags.push("full_index_scan")
  if (key === "filesort" || key === "read_sorted_file" || value.using_filesort === true) flags.push("filesort")
  if (key === "temporary_table" || value.using_temporary_table === true) flags.push("temporary")
  const details: Array<readonly [string, string]> = []
  for (const detail of MYSQL_DETAILS) {
    const field = value[detail]
    if (typeof field === "string" || typeof field === "number") details.push([detail, String(field)])
    else if (Array.isArray(field)) details.push([detail, field.filter((f) => typeof f === "string").join(", ")])
  }
  const rows = num(value, "rows_examined_per_scan") ?? num(value, "rows")
  const cost =
    (costInfo === undefined ? undefined : (num(costInfo, "prefix_cost") ?? num(costInfo, "query_cost") ?? num(costInfo, "sort_cost"))) ??
    num(value, "cost")
  const own = costInfo === undefined ? undefined : num(costInfo, "read_cost")
  const selfCost = isTable
    ? own === undefined
      ? undefined
      : own + (num(costInfo!, "eval_cost") ?? 0)
    : key === "query_block" || cost === undefined
      ? undefined
      : num(costInfo ?? {}, "sort_cost")
  return [
    {
      path,
      label: isTable ? `table ${tableName}` : labelOfKey(key, value),
      relation: isTable ? tableName : undefined,
      access: isTable ? accessType : undefined,
      index: isTable ? str(value, "key") : undefined,
      rows: isTable ? rows : undefined,
      cost,
      selfCost,
      flags,
      details,
      children
    }
  ]
}

// MySQL v2: the iterator tree.
const v2Node = (node: Json, path: string): PlanNode => {
  const children: Array<PlanNode> = []
  for (const listKey of ["inputs", "inputs_from_select_list"]) {
    const list = node[listKey]
    if (!Array.isArray(list)) continue
    for (const [i, child] of list.entries()) if (isRecord(child)) children.push(v2Node(child, `${path}.${listKey}[${i}]`))
  }
  const accessType = str(node, "access_type")
  const relation = str(node, "table_name") ?? str(node, "alias")
  const flags: Array<PlanFlag> = []
  if (accessType === "table") flags.push("full_scan")
  if (accessType === "index" && str(node, "index_access_type") === "index_scan") flags.push("full_index_scan")
  if (accessType === "sort") flags.push("filesort")
  if (accessType === "temp_table_aggregate" || (accessType === "materialize" && (node.temp_table === true || node.deduplication === true))) {
    flags.push("temporary")
  }
  const cost = num(node, "estimated_total_cost")
  const condition = str(node, "condition")
  return {
    path,
    label: str(node, "operation") ?? accessType ?? "?",
    relation: accessType === "table" || accessType === "index" ? relation : undefined,
    access: accessType,
    index: str(node, "index_name"),
    rows: num(node, "estimated_rows"),
    cost,
    selfCost: cost === undefined ? undefined : Math.max(0, cost - sum(children.map((child) => child.cost))),
    flags,
    details: condition === undefined ? [] : [["condition", condition]],
    children
  }
}

// ---------------------------------------------------------------------------------------------------------------------

const walk = (node: PlanNode, visit: (node: PlanNode) => void) => {
  visit(node)
  for (const child of node.children) walk(child, visit)
}

/** Every node, parents before children. */
export const nodesOf = (root: PlanNode): ReadonlyArray<PlanNode> => {
  const out: Array<PlanNode> = []
  walk(root, (node) => out.push(node))
  return out
}

const heaviest = (root: PlanNode): Pick<NormalizedPlan, "costliest" | "costliestBy"> => {
  const nodes = nodesOf(root)
  const byCost = nodes.filter((node) => node.selfCost !== undefined)
  if (byCost.length > 0) {
    const top = byCost.reduce((best, node) => (node.selfCost! > best.selfCost! ? node : best))
    return { costliest: top.path, costliestBy: "cost" }
  }
  const byRows = nodes.filter((node) => node.rows !== undefined)
  if (byRows.length === 0) return { costliest: undefined, costliestBy: undefined }
  const top = byRows.reduce((best, node) => (node.rows! > best.rows! ? node : best))
  return { costliest: top.path, costliestBy: "rows" }
}

/** The plan as a tree, or undefined for JSON that is no plan of either dialect. Never throws. */
export const normalizePlan = (plan: unknown): NormalizedPlan | undefined => {
  const pg = pgRoot(plan)
  if (pg !== undefined) {
    const root = pgNode(pg, "Plan")
    return { format: "postgres", root, ...heaviest(root) }
  }
  if (!isRecord(plan)) return undefined
  const v2 = isRecord(plan.query_plan) ? plan.query_plan : typeof plan.operation === "string" ? plan : undefined
  if (v2 !== undefined) {
    const root = v2Node(v2, isRecord(plan.query_plan) ? "query_plan" : "$")
    return { format: "mysql_v2", root, ...heaviest(root) }
  }
  if (!isRecord(plan.query_block)) return undefined
  const [root] = mysqlNodes(plan.query_block, "query_block", "query_block")
  if (root === undefined) return undefined
  // MySQL v1 always prints cost_info; MariaDB never does.
  const format = JSON.stringify(plan).includes('"cost_info"') ? "mysql_v1" : "mariadb"
  return { format, root, ...heaviest(root) }
}

// ---------------------------------------------------------------------------------------------------------------------
// Two plans compared: nodes matched by their place (the chain of what each ancestor works on), so a table read another
// way is the same node changed, and a node of one plan only is an addition or a removal.

export type NodeChange = "only" | "access" | "rows"

/** What differs for each node of `plan` from `other`, by path: `only` (no match), `access` (read another way), `rows` (estimate off by 2× or more). */
export const diffPlans = (plan: PlanNode, other: PlanNode): ReadonlyMap<string, ReadonlyArray<NodeChange>> => {
  const keyed = (root: PlanNode) => {
    const out = new Map<string, PlanNode>()
    const visit = (node: PlanNode, parentKey: string, seen: Map<string, number>) => {
      const signature = node.relation === undefined ? node.label : `table ${node.relation}`
      const n = seen.get(signature) ?? 0
      seen.set(signature, n + 1)
      const key = `${parentKey}/${signature}#${n}`
      out.set(key, node)
      const childSeen = new Map<string, number>()
      for (const child of node.children) visit(child, key, childSeen)
    }
    visit(root, "", new Map())
    return out
  }
  const mine = keyed(plan)
  const theirs = keyed(other)
  const changes = new Map<string, ReadonlyArray<NodeChange>>()
  for (const [key, node] of mine) {
    const match = theirs.get(key)
    if (match === undefined) {
      changes.set(node.path, ["only"])
      continue
    }
    const found: Array<NodeChange> = []
    if (node.access !== match.access || node.index !== match.index) found.push("access")
    if (node.rows !== undefined && match.rows !== undefined) {
      const [low, high] = node.rows < match.rows ? [node.rows, match.rows] : [match.rows, node.rows]
      if (high >= 2 * Math.max(low, 1)) found.push("rows")
    }
    if (found.length > 0) changes.set(node.path, found)
  }
  return changes
}
