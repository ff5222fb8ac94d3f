import type { Finding } from "../../../src/plugin/Finding.js"
import { type AnyRule, type Rule, ruleFinding, type StatementInput } from "./Rule.js"
import {
  type Block,
  clauseRange,
  hasClause,
  isWord,
  operatorAt,
  punct,
  type Shape,
  shapeOf,
  textOf
} from "./StatementShape.js"
import { T_NUMBER, T_OPERATOR, T_PARAM, T_QUOTED_IDENT, T_STRING, T_WORD } from "../../../src/fingerprint/SqlLexer.js"

/**
 * Rules over a statement's text, both dialects. Text comes as collected: with real literals (slow logs), `?`
 * (pt-query-digest fingerprints) or `$1` (pg_stat_statements); a rule that needs a literal's value (a LIKE pattern,
 * an OFFSET) finds nothing when the value is a placeholder, rather than guessing.
 */

const finding = (
  rule: { readonly id: string; readonly severity: Finding["severity"] },
  message: string,
  evidence: string,
  advice: string,
  reduction?: number
): Finding => ruleFinding(rule.id, rule.severity, message, evidence, advice, reduction)

const fmt = (n: number): string => n.toLocaleString("en-US")

// Words that are not column references where a column could stand.
const NOT_COLUMNS = new Set([
  "and",
  "or",
  "not",
  "is",
  "null",
  "true",
  "false",
  "unknown",
  "in",
  "like",
  "ilike",
  "similar",
  "to",
  "between",
  "symmetric",
  "escape",
  "case",
  "when",
  "then",
  "else",
  "end",
  "exists",
  "any",
  "some",
  "all",
  "distinct",
  "from",
  "interval",
  "with",
  "without",
  "time",
  "zone",
  "at",
  "collate",
  "current_date",
  "current_time",
  "current_timestamp",
  "localtime",
  "localtimestamp",
  "current_user",
  "session_user",
  "binary",
  "as",
  "regexp",
  "rlike",
  "div",
  "mod"
])

// Words followed by `(` that are no function call.
const NOT_FUNCTIONS = new Set(["in", "exists", "any", "some", "all", "array", "row", "values", "not", "and", "or", "is", "over", "filter", "as", "using", "on"])

const isName = (s: Shape, i: number): boolean => s.kinds[i] === T_WORD || s.kinds[i] === T_QUOTED_IDENT

const isSubqueryOpen = (s: Shape, i: number): boolean =>
  punct(s, i, "(") && s.match[i]! > i && (isWord(s, i + 1, "select") || isWord(s, i + 1, "with"))

const isFunctionCall = (s: Shape, i: number): boolean =>
  isName(s, i) && punct(s, i + 1, "(") && !(s.kinds[i] === T_WORD && NOT_FUNCTIONS.has(s.words[i]!))

/** A word that stands for a column here (not a keyword, function, type or interval unit). */
const isColumn = (s: Shape, i: number): boolean => {
  if (s.kinds[i] === T_QUOTED_IDENT) return !punct(s, i + 1, "(") && !punct(s, i + 1, ".")
  if (s.kinds[i] !== T_WORD) return false
  const w = s.words[i]!
  if (NOT_COLUMNS.has(w)) return false
  // A function's name, or the qualifier of `t.col` (the column is the last part).
  if (punct(s, i + 1, "(") || punct(s, i + 1, ".")) return false
  // A typed literal (`DATE '2024-01-01'`), a cast's type (`::date`, `AS date`), MySQL's `INTERVAL 7 DAY` unit.
  if (i + 1 < s.count && s.kinds[i + 1] === T_STRING) return false
  if (i >= 1 && s.kinds[i - 1] === T_OPERATOR && s.sql.charCodeAt(s.starts[i - 1]!) === 58) return false
  if (isWord(s, i - 1, "as")) return false
  if (isWord(s, i - 2, "interval")) return false
  // The field of `EXTRACT(year FROM col)`.
  if (isWord(s, i - 2, "extract") && punct(s, i - 1, "(")) return false
  return true
}

/** Column references in [from, to), outside subqueries. */
const columnsIn = (s: Shape, from: number, to: number): Array<number> => {
  const out: Array<number> = []
  for (let i = from; i < to; i++) {
    if (isSubqueryOpen(s, i)) {
      i = s.match[i]!
      continue
    }
    if (isColumn(s, i)) out.push(i)
  }
  return out
}

/** A qualified name `a.b.c` ending at column token `i`: the index of its first part. */
const nameStart = (s: Shape, i: number): number => {
  let k = i
  while (k >= 2 && punct(s, k - 1, ".") && isName(s, k - 2)) k -= 2
  return k
}

interface Piece {
  readonly from: number
  readonly to: number
}

/**
 * The predicates of a boolean expression [from, to) at paren depth `d`: split at AND/OR (the AND of a BETWEEN stays),
 * leading NOTs dropped, parenthesized groups opened. `orSeen` tells whether any OR joined them (then none of them
 * alone has to hold for a row).
 */
