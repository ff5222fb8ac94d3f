import { hash } from "node:crypto"

/**
 * pt-query-digest's fingerprint (Percona Toolkit 3.2.1, `QueryRewriter::fingerprint`), byte for byte, and its
 * Query ID.
 *
 * pt defines its fingerprint as a sequence of regular-expression rewrites over raw bytes, and the quirks of
 * that sequence are part of the contract: comments are stripped before quotes are paired, double quotes are
 * paired before single quotes, `-`, `x`, `b` and `.` next to a number are swallowed, and so on. A real SQL
 * tokenizer gives a different answer on exactly the inputs users have already grouped with pt, so this file
 * reproduces the rewrites as hand-written scans over the statement's bytes (UTF-8, or whatever the server
 * wrote), which is what pt's regexes see: only ASCII letters are lowercased, only ASCII letters, digits and
 * `_` are word characters and only ASCII whitespace is whitespace. The rewrites that most statements need
 * run fused in one scan; every scan is linear and none backtracks. The one rewrite whose regex needs quadratic
 * time in pt (collapsing repeated UNION arms: a back-reference under a lazy quantifier) runs under a work
 * budget proportional to the input.
 */

export interface MysqlFingerprintOptions {
  /** pt-query-digest's `--preserve-embedded-numbers`: `users_2009` stays `users_2009`. */
  readonly matchEmbeddedNumbers?: boolean
  /**
   * pt-fingerprint 3.2.1 keeps `true`/`false`; pt-query-digest 3.2.1 turns them into `?`. The default follows
   * pt-query-digest, whose Query IDs users see; this switch exists to compare with pt-fingerprint itself.
   */
  readonly keepBooleans?: boolean
  /**
   * The rewrite ends with Perl's `chomp`, which removes the input record separator: a newline in
   * pt-query-digest, but `;\n` in the pt-fingerprint command, where it then removes nothing. Set this (with
   * `keepBooleans`) to reproduce the pt-fingerprint command exactly.
   */
  readonly keepTrailingNewline?: boolean
}

export interface MysqlFingerprintResult {
  /** The fingerprint's bytes are buffer[0, length); the buffer is reused by the next call. */
  readonly buffer: Uint8Array
  readonly length: number
}

const TAB = 9
const LF = 10
const FF = 12
const CR = 13
const SPACE = 32
const BANG = 33
const DQUOTE = 34
const HASH = 35
const SQUOTE = 39
const LPAREN = 40
const RPAREN = 41
const STAR = 42
const PLUS = 43
const COMMA = 44
const MINUS = 45
const DOT = 46
const SLASH = 47
const COLON = 58
const QMARK = 63
const BACKSLASH = 92

// Perl's \s on byte strings: space, \t, \n, \v, \f, \r.
const isSpace = (c: number): boolean => c === SPACE || (c >= TAB && c <= CR)
// Perl's \w on byte strings.
const isWord = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95
const isDigit = (c: number): boolean => c >= 48 && c <= 57
const lower = (c: number): number => (c >= 65 && c <= 90 ? c + 32 : c)
// [0-9a-f.xb+-], the body of pt's number pattern (lowercase only: it runs before the query is lowercased).
const isNumberBody = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || c === DOT || c === 120 || c === PLUS || c === MINUS
const isNumberStart = (c: number): boolean => (c >= 48 && c <= 57) || c === PLUS || c === MINUS

// Byte classes, looked up instead of compared in the hot loop.
const C_WORD = 1
const C_NUMBER_BODY = 2
const C_PLAIN_LETTER = 4 // a letter or `_` that cannot start a boolean: every one but t and f
const C_NUMBER_SKIP = 8 // continues a number and cannot start a boolean: [0-9a-e.xb+-]
// A byte that every rewrite of the fused scan passes through unchanged, bar NULL's: not a word character,
// quote, whitespace, number character, `?` or `)`.
const C_PLAIN_PUNCT = 16
// A byte that ends a number and is handled by a fast path: a letter that is no number character, plain
// punctuation, a space.
const C_ENDS_NUMBER = 32
const C_RUN_LETTER = 64 // a letter or `_` after another: no word boundary before it, so not even t or f starts a boolean
const classes = new Uint8Array(256)
for (let c = 0; c < 256; c++) {
  let k = 0
  if (isWord(c)) k |= C_WORD
  if (isNumberBody(c)) k |= C_NUMBER_BODY
  if (isNumberBody(c) && c !== 102) k |= C_NUMBER_SKIP
  const l = c | 32
  const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
  if (letter) k |= C_RUN_LETTER
  if (letter && l !== 116 && l !== 102) k |= C_PLAIN_LETTER
  const punct = [DQUOTE, SQUOTE, PLUS, MINUS, DOT, QMARK, RPAREN].includes(c)
  if (!isWord(c) && !isSpace(c) && !punct) k |= C_PLAIN_PUNCT
  if (((k & C_PLAIN_LETTER) !== 0 && !isNumberBody(c)) || (k & C_PLAIN_PUNCT) !== 0 || c === SPACE) k |= C_ENDS_NUMBER
  classes[c] = k
}

const bytes = (s: string): Uint8Array => Buffer.from(s, "latin1")
const SELECT = bytes("select")
const UNION = bytes("union")
const ALL = bytes("all")
const LIMIT_Q = bytes("limit ?")
const OFFSET_Q = bytes(" offset ?")
const ORDER_BY = bytes("order by ")
const REPEAT_OPEN = bytes(" /*repeat")
const REPEAT_CLOSE = bytes("*/")
const VALUE = bytes("value")
const MYSQLDUMP_PREFIX = bytes("SELECT /*!40001 SQL_NO_CACHE */ * FROM `")
const MYSQLDUMP = bytes("mysqldump")
const PERCONA_TOOLKIT = bytes("percona-toolkit")
const ADMINISTRATOR_COMMAND = bytes("administrator command: ")
const CALL = bytes("call")
const INSERT = bytes("insert")
const REPLACE = bytes("replace")
const SPACE_IGNORE = bytes(" ignore")
const INTO = bytes("into")
const VALUES = bytes("values")

