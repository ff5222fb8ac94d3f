/**
 * pt-query-digest's "distilled" item (`SELECT orders`, `UPDATE users`, `ADMIN QUIT`: the verbs and the tables of
 * a sample) and its list of tables, ported from QueryRewriter::distill and QueryParser::get_tables so that the
 * profile reads like pt-query-digest's. These are pt's regular expressions; they run only on the sample of each
 * reported class, cut to DISTILL_LIMIT characters, never on every event.
 */

const DISTILL_LIMIT = 64 * 1024

const TBL_IDENT = "(?:`[^`]+`|\\w+)(?:\\.(?:`[^`]+`|\\w+))?"
const TBL_REGEX = new RegExp(
  `\\b(?:FROM|JOIN|(?<!KEY\\s)UPDATE|INTO)\\b\\s*\\(?(${TBL_IDENT}(?:(?:\\s+(?:AS\\s+)?\\w+)?,\\s*${TBL_IDENT})*)`,
  "gi"
)
const DATA_DEF = /^\s*(CREATE|ALTER|TRUNCATE|DROP|RENAME)\b/i
const VERBS =
  /\b(^SHOW|^FLUSH|^COMMIT|^ROLLBACK|^BEGIN|SELECT|INSERT|UPDATE|DELETE|REPLACE|^SET|UNION|^START|^LOCK)\b/gi

