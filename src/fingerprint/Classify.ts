import type { StatementType } from "../domain/Fingerprint.js"
import type { SqlDialect } from "./SqlDialect.js"
import { parseTags } from "./Tags.js"
import {
  type Keyword,
  keywordId,
  type Lexed,
  lex,
  T_NUMBER,
  T_PARAM,
  T_PUNCT,
  T_QUOTED_IDENT,
  T_STRING,
  T_WORD
} from "./SqlLexer.js"

/** What the tokenizer can tell about a statement's text without a grammar. */
export interface Classification {
  readonly statementType: StatementType
  readonly readOnly: boolean
  readonly tables: ReadonlyArray<string>
  readonly multiStatement: boolean
  readonly truncated: boolean
  readonly tags: Readonly<Record<string, string>>
}

const K = (word: Keyword): number => keywordId(word)
const KW = {
  select: K("select"),
  insert: K("insert"),
  update: K("update"),
  delete: K("delete"),
  replace: K("replace"),
  merge: K("merge"),
  with: K("with"),
  recursive: K("recursive"),
  values: K("values"),
  table: K("table"),
  tables: K("tables"),
  create: K("create"),
  alter: K("alter"),
  drop: K("drop"),
  truncate: K("truncate"),
  rename: K("rename"),
  call: K("call"),
  do: K("do"),
  set: K("set"),
  reset: K("reset"),
  explain: K("explain"),
  describe: K("describe"),
  desc: K("desc"),
  analyze: K("analyze"),
  analyse: K("analyse"),
  lock: K("lock"),
  copy: K("copy"),
  load: K("load"),
  from: K("from"),
  join: K("join"),
  into: K("into"),
  using: K("using"),
  only: K("only"),
  lateral: K("lateral"),
  as: K("as"),
  on: K("on"),
  for: K("for"),
  share: K("share"),
  in: K("in"),
  mode: K("mode"),
  outfile: K("outfile"),
  dumpfile: K("dumpfile"),
  global: K("global"),
  persist: K("persist"),
  index: K("index"),
  key: K("key"),
  to: K("to"),
  if: K("if"),
  exists: K("exists"),
  not: K("not"),
  materialized: K("materialized"),
  partition: K("partition"),
  force: K("force"),
  ignore: K("ignore"),
  use: K("use"),
  read: K("read"),
  write: K("write"),
  local: K("local"),
  low_priority: K("low_priority"),
  high_priority: K("high_priority"),
  delayed: K("delayed"),
  quick: K("quick"),
  references: K("references"),
  tablesample: K("tablesample"),
  concurrently: K("concurrently"),
  unique: K("unique"),
  procedure: K("procedure"),
  function: K("function"),
  trigger: K("trigger"),
  event: K("event"),
  data: K("data")
}

const STATEMENT_TYPES = new Map<number, StatementType>([
  [K("select"), "select"],
  [K("values"), "select"],
  [K("table"), "select"],
  [K("insert"), "insert"],
  [K("load"), "insert"],
  [K("update"), "update"],
  [K("delete"), "delete"],
  [K("replace"), "replace"],
  [K("merge"), "merge"],
  [K("call"), "call"],
  [K("do"), "call"],
  [K("set"), "set"],
  [K("reset"), "set"],
  [K("create"), "ddl"],
  [K("alter"), "ddl"],
  [K("drop"), "ddl"],
  [K("truncate"), "ddl"],
  [K("rename"), "ddl"],
  [K("comment"), "ddl"],
  [K("grant"), "ddl"],
  [K("revoke"), "ddl"],
  [K("import"), "ddl"],
  [K("security"), "ddl"],
  [K("refresh"), "utility"],
  [K("show"), "utility"],
  [K("explain"), "utility"],
  [K("describe"), "utility"],
  [K("desc"), "utility"],
  [K("analyze"), "utility"],
  [K("analyse"), "utility"],
  [K("use"), "utility"],
  [K("begin"), "utility"],
  [K("start"), "utility"],
  [K("commit"), "utility"],
  [K("rollback"), "utility"],
  [K("savepoint"), "utility"],
  [K("release"), "utility"],
  [K("abort"), "utility"],
  [K("end"), "utility"],
  [K("lock"), "utility"],
  [K("unlock"), "utility"],
  [K("flush"), "utility"],
  [K("kill"), "utility"],
  [K("optimize"), "utility"],
  [K("check"), "utility"],
  [K("repair"), "utility"],
  [K("vacuum"), "utility"],
  [K("cluster"), "utility"],
  [K("reindex"), "utility"],
  [K("checkpoint"), "utility"],
  [K("listen"), "utility"],
  [K("notify"), "utility"],
  [K("unlisten"), "utility"],
  [K("prepare"), "utility"],
  [K("execute"), "utility"],
  [K("deallocate"), "utility"],
  [K("declare"), "utility"],
  [K("fetch"), "utility"],
  [K("close"), "utility"],
  [K("move"), "utility"],
  [K("copy"), "utility"],
  [K("xa"), "utility"],
  [K("handler"), "utility"],
  [K("discard"), "utility"]
])

