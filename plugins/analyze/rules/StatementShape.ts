import { lex, T_OPERATOR, T_PUNCT, T_QUOTED_IDENT, T_WORD } from "../../../src/fingerprint/SqlLexer.js"
import type { RuleDialect, StatementInput } from "./Rule.js"

/**
 * The shape of one statement as the statement rules read it: the project's tokenizer output (copied, since the
 * lexer reuses its arrays), paren depth and matching, and the query blocks (each SELECT, and the UPDATE/DELETE at
 * the top) with the positions of their clauses. No grammar: a clause is a keyword at its block's paren depth.
 *
 * Both dialects go through the tokenizer, PostgreSQL too: every rule here needs clause boundaries and operands,
 * which the tokens give, so the rules stay synchronous and need no WASM parser loaded.
 */

export type ClauseName =
  | "select"
  | "update"
  | "delete"
  | "set"
  | "from"
  | "using"
  | "where"
  | "group"
  | "having"
  | "window"
  | "order"
  | "limit"
  | "offset"
  | "fetch"
  | "for"
  | "into"
  | "returning"

export interface Block {
  readonly kind: "select" | "update" | "delete"
  /** The token of its SELECT/UPDATE/DELETE keyword. */
  readonly start: number
  /** Exclusive end token. */
  readonly end: number
  readonly depth: number
  /** Clause keywords at the block's depth, in order. */
  readonly clauses: ReadonlyArray<{ readonly name: ClauseName; readonly at: number }>
  /** The select block opens an `EXISTS (…)`: what it selects does not matter. */
  readonly inExists: boolean
}

export interface Shape {
  readonly dialect: RuleDialect
  readonly sql: string
  /** Tokens of the first statement. */
  readonly count: number
  readonly kinds: Uint8Array
  readonly starts: Int32Array
  readonly ends: Int32Array
  readonly depth: Int32Array
  /** For `(` and `)`, the index of the other one; -1 otherwise or when unbalanced. */
  readonly match: Int32Array
  /** Lowercased text of words (unquoted text of quoted identifiers), "" for other tokens. */
  readonly words: ReadonlyArray<string>
  /**
   * The text ends inside a string, quoted name or comment, or with a parenthesis open: cut off (a slow log or
   * pg_stat_statements keeps a bounded length). What is missing from it may be in the part that was cut.
   */
  readonly truncated: boolean
  /** The statement's verb: the first token at depth 0 after a WITH list (`(SELECT …)` counts as select). */
  readonly verb: string
  readonly blocks: ReadonlyArray<Block>
}

const CLAUSE_WORDS: Record<Block["kind"], ReadonlySet<string>> = {
  select: new Set(["from", "where", "group", "having", "window", "order", "limit", "offset", "fetch", "for", "into"]),
  update: new Set(["set", "from", "where", "order", "limit", "returning"]),
  delete: new Set(["from", "using", "where", "order", "limit", "returning"])
}
const LOCKING = new Set(["update", "share", "no", "key"])
const SET_OPERATORS = new Set(["union", "except", "intersect", "minus"])

const cache = new WeakMap<StatementInput, Shape>()

/** The shape of `input`'s first statement; computed once per input object, since every rule reads it. */
export const shapeOf = (input: StatementInput): Shape => {
  const cached = cache.get(input)
  if (cached !== undefined) return cached
  const shape = build(input)
  cache.set(input, shape)
  return shape
}

const build = (input: StatementInput): Shape => {
  const { sql, dialect } = input
  const lexed = lex(sql, dialect)
  // The first statement only: a collected statement is one statement; a trailing one is not what was timed.
  let count = lexed.count
  let open = 0
  for (let i = 0; i < lexed.count; i++) {
    if (lexed.kinds[i] !== T_PUNCT) continue
    const c = sql.charCodeAt(lexed.starts[i]!)
    if (c === 40) open++
    else if (c === 41 && open > 0) open--
    else if (c === 59 && open === 0) {
      count = i
      break
    }
  }
  const kinds = lexed.kinds.slice(0, count)
  const starts = lexed.starts.slice(0, count)
  const ends = lexed.ends.slice(0, count)
  const depth = new Int32Array(count)
  const match = new Int32Array(count).fill(-1)
  const words: Array<string> = new Array(count)
  const stack: Array<number> = []
  for (let i = 0; i < count; i++) {
    const kind = kinds[i]
    words[i] =
      kind === T_WORD
        ? sql.slice(starts[i], ends[i]).toLowerCase()
        : kind === T_QUOTED_IDENT
          ? sql.slice(starts[i]! + 1, ends[i]! - 1).toLowerCase()
          : ""
    depth[i] = stack.length
    if (kind === T_PUNCT) {
      const c = sql.charCodeAt(starts[i]!)
      if (c === 40) stack.push(i)
      else if (c === 41 && stack.length > 0) {
        const o = stack.pop()!
        match[o] = i
        match[i] = o
        depth[i] = stack.length
      }
    }
  }
  const truncated = lexed.unterminated || stack.length > 0
  const base = { dialect, sql, count, kinds, starts, ends, depth, match, words, truncated }
  return { ...base, verb: verbOf(base), blocks: blocksOf(base) }
}

type Base = Pick<Shape, "sql" | "count" | "kinds" | "starts" | "ends" | "depth" | "match" | "words">

const isOpen = (s: Base, i: number): boolean => s.kinds[i] === T_PUNCT && s.sql.charCodeAt(s.starts[i]!) === 40