// What the statement holds that decides whether a rewrite before the main scan can apply: one pass over it
// sets these bits, instead of one search per rewrite.
const G_HASH = 1
const G_MINUS = 2
const G_BACKSLASH = 4
const G_QUOTE = 8
const G_SLASH = 16
const G_NOT_ASCII = 32
const gates = new Uint8Array(256)
gates[HASH] = G_HASH
gates[MINUS] = G_MINUS
gates[BACKSLASH] = G_BACKSLASH
gates[SQUOTE] = G_QUOTE
gates[DQUOTE] = G_QUOTE
gates[SLASH] = G_SLASH
for (let c = 0x80; c < 256; c++) gates[c] = G_NOT_ASCII
// The same for two bytes at a time, in either order: the pass reads the statement by 32-bit words.
const gatePairs = new Uint8Array(65536)
for (let x = 0; x < 65536; x++) gatePairs[x] = gates[x & 255]! | gates[x >>> 8]!

// Working buffers, reused across calls: fingerprinting is synchronous, so nothing else runs in between.
let bufA: Buffer = Buffer.allocUnsafeSlow(8192)
let bufB: Buffer = Buffer.allocUnsafeSlow(8192)
// bufA by 32-bit words; allocUnsafeSlow gives each buffer its own memory, so the view is aligned.
let wordsA = new Int32Array(bufA.buffer, bufA.byteOffset, bufA.length >> 2)
// Buffers grown for a huge statement are given back at the next call that does not need them.
const SMALL = 8192
const LARGE = 4 << 20
const ensureCapacity = (n: number): void => {
  if (bufA.length > LARGE && n <= SMALL) {
    bufA = Buffer.allocUnsafeSlow(SMALL)
    bufB = Buffer.allocUnsafeSlow(SMALL)
    wordsA = new Int32Array(bufA.buffer, bufA.byteOffset, bufA.length >> 2)
  }
  if (bufA.length < n) {
    let size = bufA.length
    while (size < n) size *= 2
    bufA = Buffer.allocUnsafeSlow(size)
    bufB = Buffer.allocUnsafeSlow(size)
    wordsA = new Int32Array(bufA.buffer, bufA.byteOffset, bufA.length >> 2)
  }
}
const encoder = new TextEncoder()
// A leading U+FEFF is part of the statement, not a byte-order mark to drop.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

const indexOfByte = (s: Uint8Array, c: number, from: number, n: number): number => {
  for (let k = from; k < n; k++) if (s[k] === c) return k
  return -1
}

const indexOfBytes = (s: Uint8Array, word: Uint8Array, from: number, n: number): number => {
  const first = word[0]!
  for (let k = from; k + word.length <= n; k++) {
    if (s[k] === first && startsWithAt(s, n, k, word)) return k
  }
  return -1
}

// Copies src[from..to) to dst at o and returns the count: a loop for short runs, which is cheaper than the
// typed-array view `set` needs.
const copy = (src: Uint8Array, from: number, to: number, dst: Uint8Array, o: number): number => {
  const len = to - from
  if (len > 64) dst.set(src.subarray(from, to), o)
  else for (let k = 0; k < len; k++) dst[o + k] = src[from + k]!
  return len
}

const equalRegions = (s: Uint8Array, a: number, b: number, len: number): boolean => {
  for (let k = 0; k < len; k++) if (s[a + k] !== s[b + k]) return false
  return true
}

const startsWithAt = (s: Uint8Array, n: number, at: number, word: Uint8Array): boolean => {
  if (at < 0 || at + word.length > n) return false
  for (let k = 0; k < word.length; k++) if (s[at + k] !== word[k]) return false
  return true
}

// For a lowercase ASCII word.
const startsWithCiAt = (s: Uint8Array, n: number, at: number, word: Uint8Array): boolean => {
  if (at + word.length > n) return false
  for (let k = 0; k < word.length; k++) if (lower(s[at + k]!) !== word[k]) return false
  return true
}

// For a lowercase ASCII word that starts with a letter: `| 32` lowercases a letter, and turns no other byte
// into one.
const indexOfCi = (s: Uint8Array, word: Uint8Array, from: number, n: number): number => {
  const first = word[0]!
  const last = n - word.length
  for (let k = from; k <= last; k++) {
    if ((s[k]! | 32) === first && startsWithCiAt(s, n, k, word)) return k
  }
  return -1
}

// The first `xy` in s[from..n), or -1. A byte that is neither x nor y can end no pair and start none, so
// the search reads every other byte of text that holds neither.
const indexOfPair = (s: Uint8Array, x: number, y: number, from: number, n: number): number => {
  let k = from
  while (k + 1 < n) {
    const c = s[k + 1]!
    if (c === y) {
      if (s[k] === x) return k
      k++
    } else if (c === x) {
      k++
    } else {
      k += 2
    }
  }
  return -1
}

// ---------------------------------------------------------------------------------------------------------
// Checks on the raw statement, before any rewrite. Each reads s[0..n).

