import type { Fingerprinted } from "../../src/domain/Fingerprint.js"
// EXPLAIN is SQL: the stage declares mysql and postgres, the SQL engine's dialects.
import type { SqlDialect as Dialect } from "../../src/fingerprint/SqlDialect.js"
import { lex as fingerprintLex, T_PUNCT } from "../../src/fingerprint/SqlLexer.js"
import { type Lexed, lex, type Token } from "./Lexer.js"

/**
 * What may be explained, decided from the text alone before anything reaches a database.
 *
 * Every refusal reason is `category` or `category: detail`, so refusals can be counted per category.
 * This is the first of three lines of defence; the other two do not depend on it: the text only ever travels over
 * a protocol that rejects a second statement, and every EXPLAIN runs in a read-only transaction with timeouts.
 */

/** How the explained text relates to the collected one. */
export type StatementMethod = "direct" | "rewritten" | "prepared_generic"

/** A single statement that may be put after EXPLAIN as it is. */
export interface Explainable {
  readonly text: string
  readonly method: StatementMethod
  /** PostgreSQL: the highest `$n` in the text (0 when there is none). */
  readonly parameters: number
}

export type Verdict =
  | { readonly _tag: "Explain"; readonly statement: Explainable }
  | { readonly _tag: "Refuse"; readonly reason: string }

/**
 * What the policy forbids by default, per dialect, besides what it refuses structurally (ANALYZE, a second
 * statement, SELECT … INTO, locking reads in subqueries). Each entry is a word or a sequence of words, matched
 * against code only (never inside strings or comments), case-insensitively. Functions listed here have effects
 * outside the transaction (files, locks, other connections, sequences, waits) that a read-only transaction does
 * not stop, or that have no business in a plan.
 */
export const defaultForbidden: Readonly<Record<Dialect, ReadonlyArray<string>>> = {
  mysql: [
    "INTO OUTFILE",
    "INTO DUMPFILE",
    "LOAD_FILE",
    "NEXTVAL",
    "SETVAL",
    "LASTVAL",
    "NEXT VALUE FOR",
    "PREVIOUS VALUE FOR",
    "GET_LOCK",
    "RELEASE_LOCK",
    "RELEASE_ALL_LOCKS",
    "SLEEP",
    "BENCHMARK",
    "MASTER_POS_WAIT",
    "MASTER_GTID_WAIT",
    "SOURCE_POS_WAIT",
    "WAIT_FOR_EXECUTED_GTID_SET",
    "WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS",
    "SYS_EXEC",
    "SYS_EVAL"
  ],
  postgres: [
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "dblink_connect_u",
    "dblink_send_query",
    "dblink_open",
    "dblink_fetch",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_file_write",
    "pg_file_unlink",
    "pg_file_rename",
    "lo_import",
    "lo_export",
    "lo_from_bytea",
    "lo_put",
    "lo_create",
    "lo_creat",
    "lo_unlink",
    "nextval",
    "setval",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_switch_wal",
    "pg_create_restore_point",
    "pg_logical_emit_message",
    "pg_notify",
    "set_config",
    "txid_current",
    "pg_current_xact_id",
    "query_to_xml",
    "query_to_xmlschema",
    "query_to_xml_and_xmlschema",
    "cursor_to_xml",
    "pg_stat_reset",
    "pg_stat_statements_reset"
  ]
}

/** Whether a `forbidden` config entry is a word or a sequence of words separated by spaces. */
export const isForbiddenEntry = (entry: string): boolean => {
  const words = entry.trim().split(/\s+/)
  return words.length > 0 && words.every((word) => /^[A-Za-z_][A-Za-z0-9_$]*$/.test(word))
}

export interface Policy {
  readonly dialect: Dialect
  readonly backslashEscapes: boolean
  readonly ansiQuotes: boolean
  /** Upper-cased word sequences, defaults first. */
  readonly forbidden: ReadonlyArray<ReadonlyArray<string>>
}

export const makePolicy = (options: {
  readonly dialect: Dialect
  readonly extraForbidden: ReadonlyArray<string>
  readonly backslashEscapes: boolean
  readonly ansiQuotes: boolean
}): Policy => ({
  dialect: options.dialect,
  backslashEscapes: options.backslashEscapes,
  ansiQuotes: options.ansiQuotes,
  forbidden: [...defaultForbidden[options.dialect], ...options.extraForbidden]
    .filter(isForbiddenEntry)
    .map((entry) => entry.trim().toUpperCase().split(/\s+/))
})