const predicates = (s: Shape, from: number, to: number): { pieces: Array<Piece>; orSeen: boolean } => {
  const pieces: Array<Piece> = []
  let orSeen = false
  const split = (a: number, b: number, d: number): void => {
    let start = a
    let between = false
    const push = (x: number, y: number): void => {
      while (x < y && isWord(s, x, "not")) x++
      if (x >= y) return
      if (punct(s, x, "(") && s.match[x] === y - 1 && !isSubqueryOpen(s, x)) {
        // A group: open it, unless it is a row constructor (`(a, b) = (1, 2)` is not wholly parenthesized anyway).
        split(x + 1, y - 1, d + 1)
        return
      }
      pieces.push({ from: x, to: y })
    }
    for (let i = a; i < b; i++) {
      if (s.depth[i] !== d || s.kinds[i] !== T_WORD) continue
      const w = s.words[i]
      if (w === "between") between = true
      else if (w === "and" && between) between = false
      else if (w === "and" || w === "or") {
        if (w === "or") orSeen = true
        push(start, i)
        start = i + 1
      }
    }
    push(start, b)
  }
  if (from < to) split(from, to, s.depth[from]!)
  return { pieces, orSeen }
}

const COMPARISONS = new Set(["=", "<", ">", "<=", ">=", "<>", "!=", "<=>"])
const WORD_OPERATORS = new Set(["like", "ilike", "in", "between", "is", "similar", "regexp", "rlike"])

/** The comparison of a predicate: [opStart, opEnd) at the predicate's own depth, or undefined. */
const comparisonOf = (s: Shape, p: Piece): { readonly at: number; readonly next: number; readonly op: string } | undefined => {
  const d = s.depth[p.from]!
  for (let i = p.from; i < p.to; i++) {
    if (s.depth[i] !== d) continue
    if (s.kinds[i] === T_OPERATOR) {
      const o = operatorAt(s, i)!
      if (COMPARISONS.has(o.op)) return { at: i, next: o.next, op: o.op }
      i = o.next - 1
      continue
    }
    if (s.kinds[i] !== T_WORD) continue
    const w = s.words[i]!
    if (w === "not" && i + 1 < p.to && WORD_OPERATORS.has(s.words[i + 1]!)) return { at: i, next: i + 2, op: `not ${s.words[i + 1]}` }
    if (WORD_OPERATORS.has(w)) return { at: i, next: i + 1, op: w }
  }
  return undefined
}

const ARITHMETIC = new Set(["+", "-", "*", "/", "%", "||", "::"])

