import type { Dialect } from "../../src/domain/SlowQueryEvent.js"

/**
 * A one-pass SQL lexer, just precise enough for the explain policy: where statements end, which words are code and
 * which are inside quotes or comments, how parentheses nest. It errs towards refusing: text it cannot lex with
 * certainty (an unterminated quote or comment, unbalanced parentheses) is an error, never a guess. Linear in the
 * length of the text; no regular expressions.
 */

export type TokenKind =
  | "word"
  | "identifier"
  | "string"
  | "number"
  | "parameter"
  | "placeholder"
  | "variable"
  | "open"
  | "close"
  | "comma"
  | "semicolon"
  | "dot"
  | "operator"

export interface Token {
  readonly kind: TokenKind
  /** Offsets into the text: `text.slice(start, end)` is the token as written. */
  readonly start: number
  readonly end: number
  /**
   * Words: the upper-cased word. Quoted identifiers (and MySQL double-quoted strings, which are identifiers under
   * ANSI_QUOTES): the upper-cased name without quotes. Parameters: the number. Otherwise the text as written.
   */
  readonly value: string
  /** Parenthesis depth the token is at; an `open` token has the depth outside it. */
  readonly depth: number
  /** MySQL `"…"`: a string, or an identifier when the server runs with ANSI_QUOTES. */
  readonly doubleQuoted?: boolean
}

export interface LexOptions {
  readonly dialect: Dialect
  /**
   * Whether a backslash escapes the next character inside '…'. MySQL: yes unless sql_mode has
   * NO_BACKSLASH_ESCAPES. PostgreSQL: only when standard_conforming_strings is off (E'…' always).
   */
  readonly backslashEscapes: boolean
  /** MySQL sql_mode ANSI_QUOTES: "…" is an identifier, inside which a backslash is an ordinary character. */
  readonly ansiQuotes?: boolean
}

export interface Lexed {
  readonly tokens: ReadonlyArray<Token>
  /** For every `open`/`close` token index, the index of its partner. */
  readonly partner: ReadonlyMap<number, number>
  /** Offset where the first statement ends: its first `;`, or the end of the text. */
  readonly firstStatementEnd: number
  /** Index of the first `;` token, or the token count. */
  readonly firstStatementTokens: number
  /** Whether anything but comments and further `;` follows the first `;`. */
  readonly multiStatement: boolean
}

export type LexResult = { readonly _tag: "Ok"; readonly lexed: Lexed } | { readonly _tag: "Error"; readonly reason: string }

const isAsciiLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isDigit = (c: number) => c >= 48 && c <= 57
// Both dialects take letters, digits, _ and $ inside unquoted names, and any non-ASCII character.
const isWordPart = (c: number) => isAsciiLetter(c) || isDigit(c) || c === 95 || c === 36 || c >= 128
const isWordStart = (c: number, dialect: Dialect) =>
  isAsciiLetter(c) || c === 95 || c >= 128 || (dialect === "mysql" && c === 36)
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13)

const upper = (text: string) => {
  // ASCII only: SQL keywords are ASCII, and a locale-aware upper-casing could map a non-ASCII letter onto one.
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    out += c >= 97 && c <= 122 ? String.fromCharCode(c - 32) : text[i]
  }
  return out
}

