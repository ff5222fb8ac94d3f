import { hash } from "node:crypto"
import type { Fingerprinted, StatementType } from "../domain/Fingerprint.js"
import { type Classification, classifyTokens, isLiteralKind } from "./Classify.js"
import { lex, T_PUNCT, T_QUOTED_IDENT, T_WORD } from "./SqlLexer.js"
import { parseTags } from "./Tags.js"

/**
 * PostgreSQL statements go through PostgreSQL's own parser (libpg_query compiled to WASM): its fingerprint
 * ignores literal values and parameter numbers, so `WHERE id = 5` from a log and `WHERE id = $1` from
 * pg_stat_statements get the same id, the one pganalyze and every libpg_query binding compute. Text the
 * parser refuses (cut off, not PostgreSQL, garbage) goes through the tokenizer instead and is flagged.
 */

/**
 * Longer statements skip the WASM parser. Its memory only grows, an abort there would end it for good, and
 * the cost is in the parse tree: a 1 MB IN list takes over a second and 300 MB. 256 KiB holds an IN list of
 * some 40,000 ids.
 */
export const MAX_PARSER_INPUT = 256 * 1024

type Parser = Pick<typeof import("@libpg-query/parser"), "parseSync" | "fingerprintSync" | "normalizeSync">

/**
 * The parser once loaded. Importing @libpg-query/parser compiles and instantiates its WASM module (about 26 MB of
 * RSS), which only PostgreSQL statements need: it is imported when the first caller asks for it, so a command or a
 * pipeline that never sees a PostgreSQL statement never pays for it.
 */
let parser: Parser | undefined

/** Loads the parser once; false when it cannot be loaded, and every statement then takes the fallback. */
export const loadPostgresParser = async (): Promise<boolean> => {
  if (parser === undefined) {
    try {
      const module = await import("@libpg-query/parser")
      await module.loadModule()
      parser = module
    } catch {
      parser = undefined
    }
  }
  return parser !== undefined
}

/**
 * libpg_query's parse tree of `sql` (throws its syntax error), for other readers of PostgreSQL statements; only
 * after `loadPostgresParser` answered true.
 */
export const parsePostgres = (sql: string): unknown => {
  if (parser === undefined) throw new Error("the PostgreSQL parser is not loaded (loadPostgresParser)")
  return parser.parseSync(sql)
}

const isFingerprintHex = (s: unknown): s is string => {
  if (typeof s !== "string" || s.length !== 16) return false
  for (let i = 0; i < 16; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
  }
  return true
}

/** The parse tree as far as this file reads it: everything is checked before use. */
type Node = Record<string, unknown>
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v)

const DDL_PREFIXES = ["Create", "Alter", "Drop", "Rename", "Grant", "Comment", "Truncate", "Index", "View", "Define", "Rule", "SecLabel", "ImportForeignSchema", "CompositeType", "Reassign"]

const UTILITY = new Set([
  "ExplainStmt",
  "TransactionStmt",
  "VariableShowStmt",
  "CopyStmt",
  "VacuumStmt",
  "ClusterStmt",
  "ReindexStmt",
  "CheckPointStmt",
  "ListenStmt",
  "NotifyStmt",
  "UnlistenStmt",
  "PrepareStmt",
  "ExecuteStmt",
  "DeallocateStmt",
  "DeclareCursorStmt",
  "FetchStmt",
  "ClosePortalStmt",
  "LockStmt",
  "DiscardStmt",
  "LoadStmt",
  "RefreshMatViewStmt",
  "ConstraintsSetStmt"
])

const READ_ONLY_UTILITY = new Set([
  "TransactionStmt",
  "VariableShowStmt",
  "PrepareStmt",
  "DeallocateStmt",
  "FetchStmt",
  "ClosePortalStmt",
  "ListenStmt",
  "UnlistenStmt",
  "DiscardStmt"
])

