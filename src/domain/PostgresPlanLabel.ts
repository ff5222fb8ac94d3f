/**
 * The line PostgreSQL's text EXPLAIN prints for a node of its `EXPLAIN (FORMAT JSON)` output (explain.c):
 * `Hash Left Join`, `Seq Scan on orders o`, `Index Scan Backward using orders_pkey on public.orders`. Pure, with no
 * import: the analyzer's evidence and the dashboard's plan tree name nodes with it, so the two always agree.
 */

export type PlanNodeJson = Readonly<Record<string, unknown>>

export const str = (node: PlanNodeJson, key: string): string | undefined => {
  const value = node[key]
  return typeof value === "string" ? value : undefined
}

/** `schema.table` when the plan names the schema (VERBOSE), else `table`. */
export const relationOf = (node: PlanNodeJson): string | undefined => {
  const relation = str(node, "Relation Name")
  if (relation === undefined) return undefined
  const schema = str(node, "Schema")
  return schema === undefined ? relation : `${schema}.${relation}`
}

const JOIN_SUFFIX: Readonly<Record<string, string>> = {
  Left: " Left Join",
  Right: " Right Join",
  Full: " Full Join",
  Semi: " Semi Join",
  Anti: " Anti Join",
  "Right Anti": " Right Anti Join"
}

const AGGREGATE_NAME: Readonly<Record<string, string>> = {
  Plain: "Aggregate",
  Sorted: "GroupAggregate",
  Hashed: "HashAggregate",
  Mixed: "MixedAggregate"
}

/** The node's name as PostgreSQL's text format prints it, with the relation or index it works on. */
export const labelOf = (node: PlanNodeJson): string => {
  const type = str(node, "Node Type") ?? "?"
  let name = type
  const joinType = str(node, "Join Type")
  if (type === "Aggregate") {
    name = AGGREGATE_NAME[str(node, "Strategy") ?? "Plain"] ?? type
    const partial = str(node, "Partial Mode")
    if (partial === "Partial" || partial === "Finalize") name = `${partial} ${name}`
  } else if (type === "SetOp") {
    name = str(node, "Strategy") === "Hashed" ? "HashSetOp" : "SetOp"
  } else if (type === "ModifyTable") {
    name = str(node, "Operation") ?? type
  } else if (joinType !== undefined && (type === "Nested Loop" || type === "Hash Join" || type === "Merge Join")) {
    const suffix = JOIN_SUFFIX[joinType]
    if (suffix !== undefined) name = `${type === "Nested Loop" ? type : type.slice(0, -" Join".length)}${suffix}`
  }
  if (node["Parallel Aware"] === true) name = `Parallel ${name}`
  if ((type === "Index Scan" || type === "Index Only Scan") && str(node, "Scan Direction") === "Backward") name += " Backward"
  const index = str(node, "Index Name")
  if (index !== undefined && type !== "Bitmap Index Scan") name += ` using ${index}`
  else if (index !== undefined) name += ` on ${index}`
  const relation = relationOf(node)
  const target = relation ?? str(node, "CTE Name") ?? str(node, "Function Name") ?? str(node, "Table Function Name")
  if (target !== undefined) {
    name += ` on ${target}`
    const alias = str(node, "Alias")
    if (alias !== undefined && alias !== str(node, "Relation Name") && alias !== target) name += ` ${alias}`
  } else if (type === "Subquery Scan") {
    const alias = str(node, "Alias")
    if (alias !== undefined) name += ` on ${alias}`
  }
  return name
}