// Utility statements that change nothing: they read, or only steer the session or transaction.
const READ_ONLY_UTILITY = new Set<number>(
  (
    [
      "show",
      "explain",
      "describe",
      "desc",
      "use",
      "begin",
      "start",
      "commit",
      "rollback",
      "savepoint",
      "release",
      "abort",
      "end",
      "unlock",
      "check",
      "prepare",
      "deallocate",
      "declare",
      "fetch",
      "close",
      "move",
      "xa",
      "handler",
      "discard",
      "listen",
      "unlisten"
    ] as const
  ).map(K)
)

// Words that end a table reference: clause keywords, never table names or aliases.
const STOP_WORDS = new Set<number>(
  (
    [
      "select",
      "where",
      "group",
      "order",
      "having",
      "limit",
      "offset",
      "union",
      "except",
      "intersect",
      "minus",
      "window",
      "for",
      "on",
      "using",
      "set",
      "values",
      "join",
      "left",
      "right",
      "inner",
      "outer",
      "cross",
      "full",
      "natural",
      "straight_join",
      "into",
      "from",
      "as",
      "returning",
      "lateral",
      "only",
      "partition",
      "when",
      "then",
      "lock",
      "with",
      "use",
      "force",
      "ignore",
      "tablesample",
      "default",
      "read",
      "write",
      "local",
      "low_priority",
      "to",
      "if",
      "not",
      "exists",
      "in",
      "update",
      "delete",
      "insert",
      "replace",
      "merge",
      "matched",
      "do",
      "conflict",
      "duplicate",
      "nowait",
      "skip",
      "share",
      "mode",
      "concurrently"
    ] as const
  ).map(K)
)

interface Scan {
  readonly sql: string
  readonly lexed: Lexed
  readonly dialect: SqlDialect
  readonly tables: Array<string>
  readonly ctes: ReadonlySet<string>
  /** In RENAME TABLE, `a TO b` names two tables. */
  renaming: boolean
}

const kwAt = (lx: Lexed, i: number): number => (i < lx.count && lx.kinds[i] === T_WORD ? lx.keywords[i]! : -1)
const isPunct = (s: Scan, i: number, ch: number): boolean =>
  i < s.lexed.count && s.lexed.kinds[i] === T_PUNCT && s.sql.charCodeAt(s.lexed.starts[i]!) === ch

const LPAREN = 40
const RPAREN = 41
const COMMA = 44
const SEMICOLON = 59
const DOT = 46

const identText = (s: Scan, i: number): string => {
  const { lexed, sql } = s
  const start = lexed.starts[i]!
  const end = lexed.ends[i]!
  if (lexed.kinds[i] === T_QUOTED_IDENT) {
    const quote = sql[start]!
    const closed = end - start >= 2 && sql[end - 1] === quote
    return sql.slice(start + 1, closed ? end - 1 : end).replaceAll(quote + quote, quote)
  }
  const word = sql.slice(start, end)
  // PostgreSQL folds unquoted names to lowercase; MySQL keeps them as written.
  return s.dialect === "postgres" ? word.toLowerCase() : word
}

