import { lex, T_PUNCT, T_QUOTED_IDENT, T_WORD } from "../../../src/fingerprint/SqlLexer.js"

const quote = (name: string): string => `\`${name.replaceAll("`", "``")}\``

/**
 * The statement with every qualifier that names database `from` (`from.t`, `` `from`.t.c ``) replaced by database
 * `to`, quoted: what runs in the sandbox, where slowq's copies of the tables are. Only the first part of a dotted
 * name is a database, so an identifier is replaced only when a `.` follows it and none precedes it. Strings and
 * comments are never touched. Undefined when the text does not lex cleanly (an unterminated string or comment).
 * An alias spelled like the database would be replaced too; the sandbox then refuses the statement, which leaves
 * the suggestion unverified, never wrong.
 */
export const qualifiersTo = (sql: string, from: string, to: string): string | undefined => {
  const lexed = lex(sql, "mysql")
  if (lexed.unterminated) return undefined
  let out = ""
  let last = 0
  const textOf = (i: number) => sql.slice(lexed.starts[i]!, lexed.ends[i]!)
  const isDot = (i: number) => i >= 0 && i < lexed.count && lexed.kinds[i] === T_PUNCT && textOf(i) === "."
  for (let i = 0; i < lexed.count; i++) {
    const kind = lexed.kinds[i]!
    if (kind !== T_WORD && kind !== T_QUOTED_IDENT) continue
    if (!isDot(i + 1) || isDot(i - 1)) continue
    // A `.` right after a word with no space between is the qualifier's; `a . b` is one too, as the server reads it.
    const raw = textOf(i)
    const name = kind === T_QUOTED_IDENT ? raw.slice(1, -1).replaceAll("``", "`") : raw
    // Case-insensitively: with lower_case_table_names set the server would match `SHOP` to `shop`, and replacing
    // more only ever points the sandbox at its own copies.
    if (name.toLowerCase() !== from.toLowerCase()) continue
    out += sql.slice(last, lexed.starts[i]!) + quote(to)
    last = lexed.ends[i]!
  }
  return out + sql.slice(last)
}
