import { maskLiterals } from "../../explain/PlanHash.js"

/**
 * A walk over MySQL/MariaDB `EXPLAIN FORMAT=JSON` output, in its three shapes, down to what the plan rules look at:
 * the table accesses, the sorts, the temporary tables, the dependent subqueries and the hash joins, each with where
 * it sits in the JSON.
 *
 * - MariaDB (10.x/11.x, sql_explain.cc): `query_block` → `nested_loop[]` of `table` / `block-nl-join` /
 *   `read_sorted_file`; ORDER BY and GROUP BY as wrapper nodes (`filesort`, `temporary_table`) around the join;
 *   estimates in `rows`; subqueries under `subqueries[]`, wrapped in `expression_cache` or `materialization`. MariaDB
 *   prints no `dependent` flag (its writer has it commented out as TODO), so a subquery is dependent when it sits in a
 *   subquery cache (MariaDB only caches correlated subqueries) or when its conditions name a table of an outer block.
 * - MySQL v1 (5.6 to 9.x, `explain_json_format_version=1`): `query_block` → `table` / `nested_loop[]`, with
 *   `ordering_operation` / `grouping_operation` / `duplicates_removal` carrying `using_filesort` and
 *   `using_temporary_table` flags; estimates in `rows_examined_per_scan` / `rows_produced_per_join`; join buffering
 *   as `using_join_buffer` on the table; subqueries with `dependent` / `cacheable` flags (MySQL 8.4 Reference Manual,
 *   10.8.2 "EXPLAIN Output Format", the JSON Name column of its tables).
 * - MySQL v2 (8.3+, `explain_json_format_version=2`, the default from 9.5): the iterator tree, `{ query, query_plan:
 *   node }` or the root node itself, each node an `operation` with `access_type` (`table`, `index`, `join`, `sort`,
 *   `filter`, `temp_table_aggregate`, `materialize`, …), `estimated_rows` and `inputs[]` (MySQL 8.4 Reference Manual,
 *   15.8.2 "EXPLAIN Statement", Obtaining Execution Plan Information; the vocabulary is the server's
 *   sql/join_optimizer/explain_access_path.cc). It has no `possible_keys`.
 *
 * Internal tables (`<derived2>`, `<subquery2>`, `<union1,2>`, `<temporary>`) are reported as accesses but flagged: no
 * index can be added to them; their own query blocks are walked like any other.
 */

export type MysqlPlanFormat = "mariadb" | "mysql_v1" | "mysql_v2"

type Json = Readonly<Record<string, unknown>>

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const num = (node: Json, key: string): number | undefined => {
  const value = node[key]
  if (typeof value === "number" && Number.isFinite(value)) return value
  // MySQL v1 prints `filtered` and costs as strings ("100.00").
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value)
  return undefined
}

const str = (node: Json, key: string): string | undefined => {
  const value = node[key]
  return typeof value === "string" ? value : undefined
}

const strings = (node: Json, key: string): ReadonlyArray<string> => {
  const value = node[key]
  if (typeof value === "string") return [value]
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []
}

/** How a table is read, reduced to what the rules ask. */
export type ScanKind = "full" | "full_index" | "lookup"