// `/\*\w+\.\w+:[0-9]/[0-9]\*/` anywhere, given the first `/*`: a percona-toolkit checksum query.
const hasPerconaToolkitMarker = (s: Uint8Array, n: number, firstComment: number): boolean => {
  for (let at = firstComment; at >= 0; at = indexOfPair(s, SLASH, STAR, at + 1, n)) {
    let i = at + 2
    const a = i
    while (i < n && isWord(s[i]!)) i++
    if (i === a || i >= n || s[i] !== DOT) continue
    i++
    const b = i
    while (i < n && isWord(s[i]!)) i++
    if (
      i > b &&
      i + 6 <= n &&
      s[i] === COLON &&
      isDigit(s[i + 1]!) &&
      s[i + 2] === SLASH &&
      isDigit(s[i + 3]!) &&
      s[i + 4] === STAR &&
      s[i + 5] === SLASH
    ) {
      return true
    }
  }
  return false
}

// `\A\s*(call\s+\S+)\(`i: the procedure name up to the last `(` of the word after CALL. Writes `$1` lowercased
// to s[0..) and returns its length, or -1; the write never overtakes the read.
const callPrefix = (s: Uint8Array, n: number): number => {
  let i = 0
  while (i < n && isSpace(s[i]!)) i++
  const start = i
  if (!startsWithCiAt(s, n, i, CALL)) return -1
  i += 4
  const ws = i
  while (i < n && isSpace(s[i]!)) i++
  if (i === ws) return -1
  const word = i
  while (i < n && !isSpace(s[i]!)) i++
  let paren = i - 1
  while (paren > word && s[paren] !== LPAREN) paren--
  if (paren <= word) return -1
  for (let k = start; k < paren; k++) s[k - start] = lower(s[k]!)
  return paren - start
}

// `\A((?:INSERT|REPLACE)(?: IGNORE)?\s+INTO.+?VALUES\s*\(.*?\))\s*,\s*\(`is: where a multi-row INSERT is cut.
const multiRowInsertEnd = (s: Uint8Array, n: number): number => {
  let i: number
  if (startsWithCiAt(s, n, 0, INSERT)) i = 6
  else if (startsWithCiAt(s, n, 0, REPLACE)) i = 7
  else return -1
  if (startsWithCiAt(s, n, i, SPACE_IGNORE)) {
    // The optional group only helps if INTO follows it; without it, INTO would have to be where IGNORE is.
    let j = i + 7
    const ws = j
    while (j < n && isSpace(s[j]!)) j++
    if (j > ws && startsWithCiAt(s, n, j, INTO)) i = j + 4
    else return -1
  } else {
    const ws = i
    while (i < n && isSpace(s[i]!)) i++
    if (i === ws || !startsWithCiAt(s, n, i, INTO)) return -1
    i += 4
  }
  // `.+?VALUES\s*\(`: the first VALUES at least one byte later that a `(` follows. If the cut fails after
  // that one, it fails after every later one too (their candidates are a subset), so look no further.
  let open = -1
  let from = i + 1
  for (;;) {
    const v = indexOfCi(s, VALUES, from, n)
    if (v < 0) return -1
    let j = v + 6
    while (j < n && isSpace(s[j]!)) j++
    if (j < n && s[j] === LPAREN) {
      open = j
      break
    }
    from = v + 1
  }
  // `.*?\)\s*,\s*\(`: the first `)` that a `, (` follows.
  for (let close = indexOfByte(s, RPAREN, open + 1, n); close >= 0; close = indexOfByte(s, RPAREN, close + 1, n)) {
    let j = close + 1
    while (j < n && isSpace(s[j]!)) j++
    if (j < n && s[j] === COMMA) {
      j++
      while (j < n && isSpace(s[j]!)) j++
      if (j < n && s[j] === LPAREN) return close + 1
    }
  }
  return -1
}

// ---------------------------------------------------------------------------------------------------------
// The rewrites. Each reads src[0..n) and writes dst, returning the new length; the bytes after n are stale
// and never count.

// `s/\/\*[^!].*?\*\///sg`: block comments, but not `/*!` version comments.
const stripBlockComments = (src: Uint8Array, n: number, dst: Uint8Array): number => {
  let o = 0
  let kept = 0
  let i = 0
  while (i + 2 < n) {
    if (src[i] !== SLASH || src[i + 1] !== STAR || src[i + 2] === BANG) {
      i++
      continue
    }
    let close = i + 3
    while (close + 1 < n && !(src[close] === STAR && src[close + 1] === SLASH)) close++
    // No `*/` after this point: no later `/*` can close either.
    if (close + 1 >= n) break
    o += copy(src, kept, i, dst, o)
    kept = close + 2
    i = kept
  }
  o += copy(src, kept, n, dst, o)
  return o
}

// `s/(?:--|#)[^'"\r\n]*(?=[\r\n]|\Z)//g`: line comments that hold no quote.
const stripLineComments = (src: Uint8Array, n: number, dst: Uint8Array): number => {
  let o = 0
  let kept = 0
  let i = 0
  while (i < n) {
    const c = src[i]!
    if (c === HASH || (c === MINUS && src[i + 1] === MINUS && i + 1 < n)) {
      let j = i + (c === HASH ? 1 : 2)
      while (j < n) {
        const d = src[j]!
        if (d === SQUOTE || d === DQUOTE || d === LF || d === CR) break
        j++
      }
      if (j === n || src[j] === LF || src[j] === CR) {
        o += copy(src, kept, i, dst, o)
        kept = j
      }
      // Either way nothing up to j can start a comment: it would reach the same quote or line end.
      i = j
      continue
    }
    i++
  }
  o += copy(src, kept, n, dst, o)
  return o
}

