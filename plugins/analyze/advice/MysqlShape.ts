import { lex, T_NUMBER, T_OPERATOR, T_PARAM, T_PUNCT, T_QUOTED_IDENT, T_STRING, T_WORD } from "../../../src/fingerprint/SqlLexer.js"
import type { ColumnUse, ColumnUseKind, StatementShape, TableRef } from "./IndexCandidates.js"

/**
 * The shape of a MySQL/MariaDB statement from the fingerprint engine's tokenizer: one pass over the tokens of the
 * outer SELECT (each branch of a UNION), UPDATE or DELETE, no grammar beyond what an index can serve. Tables come
 * from FROM / JOIN (UPDATE's table list, DELETE's FROM or USING); columns from the conjuncts of WHERE and ON
 * (`col = value`, `value = col`, `col = col`, `col IN (values)`, `col IS NULL`, `col <|>|<=|>= value`,
 * `col BETWEEN v AND v`, `col LIKE 'prefix%'`) and from plain columns in GROUP BY / ORDER BY. A top-level OR, a
 * function or expression around the column, and anything inside parentheses other than a conjunction give nothing;
 * subqueries and derived tables are not looked into. Text that does not lex cleanly gives undefined.
 */

interface Tok {
  readonly kind: number
  /** Words lower-cased; quoted identifiers unquoted; operators merged (`<=`, `<>`, `!=`, `<=>`, `&&`, `||`). */
  readonly text: string
  readonly depth: number
  /** For `(`: the index of its `)`. */
  partner: number
}

const tokenize = (sql: string): Array<Tok> | undefined => {
  const lexed = lex(sql, "mysql")
  if (lexed.unterminated) return undefined
  const out: Array<Tok> = []
  const open: Array<number> = []
  let depth = 0
  let lastOperatorEnd = -1
  for (let i = 0; i < lexed.count; i++) {
    const kind = lexed.kinds[i]!
    const start = lexed.starts[i]!
    const end = lexed.ends[i]!
    const raw = sql.slice(start, end)
    if (kind === T_OPERATOR && lastOperatorEnd === start && out.length > 0 && out[out.length - 1]!.kind === T_OPERATOR) {
      const prev = out.pop()!
      out.push({ ...prev, text: prev.text + raw })
      lastOperatorEnd = end
      continue
    }
    lastOperatorEnd = kind === T_OPERATOR ? end : -1
    if (kind === T_PUNCT && raw === "(") {
      open.push(out.length)
      out.push({ kind, text: raw, depth, partner: -1 })
      depth++
      continue
    }
    if (kind === T_PUNCT && raw === ")") {
      depth--
      const opener = open.pop()
      if (opener === undefined) return undefined
      out[opener]!.partner = out.length
      out.push({ kind, text: raw, depth, partner: opener })
      continue
    }
    if (kind === T_PUNCT && raw === ";") break
    const text =
      kind === T_WORD ? raw.toLowerCase() : kind === T_QUOTED_IDENT ? raw.slice(1, -1).replaceAll("``", "`") : raw
    out.push({ kind, text, depth, partner: -1 })
  }
  return open.length === 0 ? out : undefined
}

const JOIN_WORDS = new Set(["join", "inner", "left", "right", "outer", "cross", "natural", "straight_join"])
// Words that end a table factor's alias position or a clause.
const NOT_ALIAS = new Set([
  ...JOIN_WORDS,
  "on", "using", "where", "group", "having", "order", "limit", "set", "union", "for", "lock", "use", "force",
  "ignore", "partition", "window", "into", "procedure", "returning", "except", "intersect"
])
const CLAUSE_END = new Set(["where", "group", "having", "order", "limit", "union", "for", "lock", "into", "window", "procedure", "returning", "except", "intersect"])
const NOT_COLUMN = new Set(["null", "true", "false", "not", "exists", "interval", "case", "binary", "distinct", "select"])
const RANGE_OPS = new Set(["<", ">", "<=", ">="])

