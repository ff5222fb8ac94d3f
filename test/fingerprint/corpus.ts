/**
 * A deterministic corpus of MySQL statements for the differential tests against Percona Toolkit and for the
 * benchmark. It covers every rewrite rule of pt's fingerprint: comments of every kind and in every position,
 * strings with every kind of escaped quote, numbers of every form, booleans, NULL, IN and VALUES lists (some
 * very long), LIMIT forms, repeated UNIONs, ORDER BY … ASC, USE, CALL, administrator commands, mysqldump and
 * pt-table-checksum queries, identifiers with embedded numbers, unicode and odd whitespace. A third of it is
 * "token soup": random sequences of the same tricky pieces, which finds interactions no template thinks of.
 */

/** mulberry32: small, fast, and the same sequence on every machine. */
export const makeRandom = (seed: number) => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (max: number): number => Math.floor(next() * max)
  const pick = <A>(items: ReadonlyArray<A>): A => items[int(items.length)]!
  const chance = (p: number): boolean => next() < p
  return { next, int, pick, chance }
}
export type Random = ReturnType<typeof makeRandom>

const numbers = [
  "0",
  "1",
  "42",
  "-7",
  "+3",
  "3.14",
  ".5",
  "5.",
  "1e10",
  "1.5E-3",
  "-2.5e+4",
  "0x1F",
  "0XfF",
  "0xDEADbeef",
  "x'4A'",
  "X'4a'",
  "b'0101'",
  "0b101",
  "12345678901234567890",
  "007",
  "1-1",
  "2--1",
  "-0",
  "1.2.3"
]
const strings = [
  "'abc'",
  "'it''s'",
  "'it\\'s'",
  "'back\\\\slash'",
  "'ends with backslash\\\\'",
  '"dq"',
  '"say \\"hi\\""',
  '"say ""hi"""',
  "'mixed \"dq\" in sq'",
  "\"mixed 'sq' in dq\"",
  "''",
  '""',
  "'unicode ünï 日本語 🎉'",
  "'--not a comment'",
  "'/* not a comment */'",
  "'#hash'",
  "N'national'",
  "_utf8mb4'intro'",
  "'multi\nline'",
  "'tab\there'",
  "'100'",
  "'true'",
  "'null'",
  "'a\\nb'",
  "'%like%'",
  "'O\\'Reilly'",
  "'\\\\'",
  "'x''y''z'"
]
const booleans = ["true", "FALSE", "True", "false", "TRUE"]
const nulls = ["NULL", "null", "Null"]
const identifiers = [
  "users",
  "`order`",
  "t1",
  "users_2009",
  "tbl_a1b2",
  "`my table`",
  "db.tbl",
  "`db`.`tbl`",
  "café",
  "Ünicode",
  "orders",
  "Customers",
  "x1y2",
  "col_b",
  "trueish",
  "is_true",
  "nullable",
  "inbox",
  "values_t",
  "`t-1`",
  "a.b.c",
  "abc123def",
  "deadbeef",
  "Limit_x"
]
const comments = [
  "/* c */",
  "/*!40101 SET x */",
  "/*+ INDEX(t i) */",
  "-- line\n",
  "# line\n",
  "--no-space\n",
  "/* multi\nline */",
  "/**/",
  "/* controller='orders',action='show' */",
  "/*application:Shop,controller:orders,action:show*/",
  "-- it's\n",
  '# say "hi"\n',
  "/* a */ /* b */",
  "/*! STRAIGHT_JOIN */",
  "-- end",
  "/* unterminated",
  "*/"
]
const spaces = [" ", " ", " ", "  ", "\t", "\n", "\r\n", " \n ", "\f", "\v", "\r"]

const literal = (r: Random): string => {
  const k = r.int(10)
  if (k < 4) return r.pick(numbers)
  if (k < 8) return r.pick(strings)
  if (k < 9) return r.pick(booleans)
  return r.pick(nulls)
}
const sp = (r: Random): string => (r.chance(0.85) ? " " : r.pick(spaces))
const maybeComment = (r: Random): string => (r.chance(0.12) ? sp(r) + r.pick(comments) + sp(r) : sp(r))
const caseOf = (r: Random, word: string): string => {
  const k = r.int(4)
  if (k === 0) return word.toLowerCase()
  if (k === 1) return word.toUpperCase()
  if (k === 2) return word[0]!.toUpperCase() + word.slice(1).toLowerCase()
  return word
}
const list = (r: Random, max: number, item: () => string): string => {
  const n = 1 + r.int(max)
  const out: Array<string> = []
  for (let i = 0; i < n; i++) out.push(item())
  return out.join(r.pick([",", ", ", " , ", ",\n"]))
}