// `s/\Ause \S+\Z/use ?/i`, in place: returns the new length, or -1 when it does not apply.
const abstractUse = (s: Uint8Array, n: number): number => {
  if (n < 5 || (s[0]! | 32) !== 117 || (s[1]! | 32) !== 115 || (s[2]! | 32) !== 101 || s[3] !== SPACE) {
    return -1
  }
  const end = s[n - 1] === LF ? n - 1 : n
  if (end <= 4) return -1
  for (let i = 4; i < end; i++) if (isSpace(s[i]!)) return -1
  s[0] = 117
  s[1] = 115
  s[2] = 101
  s[4] = QMARK
  if (end === n) return 5
  s[5] = LF
  return 6
}

// `s/\\["']//g`.
const removeEscapedQuotes = (src: Uint8Array, n: number, dst: Uint8Array): number => {
  let o = 0
  for (let i = 0; i < n; i++) {
    const c = src[i]!
    if (c === BACKSLASH && i + 1 < n && (src[i + 1] === DQUOTE || src[i + 1] === SQUOTE)) {
      i++
      continue
    }
    dst[o++] = c
  }
  return o
}

// At i, `\bfalse\b` or `\btrue\b` (any case) given that a word boundary precedes: the word's length, or 0.
// The byte after the word is read from the raw text: where the quote rewrite puts a `?` instead, the raw
// byte is a quote, and both are non-word characters.
const booleanAt = (s: Uint8Array, n: number, i: number): number => {
  const l = s[i]! | 32
  if (l === 116) {
    if (i + 3 < n && (s[i + 1]! | 32) === 114 && (s[i + 2]! | 32) === 117 && (s[i + 3]! | 32) === 101) {
      return i + 4 === n || !isWord(s[i + 4]!) ? 4 : 0
    }
  } else if (i + 4 < n && (s[i + 1]! | 32) === 97 && (s[i + 2]! | 32) === 108 && (s[i + 3]! | 32) === 115) {
    if ((s[i + 4]! | 32) === 101) return i + 5 === n || !isWord(s[i + 5]!) ? 5 : 0
  }
  return 0
}

// What the fused scan wrote, so that the later rewrites run only where they can apply.
const SEEN_UNION = 2
const SEEN_LIMIT = 4
const SEEN_ORDER_BY = 8
let seen = 0

/**
 * Nine rewrites in one scan, each consuming the previous one's output as a stream:
 * `s/".*?"/?/sg`, `s/'.*?'/?/sg`, `s/\bfalse\b|\btrue\b/?/isg` (pt-query-digest only),
 * `s/[0-9+-][0-9a-f.xb+-]*\/?/g` (with `\b` in front when embedded numbers are kept), `s/[xb.+-]\?/?/g`,
 * `s/\A\s+//; chomp; tr[ \n\t\r\f][ ]s`, `lc`, `s/\bnull\b/?/g`, and the IN/VALUES list rewrite (see
 * `closeList`).
 *
 * A single-quoted region ends at the next `'` that the double-quote rewrite left in place, so its search
 * skips double-quoted pairs. Once a quote finds no partner, no later one can, which keeps the scan linear.
 * A byte of [xb.+-] is written at once and overwritten when a `?` follows it. `chomp` (pt-query-digest runs
 * it with the default record separator) removes one trailing newline: when that newline alone made the last
 * space, the space goes.
 */