const statementTypeOf = (kind: string): StatementType => {
  switch (kind) {
    case "SelectStmt":
      return "select"
    case "InsertStmt":
      return "insert"
    case "UpdateStmt":
      return "update"
    case "DeleteStmt":
      return "delete"
    case "MergeStmt":
      return "merge"
    case "CallStmt":
    case "DoStmt":
      return "call"
    case "VariableSetStmt":
      return "set"
  }
  if (UTILITY.has(kind)) return "utility"
  if (DDL_PREFIXES.some((prefix) => kind.startsWith(prefix))) return "ddl"
  return "other"
}

// The single key of a node wrapper such as `{ "SelectStmt": { … } }`.
const unwrap = (v: unknown): [string, Node] | undefined => {
  if (!isNode(v)) return undefined
  for (const key in v) {
    const inner = v[key]
    return isNode(inner) ? [key, inner] : undefined
  }
  return undefined
}

// A RangeVar: wrapped as `{ "RangeVar": { … } }` in node lists, bare in typed fields such as `relation`.
const isRangeVar = (v: Node): boolean => typeof v.relname === "string" && typeof v.relpersistence === "string"

/**
 * Walks a statement's tree without recursion (the tree can be as deep as the statement is nested): every
 * RangeVar is a table unless it names a CTE, in the order written; a data-modifying statement, SELECT INTO
 * or a locking clause anywhere makes the statement write.
 */
const walk = (root: Node, seen: Set<string>, tables: Array<string>): boolean => {
  const ctes = new Set<string>()
  const ranges: Array<Node> = []
  let writes = false
  const stack: Array<unknown> = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i])
      continue
    }
    if (!isNode(v)) continue
    if (isRangeVar(v)) ranges.push(v)
    for (const key in v) {
      const child = v[key]
      if (key === "CommonTableExpr" && isNode(child) && typeof child.ctename === "string") ctes.add(child.ctename)
      else if (key === "InsertStmt" || key === "UpdateStmt" || key === "DeleteStmt" || key === "MergeStmt") writes = true
      else if (key === "intoClause" || key === "lockingClause") writes = true
      if (typeof child === "object" && child !== null) stack.push(child)
    }
  }
  const at = (range: Node): number => (typeof range.location === "number" ? range.location : 0)
  ranges.sort((a, b) => at(a) - at(b))
  for (const range of ranges) {
    const rel = range.relname
    if (typeof rel !== "string") continue
    const schema = typeof range.schemaname === "string" ? range.schemaname : undefined
    if (schema === undefined && ctes.has(rel)) continue
    const catalog = typeof range.catalogname === "string" ? `${range.catalogname}.` : ""
    const name = schema === undefined ? rel : `${catalog}${schema}.${rel}`
    if (!seen.has(name)) {
      seen.add(name)
      tables.push(name)
    }
  }
  return writes
}

const readOnlyOf = (kind: string, node: Node, writes: boolean): boolean => {
  switch (kind) {
    case "SelectStmt":
      return !writes
    case "VariableSetStmt":
      return true
    case "ExplainStmt": {
      // EXPLAIN ANALYZE runs the statement.
      const options = Array.isArray(node.options) ? node.options : []
      const analyze = options.some((o) => {
        const def = unwrap(o)
        return def !== undefined && def[1].defname === "analyze" && !isFalse(def[1].arg)
      })
      return !analyze || !writes
    }
    case "CopyStmt":
      return node.is_from !== true
    case "DeclareCursorStmt":
      return !writes
  }
  return READ_ONLY_UTILITY.has(kind)
}

// `EXPLAIN (ANALYZE false)`.
const isFalse = (arg: unknown): boolean => {
  const value = unwrap(arg)
  if (value === undefined) return false
  const [kind, inner] = value
  if (kind === "Boolean") return inner.boolval !== true
  if (kind === "String") return inner.sval === "false" || inner.sval === "off"
  if (kind === "Integer") return inner.ival === 0 || inner.ival === undefined
  return false
}