const isIdent = (s: Scan, i: number): boolean => {
  if (i >= s.lexed.count) return false
  const kind = s.lexed.kinds[i]
  if (kind === T_QUOTED_IDENT) return true
  return kind === T_WORD && !STOP_WORDS.has(s.lexed.keywords[i]!)
}

// `ident ('.' ident)*` at i: the index after it, and the name recorded; or i when there is none.
const readName = (s: Scan, i: number, functionsAreNotTables: boolean): number => {
  if (!isIdent(s, i)) return i
  const parts = [identText(s, i)]
  let j = i + 1
  while (isPunct(s, j, DOT) && isIdent(s, j + 1)) {
    parts.push(identText(s, j + 1))
    j += 2
  }
  if (functionsAreNotTables && isPunct(s, j, LPAREN)) return j
  const name = parts.length === 1 ? parts[0]! : parts.join(".")
  if (!(parts.length === 1 && s.ctes.size > 0 && s.ctes.has(name.toLowerCase())) && !s.tables.includes(name)) {
    s.tables.push(name)
  }
  return j
}

// Skips a parenthesized group starting at i (which must be `(`): the index after its `)`.
const skipGroup = (s: Scan, i: number): number => {
  let depth = 0
  let j = i
  while (j < s.lexed.count) {
    if (isPunct(s, j, LPAREN)) depth++
    else if (isPunct(s, j, RPAREN)) {
      depth--
      if (depth === 0) return j + 1
    }
    j++
  }
  return j
}

/**
 * A list of table references after FROM, JOIN, UPDATE, INTO, USING, TABLE…: names with aliases, MySQL index
 * hints and partitions, PostgreSQL TABLESAMPLE, separated by commas when `list`. Stops before anything else,
 * including a `(` that opens a subquery, which the caller's scan then walks into.
 */
const readTableList = (s: Scan, at: number, list: boolean, functionsAreNotTables: boolean): number => {
  let i = at
  for (;;) {
    while (true) {
      const k = kwAt(s.lexed, i)
      if (k === KW.only || k === KW.lateral || k === KW.low_priority || k === KW.ignore || k === KW.quick) i++
      else if (k === KW.if && kwAt(s.lexed, i + 1) === KW.not && kwAt(s.lexed, i + 2) === KW.exists) i += 3
      else if (k === KW.if && kwAt(s.lexed, i + 1) === KW.exists) i += 2
      else break
    }
    const after = readName(s, i, functionsAreNotTables)
    if (after === i) return i
    i = after
    // What may follow a name before the next one: partitions, alias, index hints, sampling, lock modes,
    // and RENAME's `TO new_name`.
    if (kwAt(s.lexed, i) === KW.partition && isPunct(s, i + 1, LPAREN)) i = skipGroup(s, i + 1)
    if (kwAt(s.lexed, i) === KW.as) i++
    if (isIdent(s, i) && !isPunct(s, i + 1, DOT) && !isPunct(s, i + 1, LPAREN)) i++
    for (;;) {
      const k = kwAt(s.lexed, i)
      if ((k === KW.use || k === KW.force || k === KW.ignore) && (kwAt(s.lexed, i + 1) === KW.index || kwAt(s.lexed, i + 1) === KW.key)) {
        let j = i + 2
        while (j < s.lexed.count && !isPunct(s, j, LPAREN) && kwAt(s.lexed, j) !== -1 && j < i + 6) j++
        i = isPunct(s, j, LPAREN) ? skipGroup(s, j) : j
      } else if (k === KW.tablesample) {
        let j = i + 2
        if (isPunct(s, j, LPAREN)) j = skipGroup(s, j)
        i = j
      } else if (k === KW.read || k === KW.write || k === KW.local || k === KW.low_priority) {
        i++
      } else if (k === KW.to && s.renaming) {
        i = readName(s, i + 1, false)
      } else {
        break
      }
    }
    if (list && isPunct(s, i, COMMA)) {
      i++
      continue
    }
    return i
  }
}

