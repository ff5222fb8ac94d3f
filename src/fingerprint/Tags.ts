/**
 * Tags that ORMs and tracing libraries put in SQL comments, so that a query can be traced back to code:
 * sqlcommenter (`/*controller='orders',action='show',traceparent='00-…'*\/`, URL-encoded values in single
 * quotes) and marginalia / Rails query log tags (`/*application:Shop,controller:orders,action:show*\/`).
 *
 * A comment counts only when all of it is such a list, so that prose such as a `TODO: fix` comment is not mistaken
 * for a tag. Later comments win over earlier ones for the same key.
 */
export const parseTags = (sql: string, comments: ReadonlyArray<number>): Record<string, string> => {
  let tags: Record<string, string> | undefined
  for (let c = 0; c + 1 < comments.length; c += 2) {
    const parsed = parseComment(sql, comments[c]!, comments[c + 1]!)
    if (parsed !== undefined) tags = Object.assign(tags ?? {}, parsed)
  }
  return tags ?? {}
}

const isKeyChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 46 || c === 45 || c === 37
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13)

const decode = (text: string): string => {
  if (!text.includes("%")) return text
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

// Keys and values are bounded so that a hostile comment cannot make the result large.
const MAX_TAGS = 64
const MAX_VALUE = 4096

const parseComment = (sql: string, from: number, to: number): Record<string, string> | undefined => {
  let i = from
  while (i < to && isSpace(sql.charCodeAt(i))) i++
  let end = to
  while (end > i && isSpace(sql.charCodeAt(end - 1))) end--
  if (i >= end) return undefined
  const out: Record<string, string> = {}
  let count = 0
  for (;;) {
    const keyStart = i
    while (i < end && isKeyChar(sql.charCodeAt(i))) i++
    if (i === keyStart || i >= end) return undefined
    const key = decode(sql.slice(keyStart, i))
    const sep = sql.charCodeAt(i)
    let value: string
    if (sep === 61 && sql.charCodeAt(i + 1) === 39) {
      // key='value', with \' for a quote inside.
      let j = i + 2
      let raw = ""
      let from2 = j
      while (j < end && sql.charCodeAt(j) !== 39) {
        if (sql.charCodeAt(j) === 92 && j + 1 < end) {
          raw += sql.slice(from2, j)
          from2 = j + 1
          j += 2
          continue
        }
        j++
      }
      if (j >= end) return undefined
      value = decode(raw + sql.slice(from2, j))
      i = j + 1
    } else if (sep === 58 || sep === 61) {
      // key:value (marginalia: up to the next comma, spaces allowed inside) or key=value (no spaces at all);
      // never a space right after the separator, which is how prose reads.
      const valueStart = i + 1
      if (valueStart >= end || isSpace(sql.charCodeAt(valueStart))) return undefined
      let j = valueStart
      while (j < end && sql.charCodeAt(j) !== 44) {
        if (sep === 61 && isSpace(sql.charCodeAt(j))) break
        j++
      }
      value = sql.slice(valueStart, j).trimEnd()
      i = j
    } else {
      return undefined
    }
    if (key !== "__proto__" && count < MAX_TAGS) {
      out[key] = value.length > MAX_VALUE ? value.slice(0, MAX_VALUE) : value
      count++
    }
    while (i < end && isSpace(sql.charCodeAt(i))) i++
    if (i >= end) return out
    if (sql.charCodeAt(i) !== 44) return undefined
    i++
    while (i < end && isSpace(sql.charCodeAt(i))) i++
    if (i >= end) return out
  }
}