const classifyTree = (tree: unknown): Omit<Classification, "truncated" | "tags"> | undefined => {
  if (!isNode(tree) || !Array.isArray(tree.stmts)) return undefined
  const tables: Array<string> = []
  const seen = new Set<string>()
  let statementType: StatementType = "other"
  let readOnly = true
  let count = 0
  for (const raw of tree.stmts) {
    if (!isNode(raw)) continue
    const stmt = unwrap(raw.stmt)
    if (stmt === undefined) continue
    const [kind, node] = stmt
    const writes = walk(node, seen, tables)
    if (count === 0) statementType = statementTypeOf(kind)
    readOnly = readOnly && readOnlyOf(kind, node, writes)
    count++
  }
  if (count === 0) return undefined
  return { statementType, readOnly, tables, multiStatement: count > 1 }
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The PostgreSQL fingerprint of `sql`; never throws. */
export const fingerprintPostgres = (sql: string): Fingerprinted => {
  if (parser !== undefined && sql.length <= MAX_PARSER_INPUT && sql.trim() !== "") {
    let tree: unknown
    let parseError: string | undefined
    try {
      tree = parser.parseSync(sql)
    } catch (e) {
      parseError = errorMessage(e)
    }
    if (parseError === undefined) {
      try {
        const classified = classifyTree(tree)
        // Both return the parser's error message instead of throwing, so check what they return.
        const id: unknown = parser.fingerprintSync(sql)
        const normalized: unknown = parser.normalizeSync(sql)
        if (classified !== undefined && isFingerprintHex(id) && typeof normalized === "string") {
          return {
            fingerprint: normalized.trim(),
            queryId: id,
            ...classified,
            truncated: false,
            tags: parseTags(sql, lex(sql, "postgres").comments),
            parser: "libpg_query"
          }
        }
      } catch {
        // Fall through to the tokenizer.
      }
    }
    return fallback(sql, parseError?.endsWith("at end of input") === true)
  }
  return fallback(sql, false)
}

const fallback = (sql: string, cutOff: boolean): Fingerprinted => {
  const classified = classifyTokens(sql, "postgres")
  const fingerprint = normalizeTokens(sql)
  return {
    fingerprint,
    queryId: hash("md5", `postgres-tokenizer\u0000${fingerprint}`, "hex").slice(0, 16),
    ...classified,
    truncated: classified.truncated || cutOff,
    parser: "tokenizer_fallback"
  }
}

/**
 * The tokenizer's normalized form of a statement: comments dropped, words lowercased, literals and parameters
 * as `?`, a parenthesized list of nothing else as `(?+)`, tokens separated by single spaces. Literal values
 * and list lengths do not change it; it is not libpg_query's text and its ids live in their own space.
 */
export const normalizeTokens = (sql: string): string => {
  const lx = lex(sql, "postgres")
  const parts: Array<string> = []
  let listStart = -1 // index in `parts` of a `(` followed so far only by literals and commas
  for (let i = 0; i < lx.count; i++) {
    const kind = lx.kinds[i]!
    const start = lx.starts[i]!
    const end = lx.ends[i]!
    let text: string
    if (isLiteralKind(kind)) text = "?"
    else if (kind === T_WORD) text = sql.slice(start, end).toLowerCase()
    else if (kind === T_QUOTED_IDENT) text = sql.slice(start, end)
    else text = sql.slice(start, end)
    if (kind === T_PUNCT && text === "(") listStart = parts.length
    else if (kind === T_PUNCT && text === ")" && listStart >= 0 && parts.length > listStart + 1) {
      parts.length = listStart
      parts.push("(?+)")
      listStart = -1
      continue
    } else if (!(text === "?" || text === ",")) listStart = -1
    parts.push(text)
  }
  return parts.join(" ")
}