/** Classifies `sql` with the tokenizer. */
export const classifyTokens = (sql: string, dialect: SqlDialect): Classification => {
  const lexed = lex(sql, dialect)
  const s: Scan = {
    sql,
    lexed,
    dialect,
    tables: [],
    ctes: lexed.hasWith ? collectCteNames(sql, lexed, dialect) : NO_CTES,
    renaming: false
  }
  const n = lexed.count

  let depth = 0
  let statements = 0
  let firstType: StatementType = "other"
  let readOnly = true
  let i = 0
  while (i < n) {
    // One statement: [i, end).
    let end = i
    let d = 0
    const routine = isRoutineDefinition(lexed, i)
    while (end < n) {
      if (lexed.kinds[end] === T_PUNCT) {
        const ch = sql.charCodeAt(lexed.starts[end]!)
        if (ch === LPAREN) d++
        else if (ch === RPAREN) d--
        else if (ch === SEMICOLON && !routine) break
      }
      end++
    }
    depth += d
    if (end > i) {
      const verdict = classifyStatement(s, i, end, 0)
      if (statements === 0) firstType = verdict.type
      readOnly = readOnly && verdict.readOnly
      statements++
    }
    i = end + 1
  }

  return {
    statementType: firstType,
    readOnly: statements > 0 && readOnly,
    tables: s.tables,
    multiStatement: statements > 1,
    truncated: lexed.unterminated || depth > 0,
    tags: parseTags(sql, lexed.comments)
  }
}

// MySQL's CREATE PROCEDURE / FUNCTION / TRIGGER / EVENT bodies hold `;` that do not end the statement.
const isRoutineDefinition = (lx: Lexed, i: number): boolean => {
  if (kwAt(lx, i) !== KW.create) return false
  for (let j = i + 1; j < Math.min(lx.count, i + 8); j++) {
    const k = kwAt(lx, j)
    if (k === KW.procedure || k === KW.function || k === KW.trigger || k === KW.event) return true
  }
  return false
}

const NO_CTES: ReadonlySet<string> = new Set()

/** The names `WITH name AS (…)` defines anywhere in the text: references to them are not tables. */
const collectCteNames = (sql: string, lx: Lexed, dialect: SqlDialect): Set<string> => {
  const names = new Set<string>()
  const s: Scan = { sql, lexed: lx, dialect, tables: [], ctes: names, renaming: false }
  for (let i = 0; i < lx.count; i++) {
    if (kwAt(lx, i) !== KW.with) continue
    let j = i + 1
    if (kwAt(lx, j) === KW.recursive) j++
    for (;;) {
      if (!(lx.kinds[j] === T_WORD || lx.kinds[j] === T_QUOTED_IDENT) || j >= lx.count) break
      const name = identText(s, j).toLowerCase()
      j++
      if (isPunct(s, j, LPAREN)) j = skipGroup(s, j)
      if (kwAt(lx, j) !== KW.as) break
      names.add(name)
      j++
      if (kwAt(lx, j) === KW.not) j++
      if (kwAt(lx, j) === KW.materialized) j++
      if (!isPunct(s, j, LPAREN)) break
      j = skipGroup(s, j)
      if (!isPunct(s, j, COMMA)) break
      j++
    }
  }
  return names
}

interface Verdict {
  readonly type: StatementType
  readonly readOnly: boolean
}

const QUERY_STARTS = new Set<number>([KW.select, KW.with, KW.values, KW.table, KW.insert, KW.update, KW.delete, KW.merge])