/** How an operand hides its column from an index: `date()` around it, arithmetic or a cast; undefined when bare. */
const wrapping = (s: Shape, from: number, to: number): { readonly how: string; readonly column: string } | undefined => {
  for (let i = from; i < to; i++) {
    if (isSubqueryOpen(s, i)) {
      i = s.match[i]!
      continue
    }
    if (isFunctionCall(s, i)) {
      const close = s.match[i + 1]!
      const cols = columnsIn(s, i + 2, close > 0 ? close : to)
      if (cols.length > 0) {
        const c = cols[0]!
        return { how: `${s.sql.slice(s.starts[i]!, s.ends[i]!)}()`, column: textOf(s, nameStart(s, c), c + 1) }
      }
    }
  }
  const cols = columnsIn(s, from, to)
  if (cols.length === 0) return undefined
  for (let i = from; i < to; i++) {
    if (isSubqueryOpen(s, i)) {
      i = s.match[i]!
      continue
    }
    const o = operatorAt(s, i)
    if (o === undefined) continue
    if (ARITHMETIC.has(o.op)) {
      const c = cols[0]!
      return { how: o.op === "::" ? "a cast" : `arithmetic (${o.op})`, column: textOf(s, nameStart(s, c), c + 1) }
    }
    i = o.next - 1
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// FROM lists

interface TableRef {
  /** Its name as written (`shop.orders`), or `(subquery)`. */
  readonly name: string
  /** What its columns are qualified with: the alias, or the last part of the name; lowercased. */
  readonly qualifier: string
  readonly join: "first" | "comma" | "inner" | "left" | "right" | "full" | "cross"
  /** Tokens [from, to) of the join keyword through the alias, for evidence. */
  readonly from: number
  readonly to: number
}

const JOIN_START = new Set(["join", "left", "right", "full", "inner", "cross", "natural", "straight_join", "outer"])
// Words after a table reference that are no alias.
const NOT_ALIAS = new Set([
  ...JOIN_START,
  "on",
  "using",
  "where",
  "group",
  "order",
  "having",
  "limit",
  "offset",
  "fetch",
  "for",
  "window",
  "union",
  "except",
  "intersect",
  "minus",
  "use",
  "force",
  "ignore",
  "partition",
  "tablesample",
  "lock",
  "into",
  "set",
  "returning",
  "procedure"
])

const isJoinStart = (s: Shape, i: number): boolean =>
  s.kinds[i] === T_WORD && JOIN_START.has(s.words[i]!) && !punct(s, i + 1, "(")

// MySQL index hints (`USE INDEX (…)`, `FORCE INDEX FOR JOIN (…)`) and `PARTITION (…)`, around a table's alias.
const skipHints = (s: Shape, from: number, to: number): number => {
  let i = from
  while (i < to && (isWord(s, i, "use") || isWord(s, i, "force") || isWord(s, i, "ignore") || isWord(s, i, "partition"))) {
    while (i < to && !punct(s, i, "(")) i++
    if (i < to && s.match[i]! > i) i = s.match[i]! + 1
    else break
  }
  return i
}

const tablesOf = (s: Shape, from: number, to: number): Array<TableRef> => {
  const refs: Array<TableRef> = []
  const d = from < to ? s.depth[from]! : 0
  let i = from
  let join: TableRef["join"] = "first"
  let joinFrom = from
  while (i < to) {
    while (i < to && (isWord(s, i, "lateral") || isWord(s, i, "only"))) i++
    if (i >= to) break
    let name: string
    let last = ""
    if (punct(s, i, "(")) {
      name = isSubqueryOpen(s, i) ? "(subquery)" : textOf(s, i, Math.max(s.match[i]!, i) + 1)
      i = s.match[i]! > i ? s.match[i]! + 1 : i + 1
    } else if (isName(s, i)) {
      const start = i
      last = s.words[i]!
      while (punct(s, i + 1, ".") && isName(s, i + 2)) {
        i += 2
        last = s.words[i]!
      }
      i++
      if (punct(s, i, "(") && s.match[i]! > i) i = s.match[i]! + 1
      name = textOf(s, start, i)
    } else {
      break
    }
    let qualifier = last
    i = skipHints(s, i, to)
    if (isWord(s, i, "as")) i++
    if (i < to && isName(s, i) && !(s.kinds[i] === T_WORD && NOT_ALIAS.has(s.words[i]!))) {
      qualifier = s.words[i]!
      i++
      if (punct(s, i, "(") && s.match[i]! > i) i = s.match[i]! + 1
    }
    i = skipHints(s, i, to)
    refs.push({ name, qualifier, join, from: joinFrom, to: i })
    // The join condition, then the next join or comma.
    while (i < to && !(s.depth[i] === d && (punct(s, i, ",") || isJoinStart(s, i)))) i++
    if (i >= to) break
    joinFrom = i
    if (punct(s, i, ",")) {
      join = "comma"
      i++
      continue
    }
    join = "inner"
    while (i < to && isJoinStart(s, i)) {
      const w = s.words[i]!
      if (w === "left" || w === "right" || w === "full" || w === "cross") join = w
      i++
    }
  }
  return refs
}

/** Qualifiers whose columns are NULL on the rows an outer join adds, with the join that makes them so. */
const nullableSides = (refs: ReadonlyArray<TableRef>): Map<string, TableRef> => {
  const out = new Map<string, TableRef>()
  refs.forEach((ref, k) => {
    if (ref.join === "left" || ref.join === "full") out.set(ref.qualifier, ref)
    if (ref.join === "right" || ref.join === "full") for (let j = 0; j < k; j++) out.set(refs[j]!.qualifier, ref)
  })
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Rules

const selectBlocks = (s: Shape): ReadonlyArray<Block> => s.blocks.filter((b) => b.kind === "select")

const SELECT_MODIFIERS = new Set([
  "distinct",
  "all",
  "distinctrow",
  "sql_calc_found_rows",
  "sql_no_cache",
  "sql_cache",
  "straight_join",
  "high_priority",
  "sql_small_result",
  "sql_big_result",
  "sql_buffer_result"
])

export const selectStar: Rule<StatementInput, {}> = {
  id: "stmt_select_star",
  severity: "info",
  dialects: ["mysql", "postgres"],
  description:
    "SELECT * (or t.*) returns every column: more bytes read and sent, no index-only scan, and a result that changes shape when a column is added.",
  thresholds: {},
  // Naming the columns saves bytes and sometimes allows an index-only read; the rows read stay the same, so little time
  // goes.
  reduction: 0.05,
  check: (input) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      if (b.inExists) continue
      const list = clauseRange(b, "select")
      const fromAt = b.clauses.find((c) => c.name === "from")?.at
      if (list === undefined || fromAt === undefined) continue
      for (let i = list[0]; i < list[1]; i++) {
        if (s.depth[i] !== b.depth || s.kinds[i] !== T_OPERATOR || s.sql.charCodeAt(s.starts[i]!) !== 42) continue
        const prev = i - 1
        const starts =
          prev === b.start ||
          punct(s, prev, ",") ||
          punct(s, prev, ".") ||
          (s.kinds[prev] === T_WORD && SELECT_MODIFIERS.has(s.words[prev]!))
        const next = i + 1
        if (!starts || !(next === list[1] || punct(s, next, ","))) continue
        const itemStart = punct(s, prev, ".") ? nameStart(s, prev - 1) : i
        const star = textOf(s, itemStart, i + 1)
        const refs = tablesOf(s, fromAt + 1, clauseRange(b, "from")![1])
        // `o.*` reads the columns of o only.
        const qualifier = punct(s, prev, ".") ? s.words[prev - 1]! : undefined
        const of = qualifier === undefined ? refs : refs.filter((r) => r.qualifier === qualifier)
        const tables = (of.length > 0 ? of : refs).map((t) => t.name)
        out.push(
          finding(
            selectStar,
            `SELECT ${star} returns every column of ${tables.join(", ")}`,
            `SELECT ${star} FROM ${tables.join(", ")}`,
            "Name the columns the caller uses; an index that holds them all can then answer without reading the table."
          )
        )
        break
      }
    }
    return out
  }
}

/** Real tables in a FROM list: not `dual`, not only derived tables, VALUES or table functions. */
const realTables = (s: Shape, b: Block): Array<TableRef> => {
  const range = clauseRange(b, "from")
  if (range === undefined) return []
  return tablesOf(s, range[0], range[1]).filter(
    (t) => t.name !== "(subquery)" && !t.name.startsWith("(") && !t.name.endsWith(")") && t.name.toLowerCase() !== "dual"
  )
}

// Words before the `(` of a subquery whose rows are read as a table: derived tables, CTE bodies, set operations.
const READING_CONTEXTS = new Set(["from", "join", "lateral", "as", "materialized", "union", "except", "intersect", "minus", "all", "distinct"])

export const selectWithoutWhere: Rule<StatementInput, {}> = {
  id: "stmt_select_without_where",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "A SELECT that reads a table with neither WHERE nor LIMIT reads all of it on every call; a SELECT with no FROM (`SELECT 1`, `SELECT now()`) reads nothing and is not reported.",
  thresholds: {},
  // A WHERE or LIMIT the caller really needs cuts the rows read, but how many the caller wants is not in the text;
  // often the whole table is wanted, so less than half.
  reduction: 0.3,
  check: (input) => {
    const s = shapeOf(input)
    // A missing WHERE may be in the part of a cut-off text that was lost.
    if (s.verb !== "select" || s.truncated) return []
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      if (hasClause(b, "where") || hasClause(b, "limit") || hasClause(b, "fetch")) continue
      // The statement's own blocks, derived tables and CTEs read what they select; a subquery in an expression
      // (`IN (SELECT id FROM blocked)`, a scalar subquery) is a lookup the plan may turn into a join: not reported.
      if (b.depth > 0 && b.start >= 2 && !READING_CONTEXTS.has(s.words[b.start - 2]!)) continue
      const tables = realTables(s, b)
      if (tables.length === 0) continue
      const names = tables.map((t) => t.name).join(", ")
      const range = clauseRange(b, "from")!
      out.push(
        finding(
          selectWithoutWhere,
          `SELECT from ${names} has no WHERE and no LIMIT: all ${tables.length === 1 ? "its rows are" : "their rows are"} read`,
          `FROM ${textOf(s, range[0], range[1])} (no WHERE)`,
          "Filter in SQL rather than in the application, or bound the result with LIMIT; if the whole table is really wanted, read it in keyset pages off the hot path."
        )
      )
    }
    return out
  }
}