/** Lexes `text`; an error names what makes the text unsafe to interpret. */
export const lex = (text: string, options: LexOptions): LexResult => {
  const { dialect } = options
  const n = text.length
  const tokens: Array<Token> = []
  const partner = new Map<number, number>()
  const openStack: Array<number> = []
  let depth = 0
  let i = 0
  // Inside a MySQL executable comment (/*! … */ or /*M! … */), whose content the server runs as code.
  let inExecutableComment = false

  const push = (kind: TokenKind, start: number, end: number, value: string, extra?: { doubleQuoted: boolean }) => {
    tokens.push(extra === undefined ? { kind, start, end, value, depth } : { kind, start, end, value, depth, ...extra })
  }

  // Scans a quoted run from `from` (just after the opening quote); returns the index after the closing quote or -1.
  const scanQuoted = (from: number, quote: number, backslash: boolean): number => {
    let j = from
    while (j < n) {
      const c = text.charCodeAt(j)
      if (backslash && c === 92) {
        j += 2
        continue
      }
      if (c === quote) {
        if (j + 1 < n && text.charCodeAt(j + 1) === quote) {
          j += 2
          continue
        }
        return j + 1
      }
      j++
    }
    return -1
  }

  const unquote = (raw: string, quote: string) => upper(raw.slice(1, -1).split(quote + quote).join(quote))

  while (i < n) {
    const c = text.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    const next = i + 1 < n ? text.charCodeAt(i + 1) : -1

    // Comments
    if (c === 45 && next === 45) {
      const after = i + 2 < n ? text.charCodeAt(i + 2) : -1
      // MySQL needs whitespace or a control character after "--" (so 1--1 is 2); PostgreSQL does not.
      if (dialect === "postgres" || after === -1 || after <= 32) {
        if (inExecutableComment) return { _tag: "Error", reason: "unterminated: comment inside an executable comment" }
        let j = i + 2
        while (j < n && text.charCodeAt(j) !== 10 && text.charCodeAt(j) !== 13) j++
        i = j
        continue
      }
    }
    if (c === 35 && dialect === "mysql") {
      if (inExecutableComment) return { _tag: "Error", reason: "unterminated: comment inside an executable comment" }
      let j = i + 1
      while (j < n && text.charCodeAt(j) !== 10 && text.charCodeAt(j) !== 13) j++
      i = j
      continue
    }
    if (c === 42 && next === 47 && inExecutableComment) {
      inExecutableComment = false
      i += 2
      continue
    }
    if (c === 47 && next === 42) {
      if (dialect === "mysql") {
        if (inExecutableComment) return { _tag: "Error", reason: "unterminated: comment inside an executable comment" }
        const third = i + 2 < n ? text.charCodeAt(i + 2) : -1
        const fourth = i + 3 < n ? text.charCodeAt(i + 3) : -1
        if (third === 33 || ((third === 77 || third === 109) && fourth === 33)) {
          // /*!NNNNN code */ and /*M!NNNNNN code */: the server runs the code, so it is lexed as code.
          let j = i + (third === 33 ? 3 : 4)
          while (j < n && isDigit(text.charCodeAt(j))) j++
          inExecutableComment = true
          i = j
          continue
        }
        const close = text.indexOf("*/", i + 2)
        if (close < 0) return { _tag: "Error", reason: "unterminated: comment" }
        i = close + 2
        continue
      }
      // PostgreSQL comments nest.
      let level = 1
      let j = i + 2
      while (j < n && level > 0) {
        const d = text.charCodeAt(j)
        const e = j + 1 < n ? text.charCodeAt(j + 1) : -1
        if (d === 47 && e === 42) {
          level++
          j += 2
        } else if (d === 42 && e === 47) {
          level--
          j += 2
        } else {
          j++
        }
      }
      if (level > 0) return { _tag: "Error", reason: "unterminated: comment" }
      i = j
      continue
    }

    // Quotes
    if (c === 39) {
      const end = scanQuoted(i + 1, 39, options.backslashEscapes)
      if (end < 0) return { _tag: "Error", reason: "unterminated: quoted string" }
      push("string", i, end, text.slice(i, end))
      i = end
      continue
    }
    if (c === 34) {
      if (dialect === "mysql") {
        const end = scanQuoted(i + 1, 34, options.backslashEscapes && options.ansiQuotes !== true)
        if (end < 0) return { _tag: "Error", reason: "unterminated: quoted string" }
        push("string", i, end, unquote(text.slice(i, end), '"'), { doubleQuoted: true })
        i = end
        continue
      }
      const end = scanQuoted(i + 1, 34, false)
      if (end < 0) return { _tag: "Error", reason: "unterminated: quoted identifier" }
      push("identifier", i, end, unquote(text.slice(i, end), '"'))
      i = end
      continue
    }
    if (c === 96 && dialect === "mysql") {
      const end = scanQuoted(i + 1, 96, false)
      if (end < 0) return { _tag: "Error", reason: "unterminated: quoted identifier" }
      push("identifier", i, end, unquote(text.slice(i, end), "`"))
      i = end
      continue
    }

    // PostgreSQL $n and $tag$…$tag$
    if (c === 36 && dialect === "postgres") {
      if (isDigit(next)) {
        let j = i + 1
        while (j < n && isDigit(text.charCodeAt(j))) j++
        push("parameter", i, j, String(Number(text.slice(i + 1, j))))
        i = j
        continue
      }
      let j = i + 1
      if (next === 36 || (next !== -1 && isWordStart(next, "postgres"))) {
        while (j < n && text.charCodeAt(j) !== 36 && isWordPart(text.charCodeAt(j))) j++
        if (j < n && text.charCodeAt(j) === 36) {
          const tag = text.slice(i, j + 1)
          const close = text.indexOf(tag, j + 1)
          if (close < 0) return { _tag: "Error", reason: "unterminated: dollar-quoted string" }
          push("string", i, close + tag.length, text.slice(i, close + tag.length))
          i = close + tag.length
          continue
        }
      }
      push("operator", i, i + 1, "$")
      i++
      continue
    }

    // Words, and PostgreSQL's E'…' (the one string form where a backslash always escapes)
    if (isWordStart(c, dialect)) {
      let j = i + 1
      while (j < n && isWordPart(text.charCodeAt(j))) j++
      if (dialect === "postgres" && j === i + 1 && (c === 69 || c === 101) && j < n && text.charCodeAt(j) === 39) {
        const end = scanQuoted(j + 1, 39, true)
        if (end < 0) return { _tag: "Error", reason: "unterminated: quoted string" }
        push("string", i, end, text.slice(i, end))
        i = end
        continue
      }
      push("word", i, j, upper(text.slice(i, j)))
      i = j
      continue
    }
    if (isDigit(c) || (c === 46 && isDigit(next))) {
      let j = i + 1
      while (j < n) {
        const d = text.charCodeAt(j)
        if (isWordPart(d) || d === 46) {
          j++
        } else if ((d === 43 || d === 45) && (text.charCodeAt(j - 1) === 101 || text.charCodeAt(j - 1) === 69)) {
          j++
        } else {
          break
        }
      }
      push("number", i, j, text.slice(i, j))
      i = j
      continue
    }

    // MySQL variables (@v, @@session.v, @'quoted') and placeholders
    if (c === 64 && dialect === "mysql") {
      let j = i + 1
      if (j < n && text.charCodeAt(j) === 64) j++
      const q = j < n ? text.charCodeAt(j) : -1
      if (q === 39 || q === 34 || q === 96) {
        const end = scanQuoted(j + 1, q, q !== 96 && options.backslashEscapes)
        if (end < 0) return { _tag: "Error", reason: "unterminated: quoted variable name" }
        j = end
      } else {
        while (j < n && (isWordPart(text.charCodeAt(j)) || text.charCodeAt(j) === 46)) j++
      }
      push("variable", i, j, upper(text.slice(i, j)))
      i = j
      continue
    }
    if (c === 63 && dialect === "mysql") {
      push("placeholder", i, i + 1, "?")
      i++
      continue
    }

    // Punctuation
    if (c === 40) {
      openStack.push(tokens.length)
      push("open", i, i + 1, "(")
      depth++
      i++
      continue
    }
    if (c === 41) {
      const open = openStack.pop()
      if (open === undefined) return { _tag: "Error", reason: "unbalanced: parentheses" }
      depth--
      partner.set(open, tokens.length)
      partner.set(tokens.length, open)
      push("close", i, i + 1, ")")
      i++
      continue
    }
    if (c === 44) {
      push("comma", i, i + 1, ",")
      i++
      continue
    }
    if (c === 59) {
      push("semicolon", i, i + 1, ";")
      i++
      continue
    }
    if (c === 46) {
      push("dot", i, i + 1, ".")
      i++
      continue
    }
    push("operator", i, i + 1, text[i]!)
    i++
  }
  if (inExecutableComment) return { _tag: "Error", reason: "unterminated: executable comment" }
  if (openStack.length > 0) return { _tag: "Error", reason: "unbalanced: parentheses" }

  let firstSemicolon = tokens.findIndex((t) => t.kind === "semicolon")
  if (firstSemicolon < 0) firstSemicolon = tokens.length
  const multiStatement = tokens.slice(firstSemicolon).some((t) => t.kind !== "semicolon")
  return {
    _tag: "Ok",
    lexed: {
      tokens,
      partner,
      firstStatementEnd: firstSemicolon < tokens.length ? tokens[firstSemicolon]!.start : n,
      firstStatementTokens: firstSemicolon,
      multiStatement
    }
  }
}