const mainScan = (
  src: Uint8Array,
  n: number,
  dst: Uint8Array,
  booleans: boolean,
  embedded: boolean,
  chomp: boolean
): number => {
  let o = 0
  let i = 0
  // Quote rewrites. From `unpairedDoubleFrom` on no `"` has a partner; the search for the end of a
  // single-quoted region may find that out ahead of the main scan.
  let unpairedDoubleFrom = n
  let singlePairs = true
  // The next `'` and `"` at or after where they were last looked for; -1 when there is none, -2 before the
  // first look. These searches only move forward.
  let nextSingle = -2
  let nextDouble = -2
  let quoted = -1 // the quote rewrites' previous output byte, for the boolean rewrite's `\b`
  // Number rewrites.
  let previous = -1 // the number rewrite's previous input byte, for its `\b`
  let inNumber = false
  let lastWasNumberPrefix = false // the last byte written was one of [xb.+-], which a `?` replaces
  // Whitespace, case and NULL.
  let started = false
  let squeezing = false
  let runLength = 0
  let lastIn = -1
  let flags = 0
  let listEnd = -1 // where the last `in(?+)` / `values(?+)` written ends
  while (i < n) {
    const c = src[i]!
    const k = classes[c]!
    // Fast paths for the bytes most statements are made of.
    if (inNumber) {
      if ((k & C_NUMBER_SKIP) !== 0) {
        quoted = c
        previous = c
        i++
        continue
      }
      if ((k & C_ENDS_NUMBER) !== 0) inNumber = false
    }
    if (inNumber) {
      // An `f` inside a number: the slow path below.
    } else if ((k & C_PLAIN_LETTER) !== 0) {
      // A run of letters outside a number: none starts a boolean (only its first could, and it is no t or f)
      // or a number or closes a NULL; only the last one can be an `x` or `b` that a `?` replaces.
      let last = c
      for (;;) {
        const lw = last >= 65 && last <= 90 ? last + 32 : last
        if (lw === 110 || lw === 116 || lw === 121) flags |= lastLetterOf(dst, o, lw)
        dst[o++] = lw
        i++
        if (i >= n) break
        const d = src[i]!
        if ((classes[d]! & C_RUN_LETTER) === 0) break
        last = d
      }
      quoted = last
      previous = last
      lastWasNumberPrefix = last === 98 || last === 120
      lastIn = last
      started = true
      squeezing = false
      continue
    } else if (c === SPACE && started) {
      quoted = c
      previous = c
      lastWasNumberPrefix = false
      lastIn = c
      if (squeezing) {
        runLength++
      } else {
        o = closeNull(dst, o)
        dst[o++] = SPACE
        squeezing = true
        runLength = 1
      }
      i++
      continue
    } else if ((k & C_PLAIN_PUNCT) !== 0) {
      quoted = c
      previous = c
      lastWasNumberPrefix = false
      lastIn = c
      started = true
      squeezing = false
      o = closeNull(dst, o)
      dst[o++] = c
      i++
      continue
    } else if (c >= 48 && c <= 57 && !embedded) {
      // A digit starts a number, which becomes `?` (and takes a [xb.+-] before it along).
      quoted = c
      previous = c
      inNumber = true
      lastIn = QMARK
      started = true
      squeezing = false
      o = closeNull(dst, lastWasNumberPrefix ? o - 1 : o)
      dst[o++] = QMARK
      lastWasNumberPrefix = false
      i++
      continue
    }
    let y: number
    if (c === DQUOTE && i < unpairedDoubleFrom) {
      const k = indexOfByte(src, DQUOTE, i + 1, n)
      if (k < 0) {
        unpairedDoubleFrom = i
        y = c
        i++
      } else {
        y = QMARK
        i = k + 1
      }
      quoted = y
    } else if (c === SQUOTE && singlePairs) {
      let j = i + 1
      let close = -1
      for (;;) {
        if (nextSingle !== -1 && nextSingle < j) nextSingle = indexOfByte(src, SQUOTE, j, n)
        if (nextSingle < 0) break
        if (nextDouble !== -1 && nextDouble < j) nextDouble = indexOfByte(src, DQUOTE, j, n)
        if (nextDouble >= 0 && nextDouble < unpairedDoubleFrom && nextDouble < nextSingle) {
          const k = indexOfByte(src, DQUOTE, nextDouble + 1, n)
          if (k < 0) {
            unpairedDoubleFrom = nextDouble
          } else {
            j = k + 1
            continue
          }
        }
        close = nextSingle
        break
      }
      if (close < 0) {
        // Unpaired: this quote stays, and the rest is rewritten as if it were not there.
        singlePairs = false
        y = c
        i++
      } else {
        y = QMARK
        i = close + 1
      }
      quoted = y
    } else {
      const l = c | 32
      const boolLength =
        booleans && (l === 116 || l === 102) && (quoted < 0 || !isWord(quoted)) ? booleanAt(src, n, i) : 0
      if (boolLength > 0) {
        quoted = src[i + boolLength - 1]!
        y = QMARK
        i += boolLength
      } else {
        quoted = c
        y = c
        i++
      }
    }

    if (inNumber) {
      if ((classes[y]! & C_NUMBER_BODY) !== 0) {
        previous = y
        continue
      }
      inNumber = false
    }
    let z = y
    if (isNumberStart(y) && (!embedded || (previous < 0 ? isWord(y) : isWord(previous) !== isWord(y)))) {
      inNumber = true
      z = QMARK
    }
    previous = y

    if (z === QMARK && lastWasNumberPrefix) {
      // `[xb.+-]\?` → `?`: the prefix was the last byte written.
      o = closeNull(dst, o - 1)
      dst[o++] = QMARK
      lastWasNumberPrefix = false
      lastIn = QMARK
      continue
    }
    lastWasNumberPrefix = z === 120 || z === 98 || z === DOT || z === PLUS || z === MINUS

    lastIn = z
    if (!started) {
      if (isSpace(z)) continue
      started = true
    }
    if (z === SPACE || z === LF || z === TAB || z === CR || z === FF) {
      if (squeezing) {
        runLength++
      } else {
        o = closeNull(dst, o)
        dst[o++] = SPACE
        squeezing = true
        runLength = 1
      }
    } else {
      squeezing = false
      const lw = z >= 65 && z <= 90 ? z + 32 : z
      if (lw >= 97 && lw <= 122) {
        // The last letter of `union`, `limit` or `order by`.
        if (lw === 110 || lw === 116 || lw === 121) flags |= lastLetterOf(dst, o, lw)
        dst[o++] = lw
      } else {
        if (!isWord(lw)) o = closeNull(dst, o)
        if (lw === RPAREN) {
          const end = closeList(dst, o, listEnd)
          if (end >= 0) {
            o = end
            listEnd = end
            continue
          }
        }
        dst[o++] = lw
      }
    }
  }
  if (chomp && started && lastIn === LF && squeezing && runLength === 1) o--
  seen = flags
  return closeNull(dst, o)
}

/**
 * `s/\b(in|values?)(?:[\s,]*\([\s?,]*\))+/$1(?+)/gx`, applied as each `)` is about to be written at o: when
 * the group it closes follows `in` or `value(s)`, or directly follows the previous collapsed list (the `+`
 * is greedy), the list is written as `$1(?+)` and its new end returned; otherwise -1.
 */
const closeList = (dst: Uint8Array, o: number, listEnd: number): number => {
  let g = o - 1
  while (g >= 0 && (isSpace(dst[g]!) || dst[g] === QMARK || dst[g] === COMMA)) g--
  if (g < 0 || dst[g] !== LPAREN) return -1
  let w = g
  while (w > 0 && (isSpace(dst[w - 1]!) || dst[w - 1] === COMMA)) w--
  if (w === listEnd) return listEnd
  let start: number
  if (w >= 2 && dst[w - 2] === 105 && dst[w - 1] === 110) start = w - 2
  else if (w >= 6 && dst[w - 1] === 115 && startsWithAt(dst, w, w - 6, VALUE)) start = w - 6
  else if (w >= 5 && startsWithAt(dst, w, w - 5, VALUE)) start = w - 5
  else return -1
  if (start > 0 && isWord(dst[start - 1]!)) return -1
  dst[w] = LPAREN
  dst[w + 1] = QMARK
  dst[w + 2] = PLUS
  dst[w + 3] = RPAREN
  return w + 4
}