const DML_MODIFIERS = new Set(["low_priority", "ignore", "only", "quick"])

/** What an UPDATE or DELETE writes, as written: after UPDATE up to SET, or DELETE's FROM list. */
const dmlTarget = (s: Shape, b: Block): string => {
  const r = clauseRange(b, b.kind === "update" ? "update" : "from")
  if (r === undefined) return textOf(s, b.start + 1, b.end)
  let from = r[0]
  while (from < r[1] && s.kinds[from] === T_WORD && DML_MODIFIERS.has(s.words[from]!)) from++
  return textOf(s, from, r[1])
}

export const dmlWithoutWhere: Rule<StatementInput, {}> = {
  id: "stmt_dml_without_where",
  severity: "crit",
  dialects: ["mysql", "postgres"],
  description: "An UPDATE or DELETE with no WHERE (and no LIMIT) writes every row of its table, holding locks on all of them.",
  thresholds: {},
  // Writing only the rows meant to change skips most of the writes and locks, when the full-table change was a mistake;
  // when deliberate, batching spreads rather than removes the work. Half.
  reduction: 0.5,
  check: (input) => {
    const s = shapeOf(input)
    if (s.truncated) return []
    const b = s.blocks.find((x) => x.kind !== "select" && x.depth === 0 && x.kind === s.verb)
    if (b === undefined || hasClause(b, "where") || hasClause(b, "limit")) return []
    // MySQL's `UPDATE a JOIN b ON … SET` and `DELETE a FROM a JOIN b ON …` write only the rows the inner join
    // matches; PostgreSQL's `UPDATE … FROM s` and `DELETE … USING s` with no WHERE are cross joins: every row.
    const targets = (["update", "from", "using"] as const).flatMap((name) => {
      const r = clauseRange(b, name)
      return r === undefined ? [] : tablesOf(s, r[0], r[1])
    })
    if (targets.some((t) => t.join === "inner")) return []
    // The target: after UPDATE (and its modifiers) up to SET; after DELETE's FROM up to the next clause.
    const target = dmlTarget(s, b)
    const verb = b.kind === "update" ? "UPDATE" : "DELETE"
    return [
      finding(
        dmlWithoutWhere,
        `${verb} of ${target} has no WHERE: every row is ${b.kind === "update" ? "updated" : "deleted"}`,
        b.kind === "update" ? `UPDATE ${target} SET … (no WHERE)` : `DELETE FROM ${target} (no WHERE)`,
        b.kind === "update"
          ? "Add the WHERE the change is meant for; a deliberate full-table change belongs in a batched migration."
          : "Add the WHERE the delete is meant for; to empty a table use TRUNCATE, to purge use batches by key range."
      )
    ]
  }
}