const refuse = (reason: string): Verdict => ({ _tag: "Refuse", reason })

const isWord = (token: Token | undefined, ...values: ReadonlyArray<string>): boolean =>
  token !== undefined && token.kind === "word" && values.includes(token.value)

const READ_STARTS = ["SELECT", "WITH", "TABLE", "VALUES"]
const POSTGRES_DML = ["INSERT", "UPDATE", "DELETE", "MERGE"]
const INSERT_MODIFIERS = ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"]

/** Tokens of the first statement, with the text they came from. */
interface Statement {
  readonly text: string
  readonly tokens: ReadonlyArray<Token>
  readonly partner: ReadonlyMap<number, number>
}

const statementOf = (text: string, lexed: Lexed): Statement => ({
  text,
  tokens: lexed.tokens.slice(0, lexed.firstStatementTokens),
  partner: lexed.partner
})

const sliceTokens = (statement: Statement, from: number, to: number): string =>
  statement.text.slice(statement.tokens[from]!.start, statement.tokens[to - 1]!.end)

/** The first token that is not an opening parenthesis: the statement's keyword. */
const leadingKeyword = (tokens: ReadonlyArray<Token>): Token | undefined => tokens.find((t) => t.kind !== "open")

const findForbidden = (policy: Policy, tokens: ReadonlyArray<Token>): string | undefined => {
  const nameLike = (t: Token) =>
    t.kind === "word" || t.kind === "identifier" || (t.kind === "string" && t.doubleQuoted === true)
  for (let i = 0; i < tokens.length; i++) {
    if (!nameLike(tokens[i]!)) continue
    for (const entry of policy.forbidden) {
      let matches = true
      for (let k = 0; k < entry.length; k++) {
        const token = tokens[i + k]
        if (token === undefined || !nameLike(token) || token.value !== entry[k]) {
          matches = false
          break
        }
      }
      if (matches) return entry.join(" ")
    }
  }
  return undefined
}

/** INTO belongs only right after INSERT, REPLACE or MERGE (MySQL's modifiers aside). */
const misplacedInto = (dialect: Dialect, tokens: ReadonlyArray<Token>): boolean => {
  // Both lists hold all three so that a statement of the other dialect is named by its type, not as SELECT … INTO.
  const owners = ["INSERT", "REPLACE", "MERGE"]
  for (let i = 0; i < tokens.length; i++) {
    if (!isWord(tokens[i], "INTO")) continue
    let k = i - 1
    while (k >= 0 && dialect === "mysql" && isWord(tokens[k], ...INSERT_MODIFIERS)) k--
    if (!isWord(tokens[k], ...owners)) return true
  }
  return false
}

/** The main keyword of a MySQL `WITH … <main>` statement, past its common table expressions. */
const mainAfterWith = (statement: Statement, withIndex: number): Token | undefined => {
  const { tokens, partner } = statement
  let j = withIndex + 1
  if (isWord(tokens[j], "RECURSIVE")) j++
  for (;;) {
    const name = tokens[j]
    if (name === undefined || (name.kind !== "word" && name.kind !== "identifier")) return undefined
    j++
    if (tokens[j]?.kind === "open") j = partner.get(j)! + 1
    if (!isWord(tokens[j], "AS")) return undefined
    j++
    if (tokens[j]?.kind !== "open") return undefined
    j = partner.get(j)! + 1
    if (tokens[j]?.kind === "comma") {
      j++
      continue
    }
    return tokens[j]
  }
}

const findTopLevel = (
  tokens: ReadonlyArray<Token>,
  from: number,
  depth: number,
  test: (token: Token, index: number) => boolean
): number => {
  for (let i = from; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token.depth === depth && test(token, i)) return i
  }
  return -1
}

type Rewrite = { readonly _tag: "Text"; readonly text: string } | { readonly _tag: "Refuse"; readonly reason: string }

// DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM t [WHERE] [ORDER BY] [LIMIT] [RETURNING]  → SELECT * FROM t [WHERE …]
// DELETE t1[, t2] FROM refs [WHERE]  and  DELETE FROM t1[, t2] USING refs [WHERE]      → SELECT * FROM refs [WHERE]
const rewriteDelete = (statement: Statement): Rewrite => {
  const { tokens } = statement
  let i = 1
  if (isWord(tokens[i], "HISTORY")) return { _tag: "Refuse", reason: "no exact rewrite: DELETE HISTORY" }
  while (isWord(tokens[i], "LOW_PRIORITY", "QUICK", "IGNORE")) i++
  let refsStart: number
  if (isWord(tokens[i], "FROM")) {
    const using = findTopLevel(tokens, i + 1, 0, (t) => isWord(t, "USING"))
    refsStart = using >= 0 ? using + 1 : i + 1
  } else {
    const from = findTopLevel(tokens, i, 0, (t) => isWord(t, "FROM"))
    if (from < 0) return { _tag: "Refuse", reason: "no exact rewrite: DELETE without FROM" }
    refsStart = from + 1
  }
  const returning = findTopLevel(tokens, refsStart, 0, (t) => isWord(t, "RETURNING"))
  const end = returning >= 0 ? returning : tokens.length
  if (end <= refsStart) return { _tag: "Refuse", reason: "no exact rewrite: DELETE without a table" }
  return { _tag: "Text", text: `SELECT * FROM ${sliceTokens(statement, refsStart, end)}` }
}

// UPDATE [LOW_PRIORITY] [IGNORE] refs SET … [WHERE] [ORDER BY] [LIMIT]  → SELECT * FROM refs [WHERE] [ORDER BY] [LIMIT]
const rewriteUpdate = (statement: Statement): Rewrite => {
  const { tokens } = statement
  let i = 1
  while (isWord(tokens[i], "LOW_PRIORITY", "IGNORE")) i++
  const set = findTopLevel(tokens, i, 0, (t) => isWord(t, "SET"))
  if (set <= i) return { _tag: "Refuse", reason: "no exact rewrite: UPDATE without SET" }
  const tail = findTopLevel(tokens, set + 1, 0, (t) => isWord(t, "WHERE", "ORDER", "LIMIT", "RETURNING"))
  const returning = findTopLevel(tokens, set + 1, 0, (t) => isWord(t, "RETURNING"))
  const end = returning >= 0 ? returning : tokens.length
  const refs = sliceTokens(statement, i, set)
  return {
    _tag: "Text",
    text: tail >= 0 && tail < end ? `SELECT * FROM ${refs} ${sliceTokens(statement, tail, end)}` : `SELECT * FROM ${refs}`
  }
}

// INSERT|REPLACE [modifiers] [INTO] t [PARTITION (…)] [(cols)] <select> [ON DUPLICATE KEY UPDATE …] [RETURNING …]
//   → <select>
const rewriteInsert = (statement: Statement): Rewrite => {
  const { tokens, partner } = statement
  const keyword = tokens[0]!.value
  let select = -1
  for (let j = 1; j < tokens.length; j++) {
    const token = tokens[j]!
    if (token.depth !== 0) continue
    if (token.kind === "open") {
      if (isWord(tokens[j + 1], "SELECT", "WITH")) {
        select = j
        break
      }
      j = partner.get(j)!
      continue
    }
    if (isWord(token, "SELECT", "WITH", "TABLE")) {
      select = j
      break
    }
    if (isWord(token, "VALUES", "VALUE", "SET")) {
      return { _tag: "Refuse", reason: `not explainable: ${keyword} … ${token.value} has no query to plan` }
    }
  }
  if (select < 0) return { _tag: "Refuse", reason: `no exact rewrite: ${keyword} without SELECT` }
  const end = findTopLevel(
    tokens,
    select + 1,
    0,
    (t, k) => isWord(t, "RETURNING") || (isWord(t, "ON") && isWord(tokens[k + 1], "DUPLICATE"))
  )
  return { _tag: "Text", text: sliceTokens(statement, select, end >= 0 ? end : tokens.length) }
}

/**
 * MySQL/MariaDB refuse EXPLAIN of a locking read inside a read-only transaction. A trailing FOR UPDATE / FOR SHARE /
 * LOCK IN SHARE MODE changes which locks are taken, not the access path, so dropping it is exact. Anywhere else
 * (a subquery, a union arm) the statement is refused.
 */