// Called as `n`, `t` or `y` is written at o: whether it ends `union`, `limit` or `order by`.
const lastLetterOf = (dst: Uint8Array, o: number, letter: number): number => {
  if (letter === 110) {
    return o >= 4 && dst[o - 1] === 111 && dst[o - 2] === 105 && dst[o - 3] === 110 && dst[o - 4] === 117
      ? SEEN_UNION
      : 0
  }
  if (letter === 116) {
    return o >= 4 && dst[o - 1] === 105 && dst[o - 2] === 109 && dst[o - 3] === 105 && dst[o - 4] === 108
      ? SEEN_LIMIT
      : 0
  }
  return o >= 7 && dst[o - 1] === 98 && dst[o - 2] === SPACE && dst[o - 3] === 114 && dst[o - 4] === 101
    ? SEEN_ORDER_BY
    : 0
}

// Ends a `\bnull\b` that was just written: the caller is about to write a non-word byte or stop.
const closeNull = (dst: Uint8Array, o: number): number => {
  if (
    o >= 4 &&
    dst[o - 1] === 108 &&
    dst[o - 2] === 108 &&
    dst[o - 3] === 117 &&
    dst[o - 4] === 110 &&
    (o === 4 || !isWord(dst[o - 5]!))
  ) {
    dst[o - 4] = QMARK
    return o - 3
  }
  return o
}

// The separator `\sunion(?:\sall)?\s` at p: its length, or 0. The part before the last `\s` is pt's `$2`.
const unionSeparatorLength = (s: Uint8Array, n: number, p: number): number => {
  if (p + 7 > n || !isSpace(s[p]!) || !startsWithAt(s, n, p + 1, UNION) || !isSpace(s[p + 6]!)) return 0
  // With ALL when it is there: without it, the copy of `select…` would have to start at `all`.
  if (p + 11 <= n && startsWithAt(s, n, p + 7, ALL) && isSpace(s[p + 10]!)) return 11
  return 7
}

/**
 * `s/\b(select\s.*?)(?:(\sunion(?:\sall)?)\s\1)+/$1 \/*repeat$2*\//g`.
 * For each `select` the lazy `.*?` tries every later UNION in turn, so the search is quadratic in the number
 * of UNION arms. Realistic statements stay far below the budget; when a statement exhausts it, the rest of
 * the statement is left as it is (a documented difference, on inputs pt itself needs minutes for).
 */
const collapseUnions = (src: Uint8Array, n: number, dst: Uint8Array): number => {
  const seps: Array<number> = []
  for (let at = indexOfBytes(src, UNION, 1, n); at >= 0; at = indexOfBytes(src, UNION, at + 1, n)) {
    if (unionSeparatorLength(src, n, at - 1) > 0) seps.push(at - 1)
  }
  if (seps.length === 0) return -1
  let budget = 8 * n + 65536
  let o = 0
  let kept = 0
  let first = 0
  for (let i = indexOfBytes(src, SELECT, 0, n); i >= 0 && budget > 0; i = indexOfBytes(src, SELECT, i + 1, n)) {
    if (i < kept || i + 6 >= n || !isSpace(src[i + 6]!) || (i > 0 && isWord(src[i - 1]!))) continue
    while (first < seps.length && seps[first]! < i + 7) first++
    for (let k = first; k < seps.length && budget > 0; k++) {
      const p = seps[k]!
      const len = p - i
      const q = p + unionSeparatorLength(src, n, p)
      if (q + len > n) break
      budget -= 1
      if (!equalRegions(src, q, i, len)) continue
      budget -= len >> 6
      let lastSep = p
      let lastSepLength = q - p
      let end = q + len
      for (;;) {
        const sepLength = unionSeparatorLength(src, n, end)
        if (sepLength === 0) break
        const q2 = end + sepLength
        if (q2 + len > n || !equalRegions(src, q2, i, len)) break
        budget -= len >> 6
        lastSep = end
        lastSepLength = sepLength
        end = q2 + len
      }
      o += copy(src, kept, p, dst, o)
      o += copy(REPEAT_OPEN, 0, REPEAT_OPEN.length, dst, o)
      o += copy(src, lastSep, lastSep + lastSepLength - 1, dst, o)
      o += copy(REPEAT_CLOSE, 0, REPEAT_CLOSE.length, dst, o)
      kept = end
      i = end - 1
      break
    }
  }
  if (kept === 0) return -1
  o += copy(src, kept, n, dst, o)
  return o
}

// `s/\blimit \?(?:, ?\?| offset \?)?/limit ?/`, first match only, in place: returns the new length.
const collapseLimit = (s: Uint8Array, n: number): number => {
  for (let i = indexOfBytes(s, LIMIT_Q, 0, n); i >= 0; i = indexOfBytes(s, LIMIT_Q, i + 1, n)) {
    if (i > 0 && isWord(s[i - 1]!)) continue
    let end = i + 7
    if (s[end] === COMMA && end < n) {
      if (s[end + 1] === SPACE && s[end + 2] === QMARK && end + 2 < n) end += 3
      else if (s[end + 1] === QMARK && end + 1 < n) end += 2
    } else if (startsWithAt(s, n, end, OFFSET_Q)) {
      end += OFFSET_Q.length
    }
    if (end === i + 7) return n
    s.copyWithin(i + 7, end, n)
    return n - (end - i - 7)
  }
  return n
}

/**
 * `if (m/\bORDER BY /gi) { 1 while s/\G(.+?)\s+ASC/$1/gi && pos }`: from the first ORDER BY on, each
 * `\s+asc` (no word boundary after it: `ascending` loses its `asc` too) is removed, as long as every match
 * starts where the previous one ended. The `while` runs once: the substitution resets `pos`.
 */