/** The string literal's body when token `i` is one: strips E/N/B/_charset prefixes and the quotes. */
const stringBody = (s: Shape, i: number): string | undefined => {
  if (i >= s.count || s.kinds[i] !== T_STRING) return undefined
  const raw = s.sql.slice(s.starts[i]!, s.ends[i]!)
  const q = raw.search(/['"]/)
  return q < 0 ? undefined : raw.slice(q + 1, -1)
}

/** The start of the operand that ends at token `i` (a qualified name, a function call or a parenthesized group). */
const operandStart = (s: Shape, i: number): number => {
  if (punct(s, i, ")") && s.match[i]! >= 0) {
    const open = s.match[i]!
    return open >= 1 && isName(s, open - 1) ? nameStart(s, open - 1) : open
  }
  return isName(s, i) ? nameStart(s, i) : i
}

export const leadingWildcardLike: Rule<StatementInput, {}> = {
  id: "stmt_like_leading_wildcard",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "A LIKE pattern that starts with `%` cannot use a B-tree index on the column: every row is read and matched. Placeholders (`?`, `$1`) are not judged.",
  thresholds: {},
  // A trigram (PostgreSQL) or FULLTEXT index turns the read-and-match of every row into an index search; the rows
  // matched still cost their share.
  reduction: 0.5,
  check: (input) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (let i = 0; i < s.count; i++) {
      if (!(isWord(s, i, "like") || isWord(s, i, "ilike"))) continue
      let p = i + 1
      // `CONCAT('%', ?)` (MySQL) or `'%' || $1` (PostgreSQL) start with the pattern's first piece too.
      if (s.kinds[p] === T_WORD && s.words[p] === "concat" && punct(s, p + 1, "(")) p += 2
      const body = stringBody(s, p)
      if (body === undefined || !body.startsWith("%")) continue
      const not = isWord(s, i - 1, "not")
      const leftEnd = not ? i - 2 : i - 1
      const leftStart = operandStart(s, leftEnd)
      let end = p + 1
      if (p !== i + 1 && s.match[i + 2]! > i + 2) end = s.match[i + 2]! + 1
      else {
        const o = operatorAt(s, end)
        if (o?.op === "||" && o.next < s.count) end = o.next + 1
      }
      const operand = textOf(s, leftStart, leftEnd + 1)
      const clause = textOf(s, leftStart, end)
      out.push(
        finding(
          leadingWildcardLike,
          `${operand} ${not ? "NOT " : ""}${s.words[i]!.toUpperCase()} with a leading %: no index on ${operand} can narrow it, every row is matched`,
          clause,
          input.dialect === "postgres"
            ? "Anchor the pattern at the start, or index the column with a pg_trgm GIN index (gin_trgm_ops) that serves infix matches."
            : "Anchor the pattern at the start, store the reversed value for suffix searches, or use a FULLTEXT index for words."
        )
      )
    }
    return out
  }
}

export const orderByRandom: Rule<StatementInput, {}> = {
  id: "stmt_order_by_rand",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "ORDER BY RAND() (MySQL) / random() (PostgreSQL) computes a random value for every qualifying row and sorts them all, however small the LIMIT.",
  thresholds: {},
  // Picking random keys by index replaces a sort of every qualifying row by a few lookups: most of the time, when the
  // table is not tiny.
  reduction: 0.6,
  check: (input) => {
    const s = shapeOf(input)
    const fn = input.dialect === "mysql" ? "rand" : "random"
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      const r = clauseRange(b, "order")
      if (r === undefined) continue
      for (let i = r[0]; i < r[1]; i++) {
        if (s.depth[i] !== b.depth || !isWord(s, i, fn) || !punct(s, i + 1, "(")) continue
        const close = s.match[i + 1]! > i ? s.match[i + 1]! : i + 1
        const limit = clauseRange(b, "limit")
        const limitText = limit === undefined ? "" : ` LIMIT ${textOf(s, limit[0], limit[1])}`
        const call = textOf(s, i, close + 1)
        out.push(
          finding(
            orderByRandom,
            `ORDER BY ${call}${limitText}: every qualifying row is given a random key and sorted${limit === undefined ? "" : `, to keep ${textOf(s, limit[0], limit[1])}`}`,
            `ORDER BY ${textOf(s, r[0], r[1])}${limitText}`,
            input.dialect === "mysql"
              ? "Pick random ids in the application (or a random id range with an indexed `WHERE id >= ?` and LIMIT) instead of sorting the table."
              : "Use TABLESAMPLE SYSTEM/BERNOULLI, or pick random keys and fetch them by index, instead of sorting the table."
          )
        )
        break
      }
    }
    return out
  }
}

const numberAt = (s: Shape, i: number): number | undefined => {
  if (i >= s.count || s.kinds[i] !== T_NUMBER) return undefined
  const n = Number(s.sql.slice(s.starts[i]!, s.ends[i]!))
  return Number.isFinite(n) ? n : undefined
}