const stripLockingClause = (statement: Statement): Rewrite | undefined => {
  const { tokens } = statement
  const starts: Array<number> = []
  for (let i = 0; i < tokens.length; i++) {
    if (isWord(tokens[i], "FOR") && isWord(tokens[i + 1], "UPDATE", "SHARE")) starts.push(i)
    if (isWord(tokens[i], "LOCK") && isWord(tokens[i + 1], "IN") && isWord(tokens[i + 2], "SHARE")) starts.push(i)
  }
  if (starts.length === 0) return undefined
  const start = starts[0]!
  if (starts.length > 1 || tokens[start]!.depth !== 0) return { _tag: "Refuse", reason: "locking read: in a subquery" }
  const isName = (t: Token | undefined) => t !== undefined && (t.kind === "word" || t.kind === "identifier")
  let j = start + 2
  if (isWord(tokens[start], "LOCK")) {
    if (!isWord(tokens[j], "SHARE") || !isWord(tokens[j + 1], "MODE")) {
      return { _tag: "Refuse", reason: "locking read: unrecognized clause" }
    }
    j += 2
  } else if (isWord(tokens[j], "OF")) {
    // OF t1[, db.t2 …]
    do {
      j++
      if (!isName(tokens[j])) return { _tag: "Refuse", reason: "locking read: unrecognized clause" }
      j++
      while (tokens[j]?.kind === "dot" && isName(tokens[j + 1])) j += 2
    } while (tokens[j]?.kind === "comma")
  }
  if (isWord(tokens[j], "NOWAIT")) j++
  else if (isWord(tokens[j], "SKIP") && isWord(tokens[j + 1], "LOCKED")) j += 2
  else if (isWord(tokens[j], "WAIT") && tokens[j + 1]?.kind === "number") j += 2
  if (j !== tokens.length || start === 0) return { _tag: "Refuse", reason: "locking read: clause not at the end" }
  return { _tag: "Text", text: sliceTokens(statement, 0, start) }
}

const highestParameter = (tokens: ReadonlyArray<Token>): number =>
  tokens.reduce((max, t) => (t.kind === "parameter" ? Math.max(max, Number(t.value)) : max), 0)

/** Checks that apply to any text before it is classified. */
const screen = (policy: Policy, lexed: Lexed): string | undefined => {
  if (lexed.multiStatement) return "multi-statement"
  const tokens = lexed.tokens.slice(0, lexed.firstStatementTokens)
  if (tokens.length === 0) return "empty"
  if (tokens.some((t) => isWord(t, "ANALYZE", "ANALYSE"))) return "analyze"
  const forbidden = findForbidden(policy, tokens)
  if (forbidden !== undefined) return `forbidden: ${forbidden}`
  if (misplacedInto(policy.dialect, tokens)) return "select into"
  if (tokens.some((t) => t.kind === "placeholder")) return "placeholders: ? without values"
  const highest = highestParameter(tokens)
  if (tokens.some((t) => t.kind === "parameter" && Number(t.value) === 0) || highest > 65_535) {
    return "not explainable: parameter number out of range"
  }
  return undefined
}

const lexStatement = (policy: Policy, text: string): { readonly _tag: "Ok"; readonly lexed: Lexed } | Verdict => {
  const result = lex(text, {
    dialect: policy.dialect,
    backslashEscapes: policy.backslashEscapes,
    ansiQuotes: policy.ansiQuotes
  })
  if (result._tag === "Error") return refuse(result.reason)
  const problem = screen(policy, result.lexed)
  return problem === undefined ? result : refuse(problem)
}

const decideMysql = (policy: Policy, original: Statement): Verdict => {
  const keyword = leadingKeyword(original.tokens)!
  let statement = original
  let method: StatementMethod = "direct"
  if (!(keyword.kind === "word" && READ_STARTS.includes(keyword.value))) {
    if (keyword !== original.tokens[0]) return refuse(`not explainable: ( ${describe(keyword)}`)
    const rewrite = isWord(keyword, "UPDATE")
      ? rewriteUpdate(original)
      : isWord(keyword, "DELETE")
        ? rewriteDelete(original)
        : isWord(keyword, "INSERT", "REPLACE")
          ? rewriteInsert(original)
          : { _tag: "Refuse" as const, reason: `not explainable: ${describe(keyword)}` }
    if (rewrite._tag === "Refuse") return refuse(rewrite.reason)
    // The rewrite is made of slices of a text that passed every check; it is lexed and checked again all the same.
    const relexed = lexStatement(policy, rewrite.text)
    if (relexed._tag !== "Ok") return relexed
    statement = statementOf(rewrite.text, relexed.lexed)
    method = "rewritten"
  }
  const head = leadingKeyword(statement.tokens)
  if (isWord(head, "WITH")) {
    const main = mainAfterWith(statement, statement.tokens.indexOf(head!))
    if (main === undefined) return refuse("not explainable: unrecognized WITH")
    if (!(main.kind === "open" || isWord(main, "SELECT", "TABLE", "VALUES"))) {
      return refuse(`not explainable: WITH … ${describe(main)}`)
    }
  } else if (!(head !== undefined && head.kind === "word" && READ_STARTS.includes(head.value))) {
    return refuse(`not explainable: ${head === undefined ? "empty" : describe(head)}`)
  }
  const unlocked = stripLockingClause(statement)
  if (unlocked?._tag === "Refuse") return refuse(unlocked.reason)
  if (unlocked?._tag === "Text") {
    const relexed = lexStatement(policy, unlocked.text)
    if (relexed._tag !== "Ok") return relexed
    return { _tag: "Explain", statement: { text: unlocked.text, method: "rewritten", parameters: 0 } }
  }
  return {
    _tag: "Explain",
    statement: { text: sliceTokens(statement, 0, statement.tokens.length), method, parameters: 0 }
  }
}