const classifyStatement = (s: Scan, from: number, to: number, nesting: number): Verdict => {
  const lx = s.lexed
  // The main keyword: after leading parentheses and a WITH list.
  let main = from
  while (main < to && isPunct(s, main, LPAREN)) main++
  if (kwAt(lx, main) === KW.with) main = afterWithList(s, main, to)
  const k = kwAt(lx, main)
  const type: StatementType = STATEMENT_TYPES.get(k) ?? "other"
  s.renaming = k === KW.rename

  let readOnly: boolean
  if (type === "select") readOnly = true
  else if (type === "utility") readOnly = READ_ONLY_UTILITY.has(k)
  else if (type === "set") readOnly = true
  else readOnly = false

  // Tables the main keyword introduces directly.
  if (k === KW.update) readTableList(s, main + 1, true, false)
  else if (k === KW.insert || k === KW.replace) {
    let j = main + 1
    while (kwAt(lx, j) === KW.low_priority || kwAt(lx, j) === KW.high_priority || kwAt(lx, j) === KW.delayed || kwAt(lx, j) === KW.ignore) j++
    if (kwAt(lx, j) !== KW.into) readTableList(s, j, false, false)
  } else if (k === KW.table && type === "select") readTableList(s, main + 1, false, false)
  else if (k === KW.truncate || k === KW.lock || k === KW.copy) {
    const j = kwAt(lx, main + 1) === KW.table || kwAt(lx, main + 1) === KW.tables ? main + 2 : main + 1
    readTableList(s, j, true, false)
  } else if (k === KW.describe || k === KW.desc || (k === KW.explain && s.dialect === "mysql" && explainsTable(s, main, to))) {
    readTableList(s, main + 1, false, false)
  }

  // Everything else, in order, at any depth: FROM, JOIN, INTO, USING, TABLE, REFERENCES, INDEX … ON, and what
  // makes a read write.
  let sawIndex = false
  // Whether each open parenthesis holds a query (FROM there lists tables) or an expression, where FROM is
  // part of EXTRACT(… FROM …), SUBSTRING(… FROM …) and the like.
  const queryContext: Array<boolean> = [true]
  for (let i = from; i < to; i++) {
    const kind = lx.kinds[i]
    if (kind === T_PUNCT) {
      const ch = s.sql.charCodeAt(lx.starts[i]!)
      if (ch === LPAREN) queryContext.push(QUERY_STARTS.has(kwAt(lx, i + 1)))
      else if (ch === RPAREN && queryContext.length > 1) queryContext.pop()
      continue
    }
    if (kind !== T_WORD) continue
    const w = lx.keywords[i]!
    if (w === 0) continue
    const prevParen = i > from && isPunct(s, i - 1, LPAREN)
    if (w === KW.from) {
      // COPY t FROM 'file' reads a file; a query inside COPY (…) has its own FROM.
      if (queryContext[queryContext.length - 1] === true && (k !== KW.copy || queryContext.length > 1)) {
        readTableList(s, i + 1, true, true)
      }
    } else if (w === KW.join) {
      readTableList(s, i + 1, false, true)
    } else if (w === KW.using) {
      if (!isPunct(s, i + 1, LPAREN)) readTableList(s, i + 1, true, true)
    } else if (w === KW.into) {
      const next = kwAt(lx, i + 1)
      if (next !== KW.outfile && next !== KW.dumpfile && isIdent(s, i + 1)) {
        if (kwAt(lx, i + 1) === KW.table) readTableList(s, i + 2, false, false)
        else readTableList(s, i + 1, false, false)
      }
      // SELECT … INTO writes: a file or variables in MySQL, a new table in PostgreSQL.
      if (type === "select") readOnly = false
    } else if (w === KW.table || w === KW.tables) {
      if (i !== main) readTableList(s, i + 1, true, false)
    } else if (w === KW.references) {
      readTableList(s, i + 1, false, false)
    } else if (w === KW.index) {
      sawIndex = true
    } else if (w === KW.on && sawIndex) {
      sawIndex = false
      readTableList(s, i + 1, false, false)
    } else if (type === "select" && prevParen && (w === KW.insert || w === KW.update || w === KW.delete || w === KW.merge)) {
      // A data-modifying CTE or subquery: `WITH x AS (DELETE … RETURNING *) SELECT …`.
      readOnly = false
    } else if (type === "select" && w === KW.for && (kwAt(lx, i + 1) === KW.update || kwAt(lx, i + 1) === KW.share || kwAt(lx, i + 1) === KW.not || kwAt(lx, i + 1) === KW.key)) {
      // Locking reads take row locks, which a read-only transaction refuses.
      readOnly = false
    } else if (type === "select" && w === KW.lock && kwAt(lx, i + 1) === KW.in && kwAt(lx, i + 2) === KW.share) {
      readOnly = false
    } else if (type === "set" && (w === KW.global || w === KW.persist)) {
      readOnly = false
    }
  }

  if (isExplain(k) || k === KW.analyze || k === KW.analyse) {
    // The statement EXPLAIN shows, if any: EXPLAIN ANALYZE (and MariaDB's ANALYZE <statement>) runs it, and
    // so writes when it does. PostgreSQL's ANALYZE <table> and ANALYZE TABLE write statistics.
    let inner = main + 1
    while (inner < to && !INNER_STARTS.has(kwAt(lx, inner))) {
      inner = isPunct(s, inner, LPAREN) ? skipGroup(s, inner) : inner + 1
    }
    let runs = !isExplain(k)
    for (let j = main + 1; j < inner; j++) if (kwAt(lx, j) === KW.analyze || kwAt(lx, j) === KW.analyse) runs = true
    if (inner < to && nesting < 4) {
      const verdict = classifyStatement(s, inner, to, nesting + 1)
      readOnly = runs ? verdict.readOnly : true
    } else {
      readOnly = !runs
    }
  }
  if (k === KW.copy) readOnly = copyIsReadOnly(s, main, to)
  return { type, readOnly }
}