export interface TableAccess {
  /** Where the node sits: `query_block.nested_loop[1].block-nl-join.table`, `query_plan.inputs[0]`. */
  readonly path: string
  readonly table: string
  /** `<derived2>`, `<subquery2>`, `<temporary>`: a table the server made, which no index can be added to. */
  readonly internal: boolean
  /** As printed: `ALL`, `hash_ALL`, `index`, `ref`, … (v2: `table`, `index`). */
  readonly accessType: string
  readonly scan: ScanKind
  /** Rows read per scan: MariaDB `rows`, MySQL v1 `rows_examined_per_scan`, v2 `estimated_rows`. */
  readonly rows: number | undefined
  /** Rows left after the join so far (v1 `rows_produced_per_join`); MariaDB: `rows` × `filtered` / 100. */
  readonly rowsOut: number | undefined
  /**
   * The percentage of the rows read that the table's conditions keep, as the optimizer estimates it (MariaDB and v1
   * `filtered`); undefined on v2, which does not print it. 100 under a condition often means "no estimate" (MariaDB
   * without a histogram or an index on the column), not "keeps every row".
   */
  readonly filtered: number | undefined
  /** undefined: the format does not say (v2). */
  readonly possibleKeys: ReadonlyArray<string> | undefined
  /** The index used; MariaDB's hash-join pseudo key (`#hash#$hj`) is no index and reads as undefined. */
  readonly key: string | undefined
  /** Index lookup references (`test.c.id`, `const`, `func`); empty when the table is not read by an index lookup. */
  readonly ref: ReadonlyArray<string>
  /** How the join reads it through a join buffer: `BNL`, `BNLH`, `BKA` (MariaDB), `Block Nested Loop`, `hash join` (v1), `hash` (v2). */
  readonly joinBuffer: string | undefined
  /** 0 for the first table of its join; > 0 for a table joined to the ones before it. */
  readonly joinPosition: number
  /** A WHERE or join condition is checked on the rows read (`attached_condition`, a v2 `filter` above it). */
  readonly hasCondition: boolean
  /** How many query blocks (subqueries, derived tables) enclose it: 0 for the top block. */
  readonly depth: number
}

/** A sort, a temporary table or a dependent subquery: a node above some tables. */
export interface PlanOperation {
  readonly path: string
  /** The node as the evidence names it: `filesort`, `Sort`, `select #2`. */
  readonly label: string
  /** Rows estimated to flow into it; undefined when the plan does not say. */
  readonly rows: number | undefined
  /** The tables read beneath it (for a subquery: inside it, nested blocks included). */
  readonly tables: ReadonlyArray<TableAccess>
}

export interface DependentSubquery extends PlanOperation {
  readonly selectId: number | undefined
  /** How it is known: the server's flag, MariaDB's subquery cache, or a condition naming an outer table. */
  readonly because: "flag" | "expression_cache" | "outer_reference"
}

/** A v2 hash join: both sides are read in full, neither by an index on the join columns. */
export interface HashJoin {
  readonly path: string
  readonly probe: ReadonlyArray<TableAccess>
  readonly build: ReadonlyArray<TableAccess>
}

export interface MysqlPlanView {
  readonly format: MysqlPlanFormat
  readonly tables: ReadonlyArray<TableAccess>
  readonly sorts: ReadonlyArray<PlanOperation>
  readonly temporaryTables: ReadonlyArray<PlanOperation>
  readonly dependentSubqueries: ReadonlyArray<DependentSubquery>
  readonly hashJoins: ReadonlyArray<HashJoin>
}

/** The v2 root node, or undefined when the plan is not v2. */
const v2Root = (plan: Json): Json | undefined => {
  if (isRecord(plan.query_plan)) return plan.query_plan
  return typeof plan.operation === "string" && typeof plan.access_type === "string" ? plan : undefined
}

/** Which of the three shapes the plan is; undefined for anything else (a PostgreSQL plan, a refusal, garbage). */
export const planFormat = (plan: unknown): MysqlPlanFormat | undefined => {
  if (!isRecord(plan)) return undefined
  if (v2Root(plan) !== undefined) return "mysql_v2"
  if (!isRecord(plan.query_block)) return undefined
  // MySQL v1 always prints cost_info; MariaDB never does.
  return JSON.stringify(plan).includes('"cost_info"') ? "mysql_v1" : "mariadb"
}

const isInternal = (table: string) => table.startsWith("<")

const scanOf = (accessType: string): ScanKind => {
  // MariaDB's hash join variants (hash_ALL, hash_index, …) read the table the same way, into a hash table.
  const plain = accessType.startsWith("hash_") ? accessType.slice(5) : accessType
  if (plain === "ALL") return "full"
  if (plain === "index") return "full_index"
  return "lookup"
}

/** Rows a MariaDB join produces: the product of each table's rows × filtered. */
const joinOutput = (tables: ReadonlyArray<TableAccess>): number | undefined => {
  if (tables.length === 0) return undefined
  let product = 1
  for (const table of tables) {
    if (table.rowsOut === undefined) return undefined
    product *= table.rowsOut
  }
  return product
}

