import { isLiteralKind } from "./Classify.js"
import type { SqlDialect } from "./SqlDialect.js"
import { lex, T_NUMBER } from "./SqlLexer.js"

/**
 * What the AI hook may send about a plan: the database's JSON plan with every literal and comment taken out of
 * its expressions. The explain stage explains a real sample, so its conditions hold the sample's values
 * (`Filter: (email = 'alice@example.com'::text)`, `attached_condition: t.card = '4111…'`); those must never leave.
 *
 * The walk is conservative: the fields known to hold expressions are always normalized; fields known to hold
 * only names or fixed words are kept; any other string is normalized as soon as it holds a quote, a `$` or a
 * digit (a field of a newer server version, MySQL's v2 `operation` text). JSON numbers are kept: they are the
 * optimizer's estimates and counters, not values of the statement.
 */

const PLACEHOLDER = "?"

// Expressions that carry the statement's values.
const EXPRESSION_FIELDS = new Set([
  // PostgreSQL
  "Filter",
  "Index Cond",
  "Recheck Cond",
  "Hash Cond",
  "Merge Cond",
  "Join Filter",
  "One-Time Filter",
  "TID Cond",
  "Run Condition",
  "Cache Key",
  "Sort Key",
  "Presorted Key",
  "Group Key",
  "Grouping Sets",
  "Hash Key",
  "Output",
  "Function Call",
  "Table Function Call",
  "Repeatable Seed",
  "Sampling Parameters",
  "Conflict Filter",
  "Query Text",
  // MySQL / MariaDB
  "attached_condition",
  "index_condition",
  "pushed_index_condition",
  "having_condition",
  "outer_ref_condition",
  "attached_subqueries",
  "ref",
  "sort_key",
  "condition",
  "operation",
  "ranges",
  "message"
])

// Names and fixed vocabulary: never literals, and lexing them would mangle names such as `orders-2024`.
const NAME_FIELDS = new Set([
  // PostgreSQL
  "Node Type",
  "Parent Relationship",
  "Relation Name",
  "Schema",
  "Alias",
  "Index Name",
  "CTE Name",
  "Subplan Name",
  "Join Type",
  "Strategy",
  "Partial Mode",
  "Scan Direction",
  "Operation",
  "Command",
  "Sort Method",
  "Sort Space Type",
  "Function Name",
  // MySQL / MariaDB
  "table_name",
  "access_type",
  "key",
  "possible_keys",
  "used_key_parts",
  "used_columns",
  "key_length",
  "select_type",
  "partitions",
  "join_type",
  "index_name",
  "schema_name",
  "alias"
])

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const needsCare = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // ' " ` $ and digits
    if (c === 39 || c === 34 || c === 96 || c === 36 || (c >= 48 && c <= 57)) return true
  }
  return false
}

const isBlank = (text: string, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    if (!(c === 32 || (c >= 9 && c <= 13))) return false
  }
  return true
}

/**
 * `text` with every string, number and parameter replaced by `?` and every comment removed, through the
 * project's tokenizer (one pass, the dialect's quoting rules). Whitespace between tokens is kept; a gap that held
 * a comment becomes one space. An unterminated string swallows the rest of the text, as the server would.
 * `keepNumbers` is for table definitions, whose numbers are type sizes (`varchar(255)`), not values.
 */
export const normalizeSqlText = (
  text: string,
  dialect: SqlDialect,
  options?: { readonly keepNumbers?: boolean }
): string => {
  const keepNumbers = options?.keepNumbers === true
  const lexed = lex(text, dialect)
  let out = ""
  let at = 0
  for (let t = 0; t < lexed.count; t++) {
    const start = lexed.starts[t]!
    const end = lexed.ends[t]!
    if (start > at) out += isBlank(text, at, start) ? text.slice(at, start) : " "
    const kind = lexed.kinds[t]!
    out += isLiteralKind(kind) && !(keepNumbers && kind === T_NUMBER) ? PLACEHOLDER : text.slice(start, end)
    at = end
  }
  if (at < text.length && isBlank(text, at, text.length)) out += text.slice(at)
  return out
}

const normalizeValue = (
  value: unknown,
  dialect: SqlDialect,
  field: "expression" | "name" | "other",
  others: "normalize" | "keep"
): unknown => {
  if (typeof value === "string") {
    if (field === "name") return value
    if (field === "expression" || (others === "normalize" && needsCare(value))) return normalizeSqlText(value, dialect)
    return value
  }
  if (Array.isArray(value)) return value.map((item) => normalizeValue(item, dialect, field, others))
  // Plain objects only: a Date or a class instance in a value that holds a plan is kept as it is.
  if (value !== null && typeof value === "object" && isPlainObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [key, child] of Object.entries(value)) {
      out[key] = normalizeValue(
        child,
        dialect,
        EXPRESSION_FIELDS.has(key) ? "expression" : NAME_FIELDS.has(key) ? "name" : "other",
        others
      )
    }
    return out
  }
  // Numbers (estimates), booleans, null.
  return value
}

/**
 * The plan with the literals and comments of its expressions replaced (see the head of this file). Pure; never
 * throws; the input is not changed. `others: "keep"` leaves the strings of fields not known to hold expressions
 * as they are (MySQL's costs are strings such as "12.50"), for a caller that scrubs them otherwise.
 */
export const normalizePlan = (
  plan: unknown,
  dialect: SqlDialect,
  options?: { readonly others?: "normalize" | "keep" }
): unknown => normalizeValue(plan, dialect, "other", options?.others ?? "normalize")
