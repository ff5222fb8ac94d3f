/**
 * MariaDB 10.11's EXPLAIN FORMAT=JSON is not always JSON: it writes the string literals of the statement into
 * `attached_condition` as it printed them in SQL, so `a = 'it''s'` comes out as `"a = 'it\'s'"`, a double quote
 * stays a bare `"` and a tab a raw tab. JSON.parse refuses all three. This repairs them inside JSON strings: a
 * backslash before a character JSON cannot escape is dropped (the character kept), a raw control character is
 * escaped, and a `"` that is not followed by what may follow a JSON string (`,` `:` `}` `]` or the end, after
 * blanks) is taken as part of the text and escaped. Everything else is left byte for byte, so valid JSON (MySQL's)
 * comes back unchanged.
 */
const JSON_ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t", "u"])

export const repairMariadbJson = (text: string): string => {
  let out = ""
  let from = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (!inString) {
      if (ch === '"') inString = true
      continue
    }
    if (ch === "\\") {
      const next = text[i + 1]
      if (next !== undefined && JSON_ESCAPES.has(next)) {
        i++
        continue
      }
      // Not a JSON escape: drop the backslash, keep what it escaped.
      out += text.slice(from, i)
      from = i + 1
      continue
    }
    if (ch === '"') {
      let next = i + 1
      while (next < text.length && (text[next] === " " || text[next] === "\n" || text[next] === "\r" || text[next] === "\t")) next++
      if (next >= text.length || ",:}]".includes(text[next]!)) {
        inString = false
        continue
      }
      out += `${text.slice(from, i)}\\"`
      from = i + 1
      continue
    }
    const code = ch.charCodeAt(0)
    if (code < 0x20) {
      out += `${text.slice(from, i)}\\u${code.toString(16).padStart(4, "0")}`
      from = i + 1
    }
  }
  return from === 0 ? text : out + text.slice(from)
}

/** The plan of an EXPLAIN FORMAT=JSON answer, repaired as above; undefined when it is not JSON even then. */
export const parseExplainJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    try {
      return JSON.parse(repairMariadbJson(text))
    } catch {
      return undefined
    }
  }
}