export const largeOffset: Rule<StatementInput, { readonly min_offset: number }> = {
  id: "stmt_large_offset",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "A large OFFSET reads and throws away every skipped row: page 1,000 costs a thousand pages. Placeholders are not judged.",
  thresholds: { min_offset: 1000 },
  // Keyset pagination reads only the rows returned: the check computes offset ÷ (offset + rows) when it knows both;
  // without the row count, half.
  reduction: 0.5,
  check: (input, t) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      const limit = clauseRange(b, "limit")
      const offset = clauseRange(b, "offset")
      let value: number | undefined
      let rows: number | undefined
      let evidence = ""
      if (limit !== undefined && punct(s, limit[0] + 1, ",")) {
        // MySQL's `LIMIT offset, count`.
        value = numberAt(s, limit[0])
        rows = numberAt(s, limit[0] + 2)
        evidence = `LIMIT ${textOf(s, limit[0], limit[1])}`
      } else if (offset !== undefined) {
        value = numberAt(s, offset[0])
        rows = limit === undefined ? undefined : numberAt(s, limit[0])
        const fetch = clauseRange(b, "fetch")
        const limitAt = b.clauses.find((c) => c.name === "limit")?.at
        const offsetAt = b.clauses.find((c) => c.name === "offset")!.at
        if (fetch !== undefined && rows === undefined) {
          for (let i = fetch[0]; i < fetch[1]; i++) {
            rows = numberAt(s, i)
            if (rows !== undefined) break
          }
        }
        const from = limitAt !== undefined && limitAt < offsetAt ? limitAt : offsetAt
        const to = fetch !== undefined ? fetch[1] : limitAt !== undefined && limitAt > offsetAt ? limit![1] : offset[1]
        evidence = textOf(s, from, to)
      }
      if (value === undefined || value < t.min_offset) continue
      out.push(
        finding(
          largeOffset,
          `OFFSET ${fmt(value)} (threshold ${fmt(t.min_offset)}): ${rows === undefined ? `${fmt(value)} rows are read and thrown away` : `${fmt(value + rows)} rows are read to return ${fmt(rows)}`}`,
          evidence,
          "Page by key instead (keyset pagination: `WHERE (sort_key, id) > (last seen) ORDER BY sort_key, id LIMIT n`), which reads only the rows it returns.",
          // Keyset pagination reads the rows returned instead of the skipped ones too.
          rows === undefined ? undefined : value / (value + rows)
        )
      )
    }
    return out
  }
}

/** The WHERE predicates of every block of the statement (subqueries included), each with its block. */
const wherePredicates = (s: Shape): Array<{ readonly block: Block; readonly piece: Piece; readonly orSeen: boolean }> => {
  const out: Array<{ block: Block; piece: Piece; orSeen: boolean }> = []
  for (const b of s.blocks) {
    const w = clauseRange(b, "where")
    if (w === undefined) continue
    const { pieces, orSeen } = predicates(s, w[0], w[1])
    for (const piece of pieces) out.push({ block: b, piece, orSeen })
  }
  return out
}

export const functionOnColumn: Rule<StatementInput, {}> = {
  id: "stmt_function_on_column",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "A WHERE condition that compares a function of a column, arithmetic on it or a cast of it with a constant cannot use an index on the column.",
  thresholds: {},
  // Rewriting on the bare column helps only when an index on it exists or is added, and the condition is selective; the
  // text does not say whether.
  reduction: 0.3,
  check: (input) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (const { piece } of wherePredicates(s)) {
      const cmp = comparisonOf(s, piece)
      if (cmp === undefined) continue
      const left = { from: piece.from, to: cmp.at }
      const right = { from: cmp.next, to: piece.to }
      // Only column-versus-constant: in a join condition (columns on both sides) the index is on the other side.
      const leftCols = columnsIn(s, left.from, left.to).length
      const rightCols = columnsIn(s, right.from, right.to).length
      const side = leftCols > 0 && rightCols === 0 ? left : rightCols > 0 && leftCols === 0 ? right : undefined
      if (side === undefined) continue
      const w = wrapping(s, side.from, side.to)
      if (w === undefined) continue
      out.push(
        finding(
          functionOnColumn,
          `${w.how} applied to ${w.column} in WHERE: an index on ${w.column} cannot be used for this condition`,
          `WHERE ${textOf(s, piece.from, piece.to)}`,
          input.dialect === "postgres"
            ? "Rewrite the condition on the bare column (a date range instead of date(), the arithmetic on the constant side), or index the expression itself."
            : "Rewrite the condition on the bare column (a date range instead of DATE(), the arithmetic on the constant side), or index the expression (a generated column, or a functional index on MySQL 8.0.13+)."
        )
      )
    }
    return out
  }
}

export const inSubquery: Rule<StatementInput, {}> = {
  id: "stmt_in_subquery",
  severity: "warn",
  dialects: ["mysql"],
  description:
    "[NOT] IN (SELECT …) on MySQL/MariaDB may run as a dependent subquery once per outer row (always for NOT IN on older servers and in UPDATE/DELETE).",
  thresholds: {},
  // A dependent subquery re-run per outer row is costly, but MariaDB and MySQL 8 often turn IN (SELECT …) into a semi-
  // join already: the plan rule mysql_dependent_subquery sees when they do not.
  reduction: 0.3,
  check: (input) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (let i = 0; i + 1 < s.count; i++) {
      if (!isWord(s, i, "in") || !isSubqueryOpen(s, i + 1)) continue
      const not = isWord(s, i - 1, "not")
      const leftEnd = not ? i - 2 : i - 1
      const leftStart = operandStart(s, leftEnd)
      const sub = { from: i + 2, to: s.match[i + 1]! }
      const inner = s.blocks.find((b) => b.start === sub.from || (b.start > sub.from && b.start < sub.to))
      const tables = inner === undefined ? [] : realTables(s, inner).map((t) => t.name)
      const op = not ? "NOT IN" : "IN"
      out.push(
        finding(
          inSubquery,
          `${op} (SELECT … FROM ${tables.join(", ") || "…"}) may be run once per row of the outer query`,
          `${textOf(s, leftStart, leftEnd + 1)} ${op} (SELECT … FROM ${tables.join(", ") || "…"})`,
          not
            ? "Rewrite as NOT EXISTS (SELECT 1 … WHERE inner.key = outer.key), or as a LEFT JOIN … WHERE inner.key IS NULL."
            : "Rewrite as a JOIN (with DISTINCT if needed) or EXISTS, and check EXPLAIN shows no DEPENDENT SUBQUERY."
        )
      )
    }
    return out
  }
}

