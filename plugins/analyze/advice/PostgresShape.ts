import { MAX_PARSER_INPUT, parsePostgres } from "../../../src/fingerprint/PostgresFingerprint.js"
import type { ColumnUse, ColumnUseKind, StatementShape, TableRef } from "./IndexCandidates.js"

/**
 * The shape of a PostgreSQL statement (tables, and which columns it tests how) from libpg_query's parse tree. Load
 * the parser first (`loadPostgresParser`). Only what an index can serve is taken: conjuncts of WHERE and JOIN … ON
 * of the form `column op value`, `value op column` or `column = column`, `column IN (…)`, `column BETWEEN …`,
 * `column IS NULL`, and plain columns in ORDER BY / GROUP BY. A disjunction, a function or cast on the column, LIKE
 * (a b-tree serves it only under the C collation or a pattern opclass) give nothing. Subqueries, CTEs and set
 * operations are scopes of their own; a qualified column may name a table of an enclosing scope.
 *
 * Returns undefined for text the parser refuses.
 */

type Node = Record<string, unknown>
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v)
const child = (node: unknown, key: string): Node | undefined => {
  if (!isNode(node)) return undefined
  const v = node[key]
  return isNode(v) ? v : undefined
}
const list = (node: unknown, key: string): ReadonlyArray<unknown> => {
  if (!isNode(node)) return []
  const v = node[key]
  return Array.isArray(v) ? v : []
}
const str = (node: unknown, key: string): string | undefined => {
  if (!isNode(node)) return undefined
  const v = node[key]
  return typeof v === "string" ? v : undefined
}

interface Scope {
  /** alias or table name → table index */
  readonly names: Map<string, number>
  /** tables of this scope, for unqualified columns */
  readonly own: Array<number>
  readonly parent: Scope | undefined
  readonly ctes: ReadonlySet<string>
}

const RANGE_OPS = new Set(["<", ">", "<=", ">="])