const stripQuoted = (query: string): string =>
  query
    .replace(/\\["']/g, "")
    .replace(/"[\s\S]*?"/g, "?")
    .replace(/'[\s\S]*?'/g, "?")

/** pt's QueryParser::get_tables: the tables a statement names, as written (`db`.`t`, t). */
export const getTables = (input: string): Array<string> => {
  let query = input
  const ddl = DATA_DEF.exec(query)
  if (ddl !== null) {
    const statement = ddl[1]!
    query = query.replace(/IF\s+(?:NOT\s+)?EXISTS/i, "")
    if (new RegExp(`${statement} DATABASE\\b`, "i").test(query)) return []
    if (/CREATE/i.test(statement) && new RegExp(`${statement}\\b.+?\\bSELECT\\b`, "i").test(query)) {
      const select = /\b(SELECT\b[\s\S]+)/i.exec(query)
      return select === null ? [] : getTables(select[1]!)
    }
    const table = new RegExp(`TABLE\\s+(${TBL_IDENT})(\\s+.*)?`, "i").exec(query)
    return table === null ? [] : [table[1]!]
  }
  query = query.replace(/(?:LOW_PRIORITY|IGNORE|STRAIGHT_JOIN|DELAYED)\s+/gi, " ")
  if (/^\s*LOCK TABLES\s+/i.test(query)) {
    query = query.replace(/^\s*LOCK TABLES\s+/i, "")
    query = `FROM ${query.replace(/\s+(?:READ(?:\s+LOCAL)?|WRITE)\s*/gi, "")}`
  }
  query = stripQuoted(query)
  if (/^\s*(?:INSERT|REPLACE)(?!\s+INTO)/i.test(query)) query = query.replace(/^\s*(INSERT|REPLACE)\s+/i, "$1 INTO ")
  if (/^\s*LOAD DATA/i.test(query)) {
    const table = /INTO TABLE\s+(\S+)/i.exec(query)
    return table === null ? [] : [table[1]!]
  }
  const tables: Array<string> = []
  for (const match of query.matchAll(TBL_REGEX)) {
    const list = match[1]!
    if (/^SELECT\b/i.test(list)) continue
    for (const item of list.split(",")) {
      const table = item.replace(new RegExp(`\\s*(${TBL_IDENT})(\\s+.*)?`, "gi"), "$1")
      if (!/[a-zA-Z]/.test(table)) continue
      tables.push(table)
    }
  }
  return tables
}

const stripComments = (query: string): string => {
  let out = query.replace(/\/\*[^!][\s\S]*?\*\//g, "").replace(/(?:--|#)[^'"\r\n]*(?=[\r\n]|$)/g, "")
  const version = /^(?:SHOW)[\s\S]*?\/\*![0-9]+([\s\S]*?)\*\//i.exec(out)
  if (version !== null) out = out.replace(/\/\*[\s\S]*?[0-9]+[\s\S]*?\*\//g, version[1] ?? "")
  return out
}

const dedupeAdjacent = (items: ReadonlyArray<string>): Array<string> =>
  items.filter((item, i) => i === 0 || item !== items[i - 1])

/** pt's QueryRewriter::distill_verbs: the statement's verbs, and for DDL the object it acts on. */
const distillVerbs = (input: string): readonly [string, string | undefined] => {
  let query = input
  const call = /^\s*call\s+(\S+)\(/i.exec(query)
  if (call !== null) return [`CALL ${call[1]}`, undefined]
  if (/^\s*use\s+/.test(query)) return ["USE", undefined]
  if (/^\s*UNLOCK TABLES/i.test(query)) return ["UNLOCK", undefined]
  const xa = /^\s*xa\s+(\S+)/i.exec(query)
  if (xa !== null) return [`XA_${xa[1]}`, undefined]
  if (/^\s*LOAD/i.test(query)) {
    const table = /INTO TABLE\s+(\S+)/i.exec(query)
    return [`LOAD DATA ${(table?.[1] ?? "").replaceAll("`", "")}`, undefined]
  }
  if (query.startsWith("administrator command:")) {
    return [query.replace("administrator command:", "ADMIN").toUpperCase(), undefined]
  }
  query = stripComments(query)
  if (/^\s*SHOW\s+/i.test(query)) {
    let show = query.toUpperCase()
    show = show.replace(/\s+(?:SESSION|FULL|STORAGE|ENGINE)\b/g, " ")
    show = show.replace(/\s+COUNT[^)]+\)/g, "")
    show = show.replace(/\s+(?:FOR|FROM|LIKE|WHERE|LIMIT|IN)\b[\s\S]+/, "")
    show = show.replace(/^(SHOW(?:\s+\S+){1,2})[\s\S]*$/, "$1")
    return [show.replace(/\s+/g, " "), undefined]
  }
  const ddl = /^\s*(CREATE|ALTER|TRUNCATE|DROP|RENAME)\b/i.exec(query)
  if (ddl !== null) {
    const statement = ddl[1]!
    query = query.replace(/\s+IF(?:\s+NOT)?\s+EXISTS/i, " ")
    const object = new RegExp(`${statement}.+(DATABASE|TABLE)\\b`, "i").exec(query)?.[1]?.toUpperCase()
    const target = new RegExp(`(?:TABLE|DATABASE)\\s+(${TBL_IDENT})(\\s+.*)?`, "i").exec(query)?.[1]
    return [`${statement}${object === undefined ? "" : ` ${object}`}`.toUpperCase(), target]
  }
  let verbs = dedupeAdjacent([...query.matchAll(VERBS)].map((m) => m[1]!.toUpperCase()))
  if (verbs[0] === "SELECT" && verbs.length > 1) verbs = verbs.includes("UNION") ? ["SELECT", "UNION"] : ["SELECT"]
  return [verbs.join(" "), undefined]
}

/** pt-query-digest's distilled item of a sample statement, e.g. `SELECT orders users`. */
export const distill = (sample: string): string => {
  const query = sample.length > DISTILL_LIMIT ? sample.slice(0, DISTILL_LIMIT) : sample
  const [verbs, table] = distillVerbs(query)
  if (verbs.startsWith("SHOW")) {
    return verbs.replace("SCHEMA", "DATABASE").replace("KEYS", "INDEX").replace("INDEXES", "INDEX")
  }
  if (verbs.startsWith("LOAD DATA")) return verbs
  const tables = getTables(query).map((t) => t.replaceAll("`", "").replace(/(_?)[0-9]+/g, "$1?"))
  if (table !== undefined) tables.push(table)
  return [verbs, ...dedupeAdjacent(tables)].join(" ")
}

/** pt's QueryParser::extract_tables: distinct [database, table] pairs, the database defaulting to `db`. */
export const extractTables = (sample: string, db: string | undefined): Array<readonly [string | undefined, string]> => {
  const query = sample.length > DISTILL_LIMIT ? sample.slice(0, DISTILL_LIMIT) : sample
  const seen = new Set<string>()
  const out: Array<readonly [string | undefined, string]> = []
  const unquote = (part: string) => part.replace(/^`/, "").replace(/`$/, "").replaceAll("``", "`")
  for (const name of getTables(query)) {
    if (name === "" || seen.has(name)) continue
    seen.add(name)
    const [first, second] = name.split(".")
    const [database, table] = second === undefined || second === "" ? [undefined, first!] : [first, second]
    out.push([database === undefined || database === "" ? db : unquote(database), unquote(table)])
  }
  return out
}
