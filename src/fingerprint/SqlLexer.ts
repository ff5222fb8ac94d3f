import type { SqlDialect } from "./SqlDialect.js"

/**
 * A single-pass SQL tokenizer for classification: what kind of statement, which tables, how many statements,
 * whether the text was cut off, and which comments carry tags. It knows each dialect's quoting and comment
 * rules (MySQL: backslash escapes, backticks, `#` and `-- ` comments, `/*! … *\/` code; PostgreSQL: `E''`,
 * dollar quoting, nested block comments, `"identifiers"`) and nothing of its grammar; it never backtracks.
 *
 * Tokens are kept in reusable typed arrays rather than objects: classification runs on every statement.
 */

export const T_WORD = 1
export const T_QUOTED_IDENT = 2
export const T_STRING = 3
export const T_NUMBER = 4
export const T_PARAM = 5
export const T_PUNCT = 6
export const T_OPERATOR = 7

export interface Lexed {
  readonly count: number
  readonly kinds: Uint8Array
  readonly starts: Int32Array
  readonly ends: Int32Array
  /** Keyword id of each WORD token (see `keywordId`), 0 for other words. */
  readonly keywords: Int32Array
  /** Block and line comments: [start, end) pairs of their text without delimiters. */
  readonly comments: ReadonlyArray<number>
  /** The text ends inside a string, quoted identifier or comment. */
  readonly unterminated: boolean
  /** A WITH keyword occurs: there may be CTE names to tell apart from tables. */
  readonly hasWith: boolean
}

const KEYWORDS = [
  "select",
  "insert",
  "update",
  "delete",
  "replace",
  "merge",
  "with",
  "recursive",
  "values",
  "table",
  "tables",
  "create",
  "alter",
  "drop",
  "truncate",
  "rename",
  "comment",
  "grant",
  "revoke",
  "call",
  "do",
  "set",
  "reset",
  "show",
  "explain",
  "describe",
  "desc",
  "analyze",
  "analyse",
  "use",
  "begin",
  "start",
  "commit",
  "rollback",
  "savepoint",
  "release",
  "lock",
  "unlock",
  "flush",
  "kill",
  "optimize",
  "check",
  "repair",
  "vacuum",
  "checkpoint",
  "listen",
  "notify",
  "unlisten",
  "prepare",
  "execute",
  "deallocate",
  "declare",
  "fetch",
  "close",
  "move",
  "copy",
  "xa",
  "handler",
  "load",
  "discard",
  "from",
  "join",
  "into",
  "using",
  "only",
  "lateral",
  "as",
  "on",
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
  "share",
  "in",
  "mode",
  "outfile",
  "dumpfile",
  "global",
  "persist",
  "index",
  "key",
  "to",
  "if",
  "exists",
  "not",
  "materialized",
  "natural",
  "left",
  "right",
  "inner",
  "outer",
  "cross",
  "full",
  "straight_join",
  "partition",
  "returning",
  "force",
  "ignore",
  "low_priority",
  "high_priority",
  "delayed",
  "quick",
  "read",
  "write",
  "local",
  "references",
  "unique",
  "temporary",
  "temp",
  "unlogged",
  "data",
  "infile",
  "concurrently",
  "nowait",
  "skip",
  "returns",
  "when",
  "then",
  "matched",
  "tablesample",
  "lines",
  "fields",
  "character",
  "straight",
  "procedure",
  "function",
  "view",
  "trigger",
  "database",
  "schema",
  "sequence",
  "extension",
  "type",
  "role",
  "user",
  "event",
  "server",
  "policy",
  "publication",
  "subscription",
  "statistics",
  "domain",
  "aggregate",
  "operator",
  "cast",
  "collation",
  "conversion",
  "language",
  "rule",
  "tablespace",
  "owned",
  "security",
  "label",
  "default",
  "refresh",
  "reindex",
  "cluster",
  "import",
  "security",
  "work",
  "transaction",
  "abort",
  "end",
  "session",
  "characteristics",
  "authorization",
  "names",
  "returning",
  "conflict",
  "duplicate",
  "nothing",
  "format",
  "verbose",
  "costs",
  "buffers",
  "timing",
  "summary",
  "wal",
  "settings",
  "generic_plan",
  "extended",
  "partitions"
] as const

export type Keyword = (typeof KEYWORDS)[number]

const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c)
const hashStep = (h: number, c: number): number => Math.imul(h ^ lower(c), 16777619)
const HASH_SEED = 0x811c9dc5 | 0