const decidePostgres = (statement: Statement): Verdict => {
  const keyword = leadingKeyword(statement.tokens)!
  if (!(keyword.kind === "word" && (READ_STARTS.includes(keyword.value) || POSTGRES_DML.includes(keyword.value)))) {
    return refuse(`not explainable: ${describe(keyword)}`)
  }
  const parameters = highestParameter(statement.tokens)
  return {
    _tag: "Explain",
    statement: {
      // From the first character: leading comments stay, and nothing after the first statement is ever sent.
      text: statement.text.slice(0, statement.tokens[statement.tokens.length - 1]!.end),
      method: parameters > 0 ? "prepared_generic" : "direct",
      parameters
    }
  }
}

const describe = (token: Token): string => (token.kind === "word" ? token.value : token.kind)

/**
 * The fingerprint engine's tokenizer asked the same question: does a second statement follow, or does the text end
 * inside a quote or comment? Where the two tokenizers disagree, the text is refused.
 */
const fingerprintTokenizerObjection = (text: string, dialect: Dialect): string | undefined => {
  const lexed = fingerprintLex(text, dialect)
  if (lexed.unterminated) return "unterminated: quote or comment"
  let afterSemicolon = false
  for (let i = 0; i < lexed.count; i++) {
    const semicolon = lexed.kinds[i] === T_PUNCT && text.charCodeAt(lexed.starts[i]!) === 59
    if (semicolon) afterSemicolon = true
    else if (afterSemicolon) return "multi-statement"
  }
  return undefined
}

/** The verdict on one collected text. */
export const decide = (policy: Policy, text: string, fingerprint?: Fingerprinted): Verdict => {
  if (fingerprint?.truncated === true) return refuse("truncated")
  if (fingerprint?.multiStatement === true) return refuse("multi-statement")
  const lexed = lexStatement(policy, text)
  if (lexed._tag !== "Ok") return lexed
  const objection = fingerprintTokenizerObjection(text, policy.dialect)
  if (objection !== undefined) return refuse(objection)
  const statement = statementOf(text, lexed.lexed)
  return policy.dialect === "mysql" ? decideMysql(policy, statement) : decidePostgres(statement)
}

const TYPED_LITERALS = ["INTERVAL", "DATE", "TIME", "TIMESTAMP", "TIMESTAMPTZ", "TIMETZ"]

/**
 * pg_stat_statements turns `interval '1 day'` into `interval $1`, which PREPARE cannot parse; `$1::interval` is
 * the same value. Returns the repaired text, or undefined when there is nothing to repair.
 */
export const castTypedParameters = (text: string, backslashEscapes: boolean): string | undefined => {
  const result = lex(text, { dialect: "postgres", backslashEscapes })
  if (result._tag === "Error") return undefined
  const { tokens } = result.lexed
  let out = ""
  let copied = 0
  for (let i = 0; i + 1 < tokens.length; i++) {
    const word = tokens[i]!
    const parameter = tokens[i + 1]!
    if (word.kind === "word" && TYPED_LITERALS.includes(word.value) && parameter.kind === "parameter") {
      out += `${text.slice(copied, word.start)}$${parameter.value}::${word.value.toLowerCase()}`
      copied = parameter.end
      i++
    }
  }
  return copied === 0 ? undefined : out + text.slice(copied)
}