export const mysqlShape = (sql: string): StatementShape | undefined => {
  const toks = tokenize(sql)
  if (toks === undefined || toks.length === 0) return undefined
  const tables: Array<TableRef> = []
  const uses: Array<ColumnUse> = []
  const isWord = (i: number, word?: string) => toks[i]?.kind === T_WORD && (word === undefined || toks[i]!.text === word)
  const isIdent = (i: number) =>
    toks[i]?.kind === T_QUOTED_IDENT || (toks[i]?.kind === T_WORD && !NOT_COLUMN.has(toks[i]!.text) && toks[i + 1]?.text !== "(")

  /** A column reference `[db.][table.]column` exactly spanning [a, b): its qualifier and column. */
  const columnRef = (a: number, b: number): { qualifier: string | null; column: string } | undefined => {
    const n = b - a
    if (n !== 1 && n !== 3 && n !== 5) return undefined
    for (let i = a; i < b; i++) {
      if ((i - a) % 2 === 0 ? !isIdent(i) : toks[i]!.text !== ".") return undefined
    }
    return { qualifier: n === 1 ? null : toks[b - 3]!.text.toLowerCase(), column: toks[b - 1]!.text }
  }
  const isValue = (a: number, b: number): boolean => {
    if (b - a === 2 && toks[a]!.text === "-" && toks[a + 1]!.kind === T_NUMBER) return true
    if (b - a !== 1) return false
    const k = toks[a]!.kind
    return k === T_NUMBER || k === T_STRING || k === T_PARAM
  }

  const statementPart = (from: number, to: number) => {
    const names = new Map<string, number>()
    const own: Array<number> = []
    const depth = toks[from]!.depth
    const at = (i: number) => toks[i]!.depth === depth
    const resolve = (a: number, b: number) => {
      const ref = columnRef(a, b)
      if (ref === undefined) return undefined
      if (ref.qualifier === null) return { column: ref.column, tables: [...own] }
      const found = names.get(ref.qualifier)
      return found === undefined ? undefined : { column: ref.column, tables: [found] }
    }
    const use = (kind: ColumnUseKind, target: { column: string; tables: ReadonlyArray<number> } | undefined) => {
      if (target !== undefined) uses.push({ kind, column: target.column, tables: target.tables })
    }
    const nextAt = (i: number, stop: (j: number) => boolean) => {
      let j = i
      while (j < to && !(at(j) && stop(j))) j++
      return j
    }

    const conjunct = (a: number, b: number) => {
      if (a >= b) return
      if (toks[a]!.text === "(" && toks[a]!.partner === b - 1) return condition(a + 1, b - 1)
      // Find the operator at the conjunct's own depth.
      const d = toks[a]!.depth
      let op = a
      while (op < b && !(toks[op]!.depth === d && (toks[op]!.kind === T_OPERATOR || isWord(op, "in") || isWord(op, "between") || isWord(op, "is") || isWord(op, "like")))) op++
      if (op >= b) return
      const word = toks[op]!.text
      const left = resolve(a, op)
      if (word === "=" || word === "<=>") {
        const right = resolve(op + 1, b)
        if (left !== undefined && right !== undefined) {
          use("eq", left)
          use("eq", right)
        } else if (left !== undefined && isValue(op + 1, b)) use("eq", left)
        else if (right !== undefined && isValue(a, op)) use("eq", right)
      } else if (RANGE_OPS.has(word)) {
        if (left !== undefined && isValue(op + 1, b)) use("range", left)
        else if (isValue(a, op)) use("range", resolve(op + 1, b))
      } else if (word === "in" && left !== undefined) {
        const open = op + 1
        if (toks[open]?.text !== "(" || toks[open]!.partner !== b - 1 || b - 1 === open + 1) return
        for (let i = open + 1; i < b - 1; i += 2) {
          if (!isValue(i, i + 1) || (i + 1 < b - 1 && toks[i + 1]!.text !== ",")) return
        }
        use("eq", left)
      } else if (word === "between" && left !== undefined) {
        if (b - op === 4 && isValue(op + 1, op + 2) && isWord(op + 2, "and") && isValue(op + 3, op + 4)) use("range", left)
      } else if (word === "is" && left !== undefined) {
        if (b - op === 2 && isWord(op + 1, "null")) use("eq", left)
      } else if (word === "like" && left !== undefined) {
        const pattern = toks[op + 1]
        if (b - op === 2 && pattern?.kind === T_STRING && pattern.text.length > 2 && !"%_".includes(pattern.text[1]!)) {
          use("range", left)
        }
      }
    }

    /** Splits [a, b) on top-level AND (not BETWEEN's); a top-level OR or XOR gives nothing. */
    const condition = (a: number, b: number) => {
      if (a >= b) return
      const d = toks[a]!.depth
      const parts: Array<[number, number]> = []
      let start = a
      let betweenOpen = false
      for (let i = a; i < b; i++) {
        const t = toks[i]!
        if (t.depth !== d) continue
        if (t.kind === T_WORD && (t.text === "or" || t.text === "xor")) return
        if (t.kind === T_OPERATOR && t.text === "||") return
        if (t.kind === T_WORD && t.text === "between") betweenOpen = true
        else if ((t.kind === T_WORD && t.text === "and") || (t.kind === T_OPERATOR && t.text === "&&")) {
          if (betweenOpen && t.text === "and") {
            betweenOpen = false
            continue
          }
          parts.push([start, i])
          start = i + 1
        }
      }
      parts.push([start, b])
      for (const [x, y] of parts) conjunct(x, y)
    }

    const tableList = (a: number, b: number) => {
      let i = a
      let previous: number | undefined
      let last: number | undefined
      while (i < b) {
        const t = toks[i]!
        if (t.text === "(") {
          // A derived table or a parenthesized join: not looked into; skip it and its alias.
          i = t.partner + 1
          if (isWord(i, "as")) i++
          if (i < b && isIdent(i) && !NOT_ALIAS.has(toks[i]!.text)) i++
          continue
        }
        if (t.text === "," || (t.kind === T_WORD && JOIN_WORDS.has(t.text))) {
          i++
          continue
        }
        if (isWord(i, "on")) {
          const end = nextAt(i + 1, (j) => toks[j]!.text === "," || (toks[j]!.kind === T_WORD && (JOIN_WORDS.has(toks[j]!.text) || CLAUSE_END.has(toks[j]!.text))))
          condition(i + 1, Math.min(end, b))
          i = end
          continue
        }
        if (isWord(i, "using") && toks[i + 1]?.text === "(") {
          const close = toks[i + 1]!.partner
          for (let j = i + 2; j < close; j += 2) {
            const column = toks[j]!.text
            for (const side of [previous, last]) if (side !== undefined) uses.push({ kind: "eq", column, tables: [side] })
          }
          i = close + 1
          continue
        }
        if ((isWord(i, "use") || isWord(i, "force") || isWord(i, "ignore") || isWord(i, "partition")) && i + 1 < b) {
          let j = i + 1
          while (j < b && toks[j]!.text !== "(") j++
          i = j < b ? toks[j]!.partner + 1 : b
          continue
        }
        if (toks[i]!.kind === T_WORD || toks[i]!.kind === T_QUOTED_IDENT) {
          let schema: string | null = null
          let name = toks[i]!.text
          let next = i + 1
          if (toks[next]?.text === "." && (toks[next + 1]?.kind === T_WORD || toks[next + 1]?.kind === T_QUOTED_IDENT)) {
            schema = name
            name = toks[next + 1]!.text
            next += 2
          }
          if (isWord(next, "as")) next++
          let alias: string | undefined
          if (next < b && (toks[next]!.kind === T_QUOTED_IDENT || (toks[next]!.kind === T_WORD && !NOT_ALIAS.has(toks[next]!.text)))) {
            alias = toks[next]!.text
            next++
          }
          const index = tables.length
          tables.push({ schema, name })
          own.push(index)
          names.set((alias ?? name).toLowerCase(), index)
          previous = last
          last = index
          i = next
          continue
        }
        i++
      }
    }

    const ordering = (a: number, b: number) => {
      let start = a
      for (let i = a; i <= b; i++) {
        if (i === b || (at(i) && toks[i]!.text === ",")) {
          let end = i
          if (isWord(end - 1, "asc") || isWord(end - 1, "desc")) end--
          use("order", resolve(start, end))
          start = i + 1
        }
      }
    }

    const clause = (word: string) => {
      for (let i = from; i < to; i++) {
        if (at(i) && isWord(i, word) && (word !== "group" && word !== "order" ? true : isWord(i + 1, "by"))) return i
      }
      return -1
    }
    const endOf = (i: number) => nextAt(i + 1, (j) => toks[j]!.kind === T_WORD && CLAUSE_END.has(toks[j]!.text))

    const head = toks[from]!.text
    if (head === "select") {
      const fromAt = clause("from")
      if (fromAt >= 0) tableList(fromAt + 1, endOf(fromAt))
    } else if (head === "update") {
      const setAt = clause("set")
      if (setAt < 0) return
      let i = from + 1
      while (isWord(i, "low_priority") || isWord(i, "ignore")) i++
      tableList(i, setAt)
    } else if (head === "delete") {
      const fromAt = clause("from")
      const usingAt = clause("using")
      if (usingAt >= 0) tableList(usingAt + 1, endOf(usingAt))
      else if (fromAt >= 0) tableList(fromAt + 1, endOf(fromAt))
    } else {
      return
    }
    const whereAt = clause("where")
    if (whereAt >= 0) condition(whereAt + 1, endOf(whereAt))
    const groupAt = clause("group")
    if (groupAt >= 0) {
      let end = endOf(groupAt)
      if (isWord(end - 2, "with") && isWord(end - 1, "rollup")) end -= 2
      ordering(groupAt + 2, end)
    }
    const orderAt = clause("order")
    if (orderAt >= 0) ordering(orderAt + 2, endOf(orderAt))
  }

  // Each branch of a top-level UNION is a scope of its own.
  let start = 0
  for (let i = 0; i <= toks.length; i++) {
    if (i === toks.length || (toks[i]!.depth === 0 && isWord(i, "union"))) {
      let s = start
      while (isWord(s, "all") || isWord(s, "distinct")) s++
      if (s < i && (isWord(s, "select") || isWord(s, "update") || isWord(s, "delete"))) statementPart(s, i)
      start = i + 1
    }
  }
  return { tables, uses }
}