export const longInList: Rule<StatementInput, { readonly max_items: number }> = {
  id: "stmt_long_in_list",
  severity: "info",
  dialects: ["mysql", "postgres"],
  description:
    "An IN list longer than the threshold: each item is a separate index probe and the statement's text (and its plan cache entry) grows with the list. Fingerprints that fold lists (`IN(?+)`) are not judged.",
  thresholds: { max_items: 10 },
  // Each item is an index probe whichever way the values are sent; what an array parameter or a join saves is parsing
  // and planning.
  reduction: 0.05,
  check: (input, t) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (let i = 0; i + 1 < s.count; i++) {
      if (!isWord(s, i, "in") || !punct(s, i + 1, "(") || isSubqueryOpen(s, i + 1)) continue
      const close = s.match[i + 1]!
      if (close < 0) continue
      let items = close > i + 2 ? 1 : 0
      for (let k = i + 2; k < close; k++) if (s.depth[k] === s.depth[i + 1]! + 1 && punct(s, k, ",")) items++
      if (items <= t.max_items) continue
      const not = isWord(s, i - 1, "not")
      const leftEnd = not ? i - 2 : i - 1
      const operand = textOf(s, operandStart(s, leftEnd), leftEnd + 1)
      const first = textOf(s, i + 2, (() => {
        let k = i + 2
        while (k < close && !(s.depth[k] === s.depth[i + 1]! + 1 && punct(s, k, ","))) k++
        return k
      })())
      out.push(
        finding(
          longInList,
          `IN list of ${fmt(items)} items on ${operand} (threshold ${fmt(t.max_items)})`,
          `${operand} ${not ? "NOT IN" : "IN"} (${first}, … ${fmt(items)} items)`,
          input.dialect === "postgres"
            ? "Pass the values as one array parameter (`= ANY($1::bigint[])`) or join a VALUES list / temporary table."
            : "Join a temporary table of the values, or send the list in batches; keep it under eq_range_index_dive_limit so estimates stay exact."
        )
      )
    }
    return out
  }
}

export const limitWithoutOrderBy: Rule<StatementInput, {}> = {
  id: "stmt_limit_without_order_by",
  severity: "info",
  dialects: ["mysql", "postgres"],
  description:
    "LIMIT without ORDER BY returns whichever rows the plan meets first: pages overlap or skip rows, and the answer changes with the plan. Existence checks (`SELECT 1 … LIMIT 1`) are not reported.",
  thresholds: {},
  // A correctness finding: an ORDER BY makes pages stable, it does not make the query faster.
  reduction: 0,
  check: (input) => {
    const s = shapeOf(input)
    if (s.truncated) return []
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      if (b.inExists || hasClause(b, "order") || !hasClause(b, "from")) continue
      const limit = clauseRange(b, "limit") ?? clauseRange(b, "fetch")
      if (limit === undefined) continue
      const list = clauseRange(b, "select")!
      // `SELECT 1 FROM … LIMIT 1` asks whether a row exists: any row will do.
      if (list[1] - list[0] === 1 && (s.kinds[list[0]] === T_NUMBER || s.kinds[list[0]] === T_PARAM)) continue
      const keyword = b.clauses.find((c) => c.name === "limit" || c.name === "fetch")!
      const text = textOf(s, keyword.at, limit[1])
      const tables = realTables(s, b).map((x) => x.name)
      out.push(
        finding(
          limitWithoutOrderBy,
          `${text} without ORDER BY${tables.length > 0 ? ` on ${tables.join(", ")}` : ""}: which rows come back depends on the plan`,
          `${text} (no ORDER BY)`,
          "Add an ORDER BY on a unique key (or ending with one) so pages are stable; an index on it lets the server stop after LIMIT rows."
        )
      )
    }
    return out
  }
}

// Predicates that keep the NULL rows of an outer join, so the join stays outer.
const NULL_TOLERANT_FUNCTIONS = new Set(["coalesce", "ifnull", "isnull", "nvl", "nullif", "if", "case"])