const condition = (r: Random): string => {
  const col = r.pick(identifiers)
  switch (r.int(7)) {
    case 0:
      return `${col} = ${literal(r)}`
    case 1:
      return `${col}${sp(r)}${caseOf(r, "IN")}${r.pick(["", " "])}(${list(r, 8, () => literal(r))})`
    case 2:
      return `${col} ${caseOf(r, "between")} ${literal(r)} ${caseOf(r, "and")} ${literal(r)}`
    case 3:
      return `${col} ${caseOf(r, "is")} ${r.chance(0.5) ? "NOT " : ""}${r.pick(nulls)}`
    case 4:
      return `${col} ${caseOf(r, "like")} ${r.pick(strings)}`
    case 5:
      return `${col} ${r.pick(["<", ">", "<=", ">=", "<>", "!="])} ${literal(r)}`
    default:
      return `${col} ${caseOf(r, "in")} (${caseOf(r, "select")} id ${caseOf(r, "from")} ${r.pick(identifiers)})`
  }
}

const where = (r: Random): string => {
  const n = 1 + r.int(3)
  const parts: Array<string> = []
  for (let i = 0; i < n; i++) parts.push(condition(r))
  return parts.join(` ${caseOf(r, r.chance(0.7) ? "and" : "or")}${maybeComment(r)}`)
}

const orderLimit = (r: Random): string => {
  let out = ""
  if (r.chance(0.4)) {
    out += ` ${caseOf(r, "order by")} ${list(r, 3, () => `${r.pick(identifiers)}${r.chance(0.5) ? ` ${caseOf(r, r.pick(["asc", "desc", "ascending", "ASC"]))}` : ""}`)}`
  }
  if (r.chance(0.4)) {
    const k = r.int(4)
    out += ` ${caseOf(r, "limit")} ${r.pick(["10", "1", "0"])}`
    if (k === 1) out += `, ${r.pick(["20", "5"])}`
    if (k === 2) out += `,${r.pick(["20", "5"])}`
    if (k === 3) out += ` ${caseOf(r, "offset")} ${r.pick(["20", "5"])}`
  }
  return out
}

const select = (r: Random): string => {
  const cols = r.chance(0.3) ? "*" : list(r, 4, () => (r.chance(0.2) ? literal(r) : r.pick(identifiers)))
  const from = r.chance(0.2)
    ? `${r.pick(identifiers)} ${caseOf(r, "join")} ${r.pick(identifiers)} ${caseOf(r, "on")} a.id = b.id`
    : r.pick(identifiers)
  const w = r.chance(0.8) ? ` ${caseOf(r, "where")}${maybeComment(r)}${where(r)}` : ""
  return `${caseOf(r, "select")}${maybeComment(r)}${cols}${sp(r)}${caseOf(r, "from")} ${from}${w}${orderLimit(r)}`
}

const row = (r: Random): string => `(${list(r, 5, () => literal(r))})`