const verbOf = (s: Base): string => {
  let i = 0
  if (s.words[0] === "with" && s.kinds[0] === T_WORD) {
    i = 1
    if (s.words[i] === "recursive") i++
    // name [(columns)] AS [NOT] [MATERIALIZED] ( … ) [, …]
    while (i < s.count) {
      i++
      if (isOpen(s, i) && s.match[i]! > 0) i = s.match[i]! + 1
      if (s.words[i] === "as") i++
      if (s.words[i] === "not") i++
      if (s.words[i] === "materialized") i++
      if (isOpen(s, i) && s.match[i]! > 0) i = s.match[i]! + 1
      else break
      if (s.kinds[i] === T_PUNCT && s.sql.charCodeAt(s.starts[i]!) === 44) i++
      else break
    }
  }
  if (isOpen(s, i)) {
    for (let j = i; j < s.count; j++) if (s.kinds[j] === T_WORD && s.words[j] === "select") return "select"
  }
  return s.kinds[i] === T_WORD ? s.words[i]! : ""
}

const blocksOf = (s: Base): ReadonlyArray<Block> => {
  const blocks: Array<Block> = []
  for (let i = 0; i < s.count; i++) {
    if (s.kinds[i] !== T_WORD) continue
    const w = s.words[i]!
    if (w !== "select" && !((w === "update" || w === "delete") && s.depth[i] === 0)) continue
    // `ON DUPLICATE KEY UPDATE`, `FOR UPDATE`, `ON DELETE` are no blocks.
    const prev = i > 0 && s.kinds[i - 1] === T_WORD ? s.words[i - 1]! : ""
    if (w !== "select" && (prev === "key" || prev === "for" || prev === "on" || prev === "no")) continue
    const kind = w as Block["kind"]
    const d = s.depth[i]!
    const clauseWords = CLAUSE_WORDS[kind]
    const clauses: Array<{ name: ClauseName; at: number }> = [{ name: kind, at: i }]
    let end = s.count
    for (let j = i + 1; j < s.count; j++) {
      const dj = s.depth[j]!
      if (dj < d) {
        end = j
        break
      }
      if (dj !== d || s.kinds[j] !== T_WORD) continue
      const wj = s.words[j]!
      if (SET_OPERATORS.has(wj)) {
        end = j
        break
      }
      if (!clauseWords.has(wj)) continue
      if ((wj === "group" || wj === "order") && s.words[j + 1] !== "by") continue
      // `FOR UPDATE/SHARE/NO KEY UPDATE/KEY SHARE`, not MySQL's `FORCE INDEX FOR JOIN (…)`.
      if (wj === "for" && !LOCKING.has(s.words[j + 1]!)) continue
      // `IS [NOT] DISTINCT FROM` is an operator.
      if (wj === "from" && s.words[j - 1] === "distinct" && (s.words[j - 2] === "is" || s.words[j - 2] === "not")) continue
      clauses.push({ name: wj as ClauseName, at: j })
    }
    const before = i >= 2 ? i - 2 : -1
    const inExists = kind === "select" && before >= 0 && s.words[before] === "exists" && isOpen(s, i - 1)
    blocks.push({ kind, start: i, end, depth: d, clauses, inExists })
  }
  return blocks
}

/** The tokens of a clause: [first token after its keyword(s), next clause or block end). */
export const clauseRange = (block: Block, name: ClauseName): readonly [number, number] | undefined => {
  const k = block.clauses.findIndex((c) => c.name === name)
  if (k < 0) return undefined
  const at = block.clauses[k]!.at
  const from = name === "group" || name === "order" ? at + 2 : at + 1
  const to = k + 1 < block.clauses.length ? block.clauses[k + 1]!.at : block.end
  return from <= to ? [from, to] : [to, to]
}

export const hasClause = (block: Block, name: ClauseName): boolean => block.clauses.some((c) => c.name === name)

export const punct = (s: Shape, i: number, ch: string): boolean =>
  i >= 0 && i < s.count && s.kinds[i] === T_PUNCT && s.sql.charCodeAt(s.starts[i]!) === ch.charCodeAt(0)

export const isWord = (s: Shape, i: number, word: string): boolean =>
  i >= 0 && i < s.count && s.kinds[i] === T_WORD && s.words[i] === word

/** The SQL text of tokens [from, to), whitespace collapsed, cut at 160 characters. */
export const textOf = (s: Shape, from: number, to: number): string => {
  if (to <= from) return ""
  const raw = s.sql.slice(s.starts[from]!, s.ends[to - 1]!)
  let out = ""
  let space = false
  for (let k = 0; k < raw.length; k++) {
    const c = raw.charCodeAt(k)
    if (c === 32 || (c >= 9 && c <= 13)) {
      space = true
      continue
    }
    if (space && out.length > 0) out += " "
    space = false
    out += raw[k]
    if (out.length >= 160) return out + "…"
  }
  return out
}

/**
 * Operators are single-character tokens; adjacent ones form one operator (`<=`, `<>`, `!=`, `->>`, `::`, `||`).
 * Returns the operator text starting at `i` and the index after it, or undefined when `i` is no operator.
 */
export const operatorAt = (s: Shape, i: number): { readonly op: string; readonly next: number } | undefined => {
  if (i >= s.count || s.kinds[i] !== T_OPERATOR) return undefined
  let j = i + 1
  while (j < s.count && s.kinds[j] === T_OPERATOR && s.starts[j] === s.ends[j - 1]) j++
  return { op: s.sql.slice(s.starts[i]!, s.ends[j - 1]!), next: j }
}