// ---------------------------------------------------------------------------------------------------------------
// MariaDB and MySQL v1

interface Frame {
  readonly depth: number
  readonly joinPosition: number
  readonly joinBuffer: string | undefined
  readonly wrapperCondition: boolean
}

/** Subtrees whose temporary table is the nature of the node, not a choice the optimizer made for ORDER/GROUP BY. */
const INHERENT_TEMPORARY = new Set(["union_result", "materialized_from_subquery", "recursive_union"])

/** MariaDB/v1 keys whose strings are conditions or lookup references (where an outer table may be named). */
const isConditionKey = (key: string) => key.endsWith("condition") || key === "ref"

const walkBlocks = (plan: Json, format: "mariadb" | "mysql_v1"): MysqlPlanView => {
  const tables: Array<TableAccess> = []
  const sorts: Array<PlanOperation> = []
  const temporaryTables: Array<PlanOperation> = []
  const candidates: Array<{ op: Omit<DependentSubquery, "because">; because: DependentSubquery["because"] | undefined; conditions: Array<string> }> = []

  interface Collected {
    readonly tables: Array<TableAccess>
    readonly conditions: Array<string>
  }

  const operation = (path: string, label: string, depth: number, below: Collected): PlanOperation => {
    const own = below.tables.filter((table) => table.depth === depth)
    const last = own[own.length - 1]
    // v1's rows_produced_per_join of the last table is the join's output; MariaDB's needs the product.
    const rows =
      format === "mysql_v1" ? (last === undefined ? undefined : last.rowsOut) : joinOutput(own)
    return { path, label, rows: rows === undefined ? undefined : Math.round(rows), tables: own }
  }

  const visit = (value: unknown, path: string, key: string, frame: Frame): Collected => {
    const collected: Collected = { tables: [], conditions: [] }
    const merge = (child: Collected) => {
      collected.tables.push(...child.tables)
      collected.conditions.push(...child.conditions)
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        // A join's own list gives positions (MariaDB's semi-join `duplicates_removal` continues the join it sits in);
        // the other arrays' members start joins of their own (query blocks).
        const joinPosition =
          key === "nested_loop" ? i : key === "duplicates_removal" ? frame.joinPosition + i : frame.joinPosition
        merge(visit(item, `${path}[${i}]`, key, { ...frame, joinPosition }))
      })
      return collected
    }
    if (!isRecord(value)) {
      if (typeof value === "string" && isConditionKey(key)) collected.conditions.push(value)
      return collected
    }

    let inner: Frame = frame
    if (key === "query_block") {
      inner = { depth: frame.depth + 1, joinPosition: 0, joinBuffer: undefined, wrapperCondition: false }
    }
    if (key === "block-nl-join") {
      inner = {
        ...frame,
        joinBuffer: str(value, "join_type") ?? "BNL",
        wrapperCondition: typeof value.attached_condition === "string"
      }
    }

    const tableName = str(value, "table_name")
    const accessType = str(value, "access_type")
    let access: TableAccess | undefined
    if (tableName !== undefined && accessType !== undefined && key !== "union_result" && key !== "recursive_union") {
      const rows = num(value, "rows_examined_per_scan") ?? num(value, "rows")
      const printedFiltered = num(value, "filtered")
      const filtered = printedFiltered ?? 100
      const produced = num(value, "rows_produced_per_join")
      const key_ = str(value, "key")
      access = {
        path,
        table: tableName,
        // MySQL v1 names a derived table by its alias; what it reads is a materialization all the same.
        internal: isInternal(tableName) || isRecord(value.materialized_from_subquery) || isRecord(value.materialized),
        accessType,
        scan: scanOf(accessType),
        rows,
        rowsOut: produced ?? (rows === undefined ? undefined : (rows * filtered) / 100),
        filtered: printedFiltered,
        possibleKeys: strings(value, "possible_keys"),
        key: key_ === undefined || key_.startsWith("#hash#") ? undefined : key_,
        ref: accessType.startsWith("hash_") ? [] : strings(value, "ref"),
        joinBuffer: str(value, "using_join_buffer") ?? frame.joinBuffer,
        joinPosition: frame.joinPosition,
        hasCondition: typeof value.attached_condition === "string" || frame.wrapperCondition,
        depth: frame.depth
      }
      tables.push(access)
      collected.tables.push(access)
      // What hangs below a table (a derived table's block, attached subqueries) is a join of its own.
      inner = { ...frame, joinPosition: 0, joinBuffer: undefined, wrapperCondition: false }
    }

    for (const [childKey, child] of Object.entries(value)) {
      merge(visit(child, `${path}.${childKey}`, childKey, inner))
    }

    if (format === "mariadb") {
      if (key === "filesort") sorts.push(operation(path, "filesort", frame.depth, collected))
      if (key === "temporary_table") temporaryTables.push(operation(path, "temporary table", frame.depth, collected))
      if (key === "window_functions_computation") {
        // The window sorts are printed apart from the rows they sort (the sibling temporary table).
        sorts.forEach((sort, i) => {
          if (sort.tables.length === 0 && sort.path.startsWith(`${path}.sorts`)) {
            sorts[i] = operation(sort.path, sort.label, frame.depth, collected)
          }
        })
      }
      if (key === "expression_cache" || (path.match(/\.subqueries\[\d+\]$/) !== null && isRecord(value.query_block))) {
        const block = isRecord(value.query_block) ? value.query_block : undefined
        if (block !== undefined) {
          const selectId = num(block, "select_id")
          candidates.push({
            op: { path, label: `select #${selectId ?? "?"}`, rows: undefined, tables: collected.tables, selectId },
            because: key === "expression_cache" ? "expression_cache" : undefined,
            conditions: collected.conditions
          })
        }
      }
    } else {
      if (value.using_filesort === true) sorts.push(operation(path, key, frame.depth, collected))
      if (value.using_temporary_table === true && !INHERENT_TEMPORARY.has(key)) {
        temporaryTables.push(operation(path, key, frame.depth, collected))
      }
      if (value.dependent === true) {
        const block = isRecord(value.query_block) ? value.query_block : value
        const selectId = num(block, "select_id")
        candidates.push({
          op: { path, label: `select #${selectId ?? "?"}`, rows: undefined, tables: collected.tables, selectId },
          because: "flag",
          conditions: []
        })
      }
    }
    return collected
  }

  visit(plan.query_block, "query_block", "query_block", { depth: -1, joinPosition: 0, joinBuffer: undefined, wrapperCondition: false })

  const dependentSubqueries: Array<DependentSubquery> = []
  for (const candidate of candidates) {
    let because = candidate.because
    if (because === undefined) {
      const own = new Set(candidate.op.tables.map((table) => table.table))
      const outer = new Set(tables.filter((table) => !candidate.op.tables.includes(table)).map((table) => table.table))
      const named = candidate.conditions.flatMap(qualifiers)
      if (named.some((name) => outer.has(name) && !own.has(name))) because = "outer_reference"
    }
    if (because === undefined) continue
    const rows = candidate.op.tables.reduce<number | undefined>(
      (max, table) => (table.rows === undefined ? max : Math.max(max ?? 0, table.rows)),
      undefined
    )
    dependentSubqueries.push({ ...candidate.op, rows, because })
  }
  return { format, tables, sorts, temporaryTables, dependentSubqueries, hashJoins: [] }
}