const dropAsc = (s: Uint8Array, n: number): number => {
  let start = -1
  for (let i = indexOfBytes(s, ORDER_BY, 0, n); i >= 0; i = indexOfBytes(s, ORDER_BY, i + 1, n)) {
    if (i === 0 || !isWord(s[i - 1]!)) {
      start = i + ORDER_BY.length
      break
    }
  }
  if (start < 0) return n
  // In place: the write position never passes the read position.
  let o = start
  let cur = start
  for (;;) {
    // `.+?` takes at least one byte; then the first whitespace run that `asc` follows.
    let j = cur + 1
    let found = -1
    let runEnd = -1
    while (j < n) {
      if (isSpace(s[j]!)) {
        let r = j
        while (r < n && isSpace(s[r]!)) r++
        if (r + 3 <= n && (s[r]! | 32) === 97 && (s[r + 1]! | 32) === 115 && (s[r + 2]! | 32) === 99) {
          found = j
          runEnd = r
          break
        }
        j = r
      } else {
        j++
      }
    }
    if (found < 0) break
    if (o !== cur) s.copyWithin(o, cur, found)
    o += found - cur
    cur = runEnd + 3
  }
  if (o !== cur) s.copyWithin(o, cur, n)
  return o + (n - cur)
}

// ---------------------------------------------------------------------------------------------------------

// Where every fingerprint is left: one object, so that fingerprinting a statement allocates nothing.
const result: { buffer: Buffer; length: number } = { buffer: bufA, length: 0 }
// True when `result` holds ASCII only (false: it may not). The rewrites write ASCII or copy, so a fingerprint
// is ASCII when its statement is.
let resultAscii = true
// The text of `result` when it is known without decoding: a constant.
let resultString: string | undefined
// `result` is the statement as it came: the text entry point then has its text already.
let resultVerbatim = false

const setResult = (buffer: Buffer, length: number, ascii: boolean): MysqlFingerprintResult => {
  result.buffer = buffer
  result.length = length
  resultAscii = ascii
  resultString = undefined
  resultVerbatim = false
  return result
}

const constantResult = (word: Uint8Array, text: string): MysqlFingerprintResult => {
  copy(word, 0, word.length, bufA, 0)
  setResult(bufA, word.length, true)
  resultString = text
  return result
}

// The gates of bufA[0..n).
const gatesOf = (n: number): number => {
  let marks = 0
  const words = wordsA
  const whole = n >> 2
  for (let i = 0; i < whole; i++) {
    const w = words[i]!
    marks |= gatePairs[w & 0xffff]! | gatePairs[w >>> 16]!
  }
  for (let i = whole << 2; i < n; i++) marks |= gates[bufA[i]!]!
  return marks
}

/**
 * Fingerprints src[start..end) into `result`. src is read once, by the copy, before anything is written: it
 * may be bufA (the text entry point encodes there) or a buffer of the previous result.
 */
const run = (
  src: Uint8Array,
  start: number,
  end: number,
  options: MysqlFingerprintOptions | undefined
): MysqlFingerprintResult => {
  const length = end - start
  if (length > LARGE && src !== bufA) {
    // A huge multi-row INSERT fingerprints as its first row does: only that prefix is copied and rewritten, so
    // a 50 MB statement costs no 100 MB working buffers. Only the percona-toolkit marker, which may be
    // anywhere, needs the rest; the other early checks cannot match a statement that starts with INSERT.
    const statement = src.subarray(start, end)
    const cut = multiRowInsertEnd(statement, length)
    if (cut >= 0) {
      const comment = indexOfPair(statement, SLASH, STAR, 0, length)
      if (comment >= 0 && hasPerconaToolkitMarker(statement, length, comment)) return constantResult(PERCONA_TOOLKIT, "percona-toolkit")
      // The prefix ends with the row's `)`, which no `, (` follows: it is not cut again.
      return run(src, start, start + cut, options)
    }
  }
  // Two rewrites lengthen the text, applied in turn: an empty list (`in()` → `in(?+)`, by half at most) and
  // collapsing UNION arms (a `/*repeat…*/` takes 3 bytes more than the 14 or more it replaces).
  ensureCapacity(2 * length + 64)
  let a = bufA
  let b = bufB
  let t: Buffer
  // The text entry point encodes into bufA, where the copy would be a no-op.
  if (src !== a || start !== 0) copy(src, start, end, a, 0)
  if (startsWithAt(a, length, 0, MYSQLDUMP_PREFIX)) return constantResult(MYSQLDUMP, "mysqldump")
  // Over the whole statement, as the checks below need; after a multi-row INSERT is cut, they may see more
  // than is left, which can cost a pass of a rewrite that finds nothing, never a difference.
  const marks = gatesOf(length)
  const ascii = (marks & G_NOT_ASCII) === 0

  const firstComment = (marks & G_SLASH) !== 0 ? indexOfPair(a, SLASH, STAR, 0, length) : -1
  if (firstComment >= 0 && hasPerconaToolkitMarker(a, length, firstComment)) {
    return constantResult(PERCONA_TOOLKIT, "percona-toolkit")
  }
  if (startsWithAt(a, length, 0, ADMINISTRATOR_COMMAND)) {
    setResult(a, length, ascii)
    resultVerbatim = true
    return result
  }
  const call = callPrefix(a, length)
  if (call >= 0) return setResult(a, call, ascii)
  const cut = multiRowInsertEnd(a, length)
  let n = cut >= 0 ? cut : length

  // The gates looked at the raw text, where every rewrite before the main scan only removes bytes; removing
  // a block comment can join two dashes into `--`, so that gate looks again afterwards.
  if (firstComment >= 0 && firstComment + 1 < n) {
    n = stripBlockComments(a, n, b)
    t = a
    a = b
    b = t
  }
  if ((marks & G_HASH) !== 0 || ((marks & G_MINUS) !== 0 && indexOfPair(a, MINUS, MINUS, 0, n) >= 0)) {
    n = stripLineComments(a, n, b)
    t = a
    a = b
    b = t
  }
  const use = abstractUse(a, n)
  if (use >= 0) return setResult(a, use, true)
  if ((marks & G_BACKSLASH) !== 0 && (marks & G_QUOTE) !== 0) {
    n = removeEscapedQuotes(a, n, b)
    t = a
    a = b
    b = t
  }

  n = mainScan(
    a,
    n,
    b,
    options?.keepBooleans !== true,
    options?.matchEmbeddedNumbers === true,
    options?.keepTrailingNewline !== true
  )
  t = a
  a = b
  b = t

  // The rewrites left need `union`, `limit ?` or `order by `; the scan noted which it wrote.
  if ((seen & SEEN_UNION) !== 0) {
    const m = collapseUnions(a, n, b)
    if (m >= 0) {
      n = m
      a = b
    }
  }
  if ((seen & SEEN_LIMIT) !== 0) n = collapseLimit(a, n)
  if ((seen & SEEN_ORDER_BY) !== 0) n = dropAsc(a, n)
  return setResult(a, n, ascii)
}