export const outerJoinNullified: Rule<StatementInput, {}> = {
  id: "stmt_outer_join_in_where",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "A WHERE condition on a column of the outer-joined (nullable) table other than IS NULL discards the NULL rows the outer join adds: the join is inner in effect, and the query may not mean what it says.",
  thresholds: {},
  // A correctness finding: both servers already plan such a join as inner, so writing it inner changes the meaning
  // stated, not the time.
  reduction: 0,
  check: (input) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      const from = clauseRange(b, "from")
      const where = clauseRange(b, "where")
      if (from === undefined || where === undefined) continue
      const nullable = nullableSides(tablesOf(s, from[0], from[1]))
      if (nullable.size === 0) continue
      const { pieces, orSeen } = predicates(s, where[0], where[1])
      // Under an OR no single condition has to hold; say nothing rather than guess.
      if (orSeen) continue
      for (const piece of pieces) {
        let ref: { qualifier: string; at: number } | undefined
        let tolerant = false
        for (let i = piece.from; i < piece.to; i++) {
          if (isSubqueryOpen(s, i)) {
            i = s.match[i]!
            continue
          }
          if (isWord(s, i, "is") && (isWord(s, i + 1, "null") || isWord(s, i + 1, "distinct"))) tolerant = true
          if (isWord(s, i, "is") && isWord(s, i + 1, "not") && isWord(s, i + 2, "distinct")) tolerant = true
          if (operatorAt(s, i)?.op === "<=>") tolerant = true
          if (s.kinds[i] === T_WORD && NULL_TOLERANT_FUNCTIONS.has(s.words[i]!) && (punct(s, i + 1, "(") || s.words[i] === "case")) tolerant = true
          if (ref === undefined && isName(s, i) && punct(s, i + 1, ".") && isName(s, i + 2) && nullable.has(s.words[i]!) && !punct(s, i + 3, ".")) {
            ref = { qualifier: s.words[i]!, at: i }
          }
        }
        if (ref === undefined || tolerant || comparisonOf(s, piece) === undefined) continue
        const join = nullable.get(ref.qualifier)!
        const joinText = textOf(s, join.from, join.to)
        const cond = textOf(s, piece.from, piece.to)
        out.push(
          finding(
            outerJoinNullified,
            `WHERE ${cond} rejects the NULL rows of ${joinText}: the outer join is an inner join in effect`,
            `${joinText} … WHERE ${cond}`,
            "If unmatched rows are not wanted, write an inner JOIN; if they are, move the condition into the join's ON clause."
          )
        )
      }
    }
    return out
  }
}

export const tooManyJoins: Rule<StatementInput, { readonly max_tables: number }> = {
  id: "stmt_too_many_joins",
  severity: "warn",
  dialects: ["mysql", "postgres"],
  description:
    "More tables joined in one SELECT than the threshold: the planner's join-order search grows factorially (PostgreSQL stops exhaustive search at join_collapse_limit 8), and one bad estimate compounds through every join.",
  thresholds: { max_tables: 5 },
  // Fewer tables help when some only filter or the join order goes wrong; the text does not say which, so a small
  // share.
  reduction: 0.1,
  check: (input, t) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      const from = clauseRange(b, "from")
      if (from === undefined) continue
      const refs = tablesOf(s, from[0], from[1])
      if (refs.length <= t.max_tables) continue
      out.push(
        finding(
          tooManyJoins,
          `${fmt(refs.length)} tables joined in one SELECT (threshold ${fmt(t.max_tables)})`,
          `FROM ${refs.map((r) => r.name).join(", ")}`,
          "Check that every table is needed (EXISTS for a mere filter), pre-aggregate in a subquery, or split the report; keep estimates sound with fresh statistics."
        )
      )
    }
    return out
  }
}

export const sqlCalcFoundRows: Rule<StatementInput, {}> = {
  id: "stmt_sql_calc_found_rows",
  severity: "warn",
  dialects: ["mysql"],
  description:
    "SQL_CALC_FOUND_ROWS makes the server find every matching row past the LIMIT to count them (deprecated since MySQL 8.0.17).",
  thresholds: {},
  // Dropping it lets the LIMIT stop the scan early; the separate COUNT(*) that replaces it reads the matching rows
  // again, often by index, so a third.
  reduction: 0.3,
  check: (input) => {
    const s = shapeOf(input)
    const out: Array<Finding> = []
    for (const b of selectBlocks(s)) {
      const list = clauseRange(b, "select")!
      for (let i = list[0]; i < list[1]; i++) {
        if (!isWord(s, i, "sql_calc_found_rows")) continue
        const limit = clauseRange(b, "limit")
        const limitText = limit === undefined ? "" : `LIMIT ${textOf(s, limit[0], limit[1])}`
        out.push(
          finding(
            sqlCalcFoundRows,
            `SELECT SQL_CALC_FOUND_ROWS${limitText === "" ? "" : ` … ${limitText}`}: every matching row is found to count them, not only the ones returned`,
            `SELECT ${textOf(s, list[0], i + 1)}${limitText === "" ? "" : ` … ${limitText}`}`,
            "Drop it and run a separate SELECT COUNT(*) with the same WHERE (which an index can answer), or show no total."
          )
        )
        break
      }
    }
    return out
  }
}

/** Every statement rule, in the order their findings are listed. */
export const statementRules: ReadonlyArray<AnyRule<StatementInput>> = [
  dmlWithoutWhere,
  selectWithoutWhere,
  selectStar,
  leadingWildcardLike,
  functionOnColumn,
  orderByRandom,
  largeOffset,
  inSubquery,
  longInList,
  limitWithoutOrderBy,
  outerJoinNullified,
  tooManyJoins,
  sqlCalcFoundRows
]