const templates: ReadonlyArray<(r: Random) => string> = [
  select,
  select,
  select,
  (r) => {
    const verb = caseOf(r, r.pick(["insert", "replace", "insert ignore", "INSERT IGNORE", "insert low_priority"]))
    const cols = r.chance(0.7) ? ` (${list(r, 4, () => r.pick(identifiers))})` : ""
    const rows = list(r, r.chance(0.2) ? 60 : 4, () => row(r))
    const values = caseOf(r, r.chance(0.85) ? "values" : "value")
    const dup = r.chance(0.3) ? ` ${caseOf(r, "on duplicate key update")} a = ${caseOf(r, "values")}(a)` : ""
    return `${verb}${sp(r)}${caseOf(r, "into")} ${r.pick(identifiers)}${cols}${sp(r)}${values}${r.pick(["", " ", "\n"])}${rows}${dup}`
  },
  (r) => `${caseOf(r, "insert into")} ${r.pick(identifiers)} (a, b) ${select(r)}`,
  (r) =>
    `${caseOf(r, "update")} ${r.pick(identifiers)} ${caseOf(r, "set")} ${list(r, 3, () => `${r.pick(identifiers)} = ${literal(r)}`)} ${caseOf(r, "where")} ${where(r)}${orderLimit(r)}`,
  (r) => `${caseOf(r, "delete from")} ${r.pick(identifiers)} ${caseOf(r, "where")} ${where(r)}${orderLimit(r)}`,
  (r) => {
    const arm = select(r)
    const n = 1 + r.int(4)
    const parts = [arm]
    for (let i = 0; i < n; i++) {
      parts.push(r.chance(0.25) ? select(r) : r.chance(0.5) ? arm : arm.replace(/[0-9]+/g, "9"))
    }
    return parts.join(` ${caseOf(r, r.pick(["union", "union all", "UNION ALL", "union distinct"]))} `)
  },
  (r) =>
    `${r.pick(["", " ", "\n"])}${caseOf(r, "call")}${r.pick([" ", "  ", "\t"])}${r.pick(["proc", "db.proc", "`p`", "Proc2"])}(${r.chance(0.8) ? list(r, 3, () => literal(r)) : ""})${r.chance(0.2) ? "(x)" : ""}`,
  (r) => `${caseOf(r, "use")}${r.pick([" ", " ", "  ", "\t"])}${r.pick(["db", "`db`", "shop_2019", "a b"])}${r.pick(["", "", "\n", " ", ";"])}`,
  (r) => `administrator command: ${r.pick(["Quit", "Ping", "Init DB", "Prepare", "Close stmt"])}`,
  (r) => `SELECT /*!40001 SQL_NO_CACHE */ * FROM \`${r.pick(["t", "users", "a b"])}\`${r.chance(0.5) ? " WHERE 1" : ""}`,
  (r) =>
    `REPLACE INTO \`percona\`.\`checksums\` (db, tbl, chunk) SELECT 'db', 'tbl', '${r.int(9)}' FROM \`db\`.\`tbl\` /*${r.pick(["db.tbl", "a_1.b_2"])}:${r.int(10)}/${r.int(10)}*/`,
  (r) =>
    caseOf(
      r,
      r.pick([
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SHOW TABLES",
        "SHOW /*!50000 GLOBAL */ STATUS",
        "SET NAMES utf8mb4",
        "SET autocommit=1",
        "SET @a = 5",
        "FLUSH TABLES",
        "LOCK TABLES t1 READ",
        "UNLOCK TABLES",
        "START TRANSACTION",
        "EXPLAIN SELECT 1",
        "CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(10) DEFAULT 'x')",
        "ALTER TABLE t2 ADD COLUMN c3 INT NOT NULL DEFAULT 0",
        "DROP TABLE IF EXISTS t_2020",
        "TRUNCATE TABLE logs",
        "XA START 'x'"
      ])
    ),
  (r) => `${select(r)}${sp(r)}${r.pick(comments)}`,
  (r) => `${r.pick(comments)}${sp(r)}${select(r)}`,
  (r) => {
    const n = r.chance(0.5) ? 200 + r.int(800) : 20 + r.int(50)
    const items: Array<string> = []
    for (let i = 0; i < n; i++) items.push(r.chance(0.5) ? String(r.int(1_000_000)) : `'v${r.int(1000)}'`)
    return `SELECT * FROM t WHERE id IN (${items.join(", ")})`
  }
]