export const postgresShape = (sql: string): StatementShape | undefined => {
  if (sql.length > MAX_PARSER_INPUT) return undefined
  let tree: unknown
  try {
    tree = parsePostgres(sql)
  } catch {
    return undefined
  }
  const tables: Array<TableRef> = []
  const uses: Array<ColumnUse> = []

  const lookupCte = (scope: Scope | undefined, name: string): boolean =>
    scope !== undefined && (scope.ctes.has(name) || lookupCte(scope.parent, name))

  const addTable = (scope: Scope, rangeVar: Node) => {
    const name = str(rangeVar, "relname")
    if (name === undefined) return
    const schema = str(rangeVar, "schemaname") ?? null
    if (schema === null && lookupCte(scope, name)) return
    const index = tables.length
    tables.push({ schema, name })
    scope.own.push(index)
    const alias = str(child(rangeVar, "alias"), "aliasname")
    scope.names.set(alias ?? name, index)
  }

  /** The table(s) a column reference may belong to, and the column; undefined when it is not a plain column. */
  const resolve = (scope: Scope, node: unknown): { column: string; tables: ReadonlyArray<number> } | undefined => {
    const ref = child(node, "ColumnRef")
    if (ref === undefined) return undefined
    const fields = list(ref, "fields").map((f) => str(child(f, "String"), "sval"))
    if (fields.some((f) => f === undefined) || fields.length === 0 || fields.length > 3) return undefined
    const names = fields as ReadonlyArray<string>
    const column = names[names.length - 1]!
    if (names.length === 1) return { column, tables: [...scope.own] }
    const qualifier = names[names.length - 2]!
    for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
      const found = s.names.get(qualifier)
      if (found !== undefined) return { column, tables: [found] }
    }
    return undefined
  }

  /** A value an index lookup can use: a constant, a parameter, either cast. */
  const isValue = (node: unknown): boolean => {
    if (child(node, "A_Const") !== undefined || child(node, "ParamRef") !== undefined) return true
    const cast = child(node, "TypeCast")
    return cast !== undefined && isValue(cast.arg)
  }

  const use = (kind: ColumnUseKind, target: { column: string; tables: ReadonlyArray<number> }) =>
    uses.push({ kind, column: target.column, tables: target.tables })

  const conjuncts = (scope: Scope, node: unknown) => {
    const bool = child(node, "BoolExpr")
    if (bool !== undefined) {
      if (bool.boolop === "AND_EXPR") for (const arg of list(bool, "args")) conjuncts(scope, arg)
      else subqueries(scope, node)
      return
    }
    const nullTest = child(node, "NullTest")
    if (nullTest !== undefined) {
      const target = resolve(scope, nullTest.arg)
      if (target !== undefined && nullTest.nulltesttype === "IS_NULL") use("eq", target)
      return
    }
    const expr = child(node, "A_Expr")
    if (expr === undefined) {
      subqueries(scope, node)
      return
    }
    const op = str(child(list(expr, "name")[0], "String"), "sval")
    const left = resolve(scope, expr.lexpr)
    const right = resolve(scope, expr.rexpr)
    switch (expr.kind) {
      case "AEXPR_OP":
        if (op === "=") {
          if (left !== undefined && right !== undefined) {
            use("eq", left)
            use("eq", right)
          } else if (left !== undefined && isValue(expr.rexpr)) use("eq", left)
          else if (right !== undefined && isValue(expr.lexpr)) use("eq", right)
        } else if (op !== undefined && RANGE_OPS.has(op)) {
          if (left !== undefined && isValue(expr.rexpr)) use("range", left)
          else if (right !== undefined && isValue(expr.lexpr)) use("range", right)
        }
        break
      case "AEXPR_IN":
        if (op === "=" && left !== undefined && list(child(expr.rexpr, "List"), "items").every(isValue)) use("eq", left)
        break
      case "AEXPR_BETWEEN":
        if (left !== undefined && list(child(expr.rexpr, "List"), "items").every(isValue)) use("range", left)
        break
    }
    subqueries(scope, node)
  }

  /** Subqueries anywhere below `node` (EXISTS, IN (SELECT …), scalar): scopes of their own. */
  const subqueries = (scope: Scope, node: unknown) => {
    if (Array.isArray(node)) {
      for (const item of node) subqueries(scope, item)
      return
    }
    if (!isNode(node)) return
    const link = child(node, "SubLink")
    if (link !== undefined) {
      statement(link.subselect, scope)
      return
    }
    for (const value of Object.values(node)) subqueries(scope, value)
  }

  const fromItem = (scope: Scope, item: unknown) => {
    const rangeVar = child(item, "RangeVar")
    if (rangeVar !== undefined) return addTable(scope, rangeVar)
    const join = child(item, "JoinExpr")
    if (join !== undefined) {
      fromItem(scope, join.larg)
      fromItem(scope, join.rarg)
      if (join.quals !== undefined) conjuncts(scope, join.quals)
      const using = list(join, "usingClause").map((u) => str(child(u, "String"), "sval"))
      const sides = [join.larg, join.rarg].map((side) => {
        const rv = child(side, "RangeVar")
        const name = rv === undefined ? undefined : (str(child(rv, "alias"), "aliasname") ?? str(rv, "relname"))
        return name === undefined ? undefined : scope.names.get(name)
      })
      for (const column of using) {
        if (column === undefined) continue
        for (const side of sides) if (side !== undefined) uses.push({ kind: "eq", column, tables: [side] })
      }
      return
    }
    const sub = child(item, "RangeSubselect")
    if (sub !== undefined) statement(sub.subquery, scope)
  }

  const ordering = (scope: Scope, items: ReadonlyArray<unknown>) => {
    for (const item of items) {
      const sortBy = child(item, "SortBy")
      const target = resolve(scope, sortBy === undefined ? item : sortBy.node)
      if (target !== undefined) use("order", target)
    }
  }

  const newScope = (parent: Scope | undefined, withClause: unknown): Scope => {
    const ctes = new Set<string>()
    const scope: Scope = { names: new Map(), own: [], parent, ctes }
    for (const cte of list(withClause, "ctes")) {
      const common = child(cte, "CommonTableExpr")
      const name = str(common, "ctename")
      if (name !== undefined) ctes.add(name)
      // Named before its query is read: inside it (WITH RECURSIVE) the name is the CTE too, never a table.
      statement(common?.ctequery, scope)
    }
    return scope
  }

  const statement = (node: unknown, parent: Scope | undefined): void => {
    const select = child(node, "SelectStmt")
    if (select !== undefined) {
      const scope = newScope(parent, select.withClause)
      if (select.op !== undefined && select.op !== "SETOP_NONE") {
        statement({ SelectStmt: select.larg }, scope)
        statement({ SelectStmt: select.rarg }, scope)
        return
      }
      for (const item of list(select, "fromClause")) fromItem(scope, item)
      if (select.whereClause !== undefined) conjuncts(scope, select.whereClause)
      ordering(scope, list(select, "groupClause"))
      ordering(scope, list(select, "sortClause"))
      subqueries(scope, select.targetList)
      return
    }
    const update = child(node, "UpdateStmt")
    const del = child(node, "DeleteStmt")
    const dml = update ?? del
    if (dml !== undefined) {
      const scope = newScope(parent, dml.withClause)
      const relation = child(dml, "relation")
      if (relation !== undefined) addTable(scope, relation)
      for (const item of list(dml, update === undefined ? "usingClause" : "fromClause")) fromItem(scope, item)
      if (dml.whereClause !== undefined) conjuncts(scope, dml.whereClause)
      return
    }
    const explain = child(node, "ExplainStmt")
    if (explain !== undefined) statement(explain.query, parent)
  }

  const stmts = list(tree, "stmts")
  if (stmts.length !== 1) return undefined
  statement(child(stmts[0], "stmt"), undefined)
  return { tables, uses }
}