// MySQL's `EXPLAIN tbl [col]` is DESCRIBE; `EXPLAIN FORMAT=JSON …` and `EXPLAIN SELECT …` are not.
const explainsTable = (s: Scan, main: number, to: number): boolean => {
  if (!isIdent(s, main + 1)) return false
  let j = main + 2
  while (isPunct(s, j, DOT) && isIdent(s, j + 1)) j += 2
  return j >= to || isIdent(s, j)
}

const isExplain = (k: number): boolean => k === KW.explain || k === KW.describe || k === KW.desc
const INNER_STARTS = new Set<number>([KW.select, KW.with, KW.values, KW.insert, KW.update, KW.delete, KW.replace, KW.merge])

// PostgreSQL COPY … TO reads; COPY … FROM writes.
const copyIsReadOnly = (s: Scan, from: number, to: number): boolean => {
  let depth = 0
  for (let i = from + 1; i < to; i++) {
    if (isPunct(s, i, LPAREN)) depth++
    else if (isPunct(s, i, RPAREN)) depth--
    else if (depth === 0) {
      const k = kwAt(s.lexed, i)
      if (k === KW.to) return true
      if (k === KW.from) return false
    }
  }
  return false
}

// The keyword after `WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (…) [, …]`.
const afterWithList = (s: Scan, at: number, to: number): number => {
  const lx = s.lexed
  let j = at + 1
  if (kwAt(lx, j) === KW.recursive) j++
  for (;;) {
    if (j >= to) return j
    j++
    if (isPunct(s, j, LPAREN)) j = skipGroup(s, j)
    if (kwAt(lx, j) === KW.as) j++
    if (kwAt(lx, j) === KW.not) j++
    if (kwAt(lx, j) === KW.materialized) j++
    if (isPunct(s, j, LPAREN)) j = skipGroup(s, j)
    if (!isPunct(s, j, COMMA)) break
    j++
  }
  while (j < to && isPunct(s, j, LPAREN)) j++
  return j
}

/** Whether a token is a literal or a parameter: what a normalizer replaces. */
export const isLiteralKind = (kind: number): boolean => kind === T_STRING || kind === T_NUMBER || kind === T_PARAM