const soupPieces: ReadonlyArray<(r: Random) => string> = [
  (r) => r.pick(numbers),
  (r) => r.pick(strings),
  (r) => r.pick(booleans),
  (r) => r.pick(nulls),
  (r) => r.pick(identifiers),
  (r) => r.pick(comments),
  (r) => r.pick(spaces),
  (r) =>
    caseOf(
      r,
      r.pick([
        "select",
        "from",
        "where",
        "in",
        "values",
        "value",
        "union",
        "union all",
        "limit",
        "offset",
        "order by",
        "asc",
        "desc",
        "null",
        "and",
        "insert",
        "into",
        "use",
        "call",
        "all"
      ])
    ),
  (r) => r.pick(["(", ")", ",", "(?)", "?", "(?, ?)", "()", ";", "=", "-", "+", ".", "*", "/", "\\", "'", '"', "`", "#", "--", "/*", "*/", "/*!", "!", "x", "b", "0x", ":", "@", "$1", "%"]),
  (r) => r.pick(["é", "日本", "🎉", "\u00a0", "\u0085", "\u2028", "\ufeff", "\u0000", "\u00ff"])
]

const soup = (r: Random): string => {
  const n = 1 + r.int(40)
  let out = ""
  for (let i = 0; i < n; i++) {
    out += r.pick(soupPieces)(r)
    if (r.chance(0.6)) out += " "
  }
  return out
}

/**
 * `count` statements from `seed`; the same arguments give the same corpus everywhere. With `soup` (the
 * default) three in ten are token soup, which is for finding differences, not for measuring speed.
 */
export const generateCorpus = (seed: number, count: number, options: { readonly soup?: boolean } = {}): Array<string> => {
  const r = makeRandom(seed)
  const withSoup = options.soup ?? true
  const out: Array<string> = []
  for (let i = 0; i < count; i++) {
    const k = r.int(10)
    let q = withSoup && k < 3 ? soup(r) : r.pick(templates)(r)
    if (r.chance(0.03)) q = q.toUpperCase()
    if (r.chance(0.03)) q = `${r.pick(spaces)}${q}${r.pick(spaces)}`
    out.push(q)
  }
  return out
}

/** Short, typical OLTP statements: what a busy server's slow log is mostly made of. */
export const generateShortCorpus = (seed: number, count: number): Array<string> => {
  const r = makeRandom(seed)
  const shapes: ReadonlyArray<() => string> = [
    () => `SELECT * FROM users WHERE id = ${r.int(100000)}`,
    () => `SELECT name, email FROM customers WHERE email = 'user${r.int(1000)}@example.com'`,
    () => `UPDATE orders SET status = 'shipped' WHERE id = ${r.int(100000)}`,
    () => `INSERT INTO events (user_id, kind) VALUES (${r.int(1000)}, 'click')`,
    () => `DELETE FROM sessions WHERE expires_at < ${r.int(1_000_000_000)}`,
    () => `SELECT COUNT(*) FROM orders WHERE customer_id = ${r.int(5000)} AND status = 'open'`,
    () => `SELECT id FROM products WHERE category_id IN (${r.int(50)}, ${r.int(50)}, ${r.int(50)}) LIMIT 20`,
    () => `select * from posts where author_id = ${r.int(900)} order by created_at desc limit 10`
  ]
  const out: Array<string> = []
  for (let i = 0; i < count; i++) out.push(r.pick(shapes)())
  return out
}

/**
 * Short random strings over the characters and words pt's rules react to: quotes, backslashes, comment
 * markers, number characters, whitespace of every kind, and the keywords of every rule. Most are not SQL;
 * they exist to make the rules meet in every order.
 */
export const generateCharSoup = (seed: number, count: number): Array<string> => {
  const r = makeRandom(seed)
  const pieces = [
    "'", '"', "\\", "/", "*", "!", "-", "#", "\n", "\r", " ", " ", " ", "\t", "\v", "\f", "a", "s", "c", "(", ")",
    ",", "?", "+", ".", "x", "b", "0", "1", "9", "F", "_", ":", "é", "select ", "SELECT ", "union ", " union all ",
    "limit ", "offset ", "order by ", "ORDER BY ", " asc", " ASC", "in", "IN", "values", "value", "null", "NULL",
    "true", "False", "use ", "USE ", "call ", "insert ", "INSERT ", "replace ", "into ", " ignore", "/*", "*/",
    "/*!", "--", "administrator command: ", "(?)", "(1,2)", "db.t:1/2", "select a", " union ", "select b"
  ]
  const out: Array<string> = []
  for (let i = 0; i < count; i++) {
    const n = 1 + r.int(25)
    let q = ""
    for (let j = 0; j < n; j++) q += r.pick(pieces)
    out.push(q)
  }
  return out
}