// Keywords by hash in an open-addressing table: a word's lookup is one or two array reads, then a check.
const TABLE_BITS = 10
const TABLE_MASK = (1 << TABLE_BITS) - 1
const keywordHashes = new Int32Array(1 << TABLE_BITS)
const keywordIds = new Int32Array(1 << TABLE_BITS)
const keywordText: Array<string> = [""]
const hashOf = (word: string): number => {
  let h = HASH_SEED
  for (let i = 0; i < word.length; i++) h = hashStep(h, word.charCodeAt(i))
  return h
}
for (const word of new Set(KEYWORDS)) {
  keywordText.push(word)
  const h = hashOf(word)
  let slot = h & TABLE_MASK
  while (keywordIds[slot] !== 0) slot = (slot + 1) & TABLE_MASK
  keywordHashes[slot] = h
  keywordIds[slot] = keywordText.length - 1
}
const lookupKeyword = (h: number): number => {
  let slot = h & TABLE_MASK
  for (;;) {
    const id = keywordIds[slot]!
    if (id === 0) return 0
    if (keywordHashes[slot] === h) return id
    slot = (slot + 1) & TABLE_MASK
  }
}

/** The id `Lexed.keywords` holds for `word` (lowercase). */
export const keywordId = (word: Keyword): number => lookupKeyword(hashOf(word))
const WITH = keywordId("with")

// Identifier characters: ASCII letters, digits, `_`, `$` and everything outside ASCII.
const isIdentPart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c >= 128
const isIdentStart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)

let capacity = 0
let count = 0
let kinds = new Uint8Array(0)
let starts = new Int32Array(0)
let ends = new Int32Array(0)
let keywords = new Int32Array(0)

const grow = (): void => {
  const size = Math.max(256, capacity * 2)
  const k = new Uint8Array(size)
  const s = new Int32Array(size)
  const e = new Int32Array(size)
  const w = new Int32Array(size)
  k.set(kinds)
  s.set(starts)
  e.set(ends)
  w.set(keywords)
  kinds = k
  starts = s
  ends = e
  keywords = w
  capacity = size
}

const push = (kind: number, start: number, end: number, keyword: number): void => {
  if (count === capacity) grow()
  kinds[count] = kind
  starts[count] = start
  ends[count] = end
  keywords[count] = keyword
  count++
}

const NO_COMMENTS: ReadonlyArray<number> = []
let comments: Array<number> | undefined
const addComment = (start: number, end: number): void => {
  if (comments === undefined) comments = []
  comments.push(start, end)
}

/**
 * Tokenizes `sql` in one pass. The arrays of the result are shared and overwritten by the next call.
 */