const isIdentifierChar = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c)

/**
 * The table qualifiers a condition names: `c` of `c.id`, `c`.`id`, and of `test.c.id` (lookup references name the
 * database first). Literals are masked first, so a quoted `'a.b'` names nothing.
 */
export const qualifiers = (condition: string): ReadonlyArray<string> => {
  const text = maskLiterals(condition)
  const out: Array<string> = []
  let i = 0
  while (i < text.length) {
    const chain: Array<string> = []
    for (;;) {
      let part = ""
      if (text[i] === "`") {
        let j = i + 1
        while (j < text.length) {
          if (text[j] === "`" && text[j + 1] === "`") {
            part += "`"
            j += 2
            continue
          }
          if (text[j] === "`") break
          part += text[j]
          j++
        }
        i = j + 1
      } else if (i < text.length && isIdentifierChar(text[i]!) && (i === 0 || !isIdentifierChar(text[i - 1]!))) {
        let j = i
        while (j < text.length && isIdentifierChar(text[j]!)) j++
        part = text.slice(i, j)
        i = j
      } else {
        break
      }
      chain.push(part)
      if (text[i] !== ".") break
      i++
    }
    if (chain.length >= 2) out.push(chain[chain.length - 2]!)
    if (chain.length === 0) i++
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// MySQL v2

interface V2Frame {
  readonly depth: number
  readonly joinPosition: number
  readonly joinBuffer: string | undefined
  readonly filtered: boolean
}

/** What v2 evidence calls a node: built from fields that carry no literals, or the operation with literals masked. */
const v2Label = (node: Json): string => {
  const heading = str(node, "heading")
  if (heading !== undefined) return heading
  const table = str(node, "alias") ?? str(node, "table_name")
  switch (str(node, "access_type")) {
    case "table":
      return `Table scan on ${table ?? "?"}`
    case "index": {
      const index = str(node, "index_name") ?? "?"
      return str(node, "index_access_type") === "index_scan"
        ? `Index scan on ${table ?? "?"} using ${index}`
        : `Index access on ${table ?? "?"} using ${index}`
    }
    case "sort":
      return "Sort"
    case "temp_table_aggregate":
      return "Aggregate using temporary table"
    default:
      return maskLiterals(str(node, "operation") ?? str(node, "access_type") ?? "?")
  }
}

const walkV2 = (root: Json, rootPath: string): MysqlPlanView => {
  const tables: Array<TableAccess> = []
  const sorts: Array<PlanOperation> = []
  const temporaryTables: Array<PlanOperation> = []
  const dependentSubqueries: Array<DependentSubquery> = []
  const hashJoins: Array<HashJoin> = []

  const op = (node: Json, path: string, below: ReadonlyArray<TableAccess>, depth: number): PlanOperation => {
    const own = below.filter((table) => table.depth === depth)
    const first = Array.isArray(node.inputs) && isRecord(node.inputs[0]) ? node.inputs[0] : undefined
    // What flows in: a sort keeps its input's count, a temporary-table aggregate outputs only the groups.
    const rows = (first === undefined ? undefined : num(first, "estimated_rows")) ?? num(node, "estimated_rows")
    return { path, label: v2Label(node), rows: rows === undefined ? undefined : Math.round(rows), tables: own }
  }

  const visit = (node: Json, path: string, frame: V2Frame): Array<TableAccess> => {
    const accessType = str(node, "access_type") ?? ""
    const startsBlock = node.subquery === true || accessType === "materialize"
    const here: V2Frame = startsBlock ? { depth: frame.depth + 1, joinPosition: 0, joinBuffer: undefined, filtered: false } : frame
    const below: Array<TableAccess> = []

    const tableName = str(node, "alias") ?? str(node, "table_name")
    if (tableName !== undefined && (accessType === "table" || accessType === "index")) {
      const scan: ScanKind =
        accessType === "table" ? "full" : str(node, "index_access_type") === "index_scan" ? "full_index" : "lookup"
      const rows = num(node, "estimated_rows")
      const materialized =
        Array.isArray(node.inputs) && node.inputs.some((input) => isRecord(input) && input.access_type === "materialize")
      const access: TableAccess = {
        path,
        table: tableName,
        // A scan of a derived table or CTE carries its alias; the Materialize below it says what it is.
        internal: isInternal(tableName) || materialized,
        accessType,
        scan,
        rows,
        rowsOut: rows,
        filtered: undefined,
        possibleKeys: undefined,
        key: str(node, "index_name"),
        ref: scan === "lookup" ? strings(node, "key_columns") : [],
        joinBuffer: here.joinBuffer,
        joinPosition: here.joinPosition,
        hasCondition: here.filtered,
        depth: here.depth
      }
      tables.push(access)
      below.push(access)
    }

    const childFrame = (i: number): V2Frame => {
      if (accessType === "join") {
        const algorithm = str(node, "join_algorithm")
        if (i === 0) return { ...here, filtered: false }
        // The inner side is read once per outer row (nested loop) or into a hash table; BKA reads it by index.
        return { ...here, joinPosition: 1, joinBuffer: algorithm === "hash" ? "hash" : undefined, filtered: true }
      }
      if (accessType === "filter") return { ...here, filtered: true }
      return here
    }
    for (const listKey of ["inputs", "inputs_from_select_list"]) {
      const list = node[listKey]
      if (!Array.isArray(list)) continue
      list.forEach((child, i) => {
        if (isRecord(child)) below.push(...visit(child, `${path}.${listKey}[${i}]`, listKey === "inputs" ? childFrame(i) : here))
      })
    }

    if (accessType === "sort") sorts.push(op(node, path, below, here.depth))
    const setOperation = node.union === true || node.except === true || node.intersect === true || node.cte === true
    if (
      accessType === "temp_table_aggregate" ||
      (accessType === "materialize" && !setOperation && (node.temp_table === true || node.deduplication === true))
    ) {
      // A materialize node opens its own block; what it fills the temporary table with is that block.
      temporaryTables.push(op(node, path, below, here.depth))
    }
    if (accessType === "join" && str(node, "join_algorithm") === "hash" && Array.isArray(node.inputs)) {
      const under = (i: number) => (t: TableAccess) => t.depth === here.depth && `${t.path}.`.startsWith(`${path}.inputs[${i}].`)
      const sides = node.inputs.map((_, i) => below.filter(under(i)))
      hashJoins.push({ path, probe: sides[0] ?? [], build: sides[1] ?? [] })
    }
    if (node.dependent === true) {
      const heading = str(node, "heading") ?? ""
      const match = /Select #(\d+)/.exec(heading)
      const rows = below.reduce<number | undefined>((max, t) => (t.rows === undefined ? max : Math.max(max ?? 0, t.rows)), undefined)
      dependentSubqueries.push({
        path,
        label: match === null ? "dependent subquery" : `select #${match[1]}`,
        rows,
        tables: below,
        selectId: match === null ? undefined : Number(match[1]),
        because: "flag"
      })
    }
    return below
  }

  visit(root, rootPath, { depth: 0, joinPosition: 0, joinBuffer: undefined, filtered: false })
  return { format: "mysql_v2", tables, sorts, temporaryTables, dependentSubqueries, hashJoins }
}

/** The plan's table accesses and operations; undefined when it is not a MySQL/MariaDB JSON plan. Never throws. */
export const readMysqlPlan = (plan: unknown): MysqlPlanView | undefined => {
  const format = planFormat(plan)
  if (format === undefined || !isRecord(plan)) return undefined
  if (format === "mysql_v2") {
    const root = v2Root(plan)!
    return walkV2(root, isRecord(plan.query_plan) ? "query_plan" : "$")
  }
  return walkBlocks(plan, format)
}

/** How the evidence names a table node: `query_block.nested_loop[1].table[o]`, `query_plan.inputs[0] Table scan on o`. */
export const tableEvidence = (format: MysqlPlanFormat, access: TableAccess): string =>
  format === "mysql_v2"
    ? `${access.path} ${access.scan === "full" ? "Table scan" : access.scan === "full_index" ? "Index scan" : "Index access"} on ${access.table}${access.key === undefined ? "" : ` using ${access.key}`}`
    : `${access.path}[${access.table}]`

/** The distinct table names of a list, in order: `o, c`. */
export const tableNames = (tables: ReadonlyArray<TableAccess>): string => {
  const names: Array<string> = []
  for (const table of tables) if (!names.includes(table.table)) names.push(table.table)
  return names.join(", ")
}

const FORMAT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
/** `20,000`. */
export const count = (n: number): string => FORMAT.format(n)