const checkRange = (name: string, bytes: Uint8Array, start: number, end: number): void => {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= bytes.length)) {
    throw new RangeError(`${name}: [${start}, ${end}) is not a range of the ${bytes.length} bytes given`)
  }
}

/**
 * The fingerprint pt-query-digest 3.2.1 gives the statement src[start, end): its bytes as the server wrote
 * them, not necessarily valid UTF-8 (pt reads bytes, and so does this: a byte that is no UTF-8 stays as it
 * is). src is not written to; it may be the previous result's buffer. The result is one object, reused: it
 * and its buffer are valid until the next call. Throws only for a range outside src.
 */
export const fingerprintMysqlBytes = (
  src: Uint8Array,
  start: number,
  end: number,
  options?: MysqlFingerprintOptions
): MysqlFingerprintResult => {
  checkRange("fingerprintMysqlBytes", src, start, end)
  return run(src, start, end, options)
}

const isAscii = (s: Uint8Array, n: number): boolean => {
  for (let i = 0; i < n; i++) if (s[i]! >= 0x80) return false
  return true
}

/** A fingerprint's text; bytes that are no UTF-8 read as U+FFFD. */
export const fingerprintResultText = (fingerprint: MysqlFingerprintResult): string => {
  if (fingerprint === result && resultString !== undefined) return resultString
  const { buffer, length } = fingerprint
  // ASCII, the common case, needs no UTF-8 validation.
  if ((fingerprint === result && resultAscii) || isAscii(buffer, length)) {
    return buffer instanceof Buffer
      ? buffer.toString("latin1", 0, length)
      : Buffer.from(buffer.buffer, buffer.byteOffset, length).toString("latin1")
  }
  return decoder.decode(buffer.subarray(0, length))
}

/** The fingerprint pt-query-digest 3.2.1 gives `sql`; never throws. */
export const fingerprintMysqlText = (sql: string, options?: MysqlFingerprintOptions): string => {
  if (sql.length > LARGE) {
    // Its own buffer, so that `run` copies only the part it rewrites (see there), not 3 bytes a character.
    const bytes = Buffer.from(sql, "utf8")
    const fingerprint = run(bytes, 0, bytes.length, options)
    return resultVerbatim ? sql : fingerprintResultText(fingerprint)
  }
  // encodeInto stops where the buffer ends, and UTF-8 takes at most 3 bytes per UTF-16 code unit; `run` then
  // makes the room its rewrites need.
  ensureCapacity(sql.length * 3 + 64)
  const n = encoder.encodeInto(sql, bufA).written
  const fingerprint = run(bufA, 0, n, options)
  return resultVerbatim ? sql : fingerprintResultText(fingerprint)
}

// A slow log repeats a few thousand fingerprints over and over; their MD5s are remembered, up to a bound.
const ids = new Map<string, string>()
const MAX_REMEMBERED_IDS = 16_384

/**
 * pt-query-digest's Query ID of a fingerprint: the MD5 of its bytes in uppercase hex, as pt-query-digest 3.x
 * prints it (`0x` + these 32 digits) and stores it in `--review` tables. Older reports showed only the last 16.
 */
export const mysqlQueryId = (fingerprint: string): string => {
  let id = ids.get(fingerprint)
  if (id === undefined) {
    id = hash("md5", fingerprint, "hex").toUpperCase()
    if (ids.size >= MAX_REMEMBERED_IDS) ids.clear()
    ids.set(fingerprint, id)
  }
  return id
}

/** The fingerprint and its Query ID in one go. */
export const fingerprintMysqlWithId = (
  sql: string,
  options?: MysqlFingerprintOptions
): { readonly fingerprint: string; readonly queryId: string } => {
  const fingerprint = fingerprintMysqlText(sql, options)
  return { fingerprint, queryId: mysqlQueryId(fingerprint) }
}

/** The Query ID of the fingerprint bytes[start, end): `mysqlQueryId` of their text, when they are UTF-8. */
export const mysqlQueryIdOfBytes = (bytes: Uint8Array, start: number, end: number): string => {
  checkRange("mysqlQueryIdOfBytes", bytes, start, end)
  return hash("md5", bytes.subarray(start, end), "hex").toUpperCase()
}