export const lex = (sql: string, dialect: SqlDialect): Lexed => {
  // Arrays grown for a huge statement are given back at the next call.
  if (capacity > 1 << 18) {
    capacity = 0
    kinds = new Uint8Array(0)
    starts = new Int32Array(0)
    ends = new Int32Array(0)
    keywords = new Int32Array(0)
  }
  const mysql = dialect === "mysql"
  const n = sql.length
  comments = undefined
  count = 0
  let unterminated = false
  let hasWith = false
  let i = 0
  // MySQL's `/*! … */` holds code: lex inside it, and skip its `*/`.
  let inVersionComment = false

  while (i < n) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    // Comments.
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      if (mysql && (sql.charCodeAt(i + 2) === 33 || (sql.charCodeAt(i + 2) === 77 && sql.charCodeAt(i + 3) === 33))) {
        // `/*!50001 …*/` or MariaDB's `/*M!100100 …*/`: code for servers at least that version.
        i += sql.charCodeAt(i + 2) === 33 ? 3 : 4
        while (i < n && isDigit(sql.charCodeAt(i))) i++
        inVersionComment = true
        continue
      }
      const start = i + 2
      let depth = 1
      let j = start
      while (j < n) {
        const d = sql.charCodeAt(j)
        if (d === 42 && sql.charCodeAt(j + 1) === 47) {
          depth--
          if (depth === 0 || mysql) break
          j += 2
        } else if (!mysql && d === 47 && sql.charCodeAt(j + 1) === 42) {
          depth++
          j += 2
        } else {
          j++
        }
      }
      if (j >= n) {
        unterminated = true
        addComment(start, n)
        i = n
      } else {
        addComment(start, j)
        i = j + 2
      }
      continue
    }
    if (inVersionComment && c === 42 && sql.charCodeAt(i + 1) === 47) {
      inVersionComment = false
      i += 2
      continue
    }
    if (
      (c === 45 && sql.charCodeAt(i + 1) === 45 && (!mysql || i + 2 >= n || isSpace(sql.charCodeAt(i + 2)))) ||
      (mysql && c === 35)
    ) {
      const start = i + (c === 35 ? 1 : 2)
      let j = start
      while (j < n && sql.charCodeAt(j) !== 10 && sql.charCodeAt(j) !== 13) j++
      addComment(start, j)
      i = j
      continue
    }
    // Strings and quoted identifiers.
    if (c === 39 || (mysql && c === 34)) {
      const end = scanQuoted(sql, i + 1, c, mysql)
      if (end < 0) {
        unterminated = true
        push(T_STRING, i, n, 0)
        i = n
      } else {
        push(T_STRING, i, end, 0)
        i = end
      }
      continue
    }
    if ((mysql && c === 96) || (!mysql && c === 34)) {
      const end = scanQuoted(sql, i + 1, c, false)
      if (end < 0) {
        unterminated = true
        push(T_QUOTED_IDENT, i, n, 0)
        i = n
      } else {
        push(T_QUOTED_IDENT, i, end, 0)
        i = end
      }
      continue
    }
    if (!mysql && c === 36) {
      // `$1` parameter, or a `$tag$ … $tag$` dollar-quoted string.
      if (isDigit(sql.charCodeAt(i + 1))) {
        let j = i + 1
        while (j < n && isDigit(sql.charCodeAt(j))) j++
        push(T_PARAM, i, j, 0)
        i = j
        continue
      }
      let j = i + 1
      while (j < n && isIdentPart(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++
      if (sql.charCodeAt(j) === 36) {
        const tag = sql.slice(i, j + 1)
        const close = sql.indexOf(tag, j + 1)
        if (close < 0) {
          unterminated = true
          push(T_STRING, i, n, 0)
          i = n
        } else {
          push(T_STRING, i, close + tag.length, 0)
          i = close + tag.length
        }
        continue
      }
    }
    if (isIdentStart(c)) {
      // A word, or a prefixed string: E'…', B'…', X'…', N'…', U&'…', _charset'…'.
      let j = i
      let h = HASH_SEED
      while (j < n && isIdentPart(sql.charCodeAt(j))) {
        h = hashStep(h, sql.charCodeAt(j))
        j++
      }
      const next = sql.charCodeAt(j)
      if (next === 39 && j - i <= 64) {
        const escapes = mysql || j - i === 1 && (c | 32) === 101
        const end = scanQuoted(sql, j + 1, 39, escapes)
        if (end < 0) {
          unterminated = true
          push(T_STRING, i, n, 0)
          i = n
        } else {
          push(T_STRING, i, end, 0)
          i = end
        }
        continue
      }
      if (!mysql && next === 38 && j - i === 1 && (c | 32) === 117 && sql.charCodeAt(j + 1) === 39) {
        const end = scanQuoted(sql, j + 2, 39, false)
        push(T_STRING, i, end < 0 ? n : end, 0)
        if (end < 0) unterminated = true
        i = end < 0 ? n : end
        continue
      }
      let id = lookupKeyword(h)
      if (id !== 0 && !matchesKeyword(sql, i, j, id)) id = 0
      if (id === WITH) hasWith = true
      push(T_WORD, i, j, id)
      i = j
      continue
    }
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1
      for (;;) {
        const d = sql.charCodeAt(j)
        if (isIdentPart(d) || d === 46) j++
        else if ((d === 43 || d === 45) && ((sql.charCodeAt(j - 1) | 32) === 101) && isDigit(sql.charCodeAt(i))) j++
        else break
      }
      push(T_NUMBER, i, j, 0)
      i = j
      continue
    }
    if (c === 63 || (c === 58 && isIdentStart(sql.charCodeAt(i + 1)) && sql.charCodeAt(i - 1) !== 58)) {
      // `?` placeholders, `:name` binds (but not the `::` cast).
      let j = i + 1
      if (c === 58) while (j < n && isIdentPart(sql.charCodeAt(j))) j++
      push(T_PARAM, i, j, 0)
      i = j
      continue
    }
    if (c === 40 || c === 41 || c === 44 || c === 59 || c === 46) {
      push(T_PUNCT, i, i + 1, 0)
      i++
      continue
    }
    push(T_OPERATOR, i, i + 1, 0)
    i++
  }
  return { count, kinds, starts, ends, keywords, comments: comments ?? NO_COMMENTS, unterminated, hasWith }
}

const matchesKeyword = (sql: string, start: number, end: number, id: number): boolean => {
  const word = keywordText[id]!
  if (word.length !== end - start) return false
  for (let k = 0; k < word.length; k++) if (lower(sql.charCodeAt(start + k)) !== word.charCodeAt(k)) return false
  return true
}

// The end (exclusive) of a quoted token whose body starts at `from`, or -1 when it is not closed. A doubled
// quote stands for itself; with `escapes`, so does a backslash-escaped one.
const scanQuoted = (sql: string, from: number, quote: number, escapes: boolean): number => {
  const n = sql.length
  let j = from
  while (j < n) {
    const d = sql.charCodeAt(j)
    if (escapes && d === 92) {
      j += 2
      continue
    }
    if (d === quote) {
      if (sql.charCodeAt(j + 1) === quote) {
        j += 2
        continue
      }
      return j + 1
    }
    j++
  }
  return -1
}
