import type { RuleDialect } from "../rules/Rule.js"

/**
 * Candidate indexes for one statement, in the "three-star" order: the columns a table is tested on with `=`
 * (`IN (…)`, `IS NULL` and join equalities count), then one range column (`<`, `>`, `BETWEEN`), then the ORDER BY and
 * GROUP BY columns. Each column alone is a candidate, and so is the first pair of that order; a candidate whose
 * columns already lead an existing index is dropped, since that index serves the same lookups (a pair of two
 * equalities in either order).
 *
 * The statement's shape comes from libpg_query's parse tree (PostgresShape.ts) or the tokenizer (MysqlShape.ts); what
 * the tables hold comes from the catalog (PostgresCatalog.ts, MysqlCatalog.ts). This file only combines the two.
 */

export type ColumnUseKind = "eq" | "range" | "order"

/** A table as the statement names it: `schema.name` or just `name`. */
export interface TableRef {
  readonly schema: string | null
  readonly name: string
}

export interface ColumnUse {
  readonly kind: ColumnUseKind
  /** The column as the parser gives it (PostgreSQL: folded unless quoted). */
  readonly column: string
  /**
   * Indexes into `StatementShape.tables`: one when the column was qualified; every table of its scope when not,
   * and the catalog then decides which of them has the column.
   */
  readonly tables: ReadonlyArray<number>
}

export interface StatementShape {
  /** One entry per table occurrence (a self-join lists the table twice). */
  readonly tables: ReadonlyArray<TableRef>
  /** In the order they appear in the statement. */
  readonly uses: ReadonlyArray<ColumnUse>
}

/** What the catalog says about one table. */
export interface TableCatalog {
  readonly database: string
  readonly schema: string
  readonly name: string
  /** The table's columns by the name the statement uses (MySQL: lower-cased, as its column names are). */
  readonly columns: ReadonlyMap<string, string>
  /** Key columns of each existing plain b-tree index, in index order; an expression key is null. */
  readonly indexes: ReadonlyArray<ReadonlyArray<string | null>>
}

export interface IndexCandidate {
  readonly dialect: RuleDialect
  readonly database: string
  readonly schema: string
  readonly table: string
  readonly columns: ReadonlyArray<string>
}

/** `database/schema.table(a,b)`: one suggestion per key, whichever statements it serves. */
export const candidateKey = (c: Omit<IndexCandidate, "dialect"> & { readonly dialect: string }): string =>
  `${c.dialect}:${c.database}/${c.schema}.${c.table}(${c.columns.join(",")})`

/** Whether `columns` are the leading columns of an existing index (or all of it). */
export const coveredByExisting = (columns: ReadonlyArray<string>, indexes: TableCatalog["indexes"]): boolean =>
  indexes.some((index) => columns.length <= index.length && columns.every((column, i) => index[i] === column))

const lookupName = (dialect: RuleDialect, column: string) => (dialect === "mysql" ? column.toLowerCase() : column)

/**
 * The candidates for a statement. `catalogs[i]` describes `shape.tables[i]`, or is undefined when it is not a table
 * the catalog knows (a CTE, a view, a table of another database).
 */
export const indexCandidates = (
  dialect: RuleDialect,
  shape: StatementShape,
  catalogs: ReadonlyArray<TableCatalog | undefined>
): ReadonlyArray<IndexCandidate> => {
  const perTable = shape.tables.map(() => ({ eq: [] as Array<string>, range: [] as Array<string>, order: [] as Array<string> }))
  for (const use of shape.uses) {
    const name = lookupName(dialect, use.column)
    const owners = use.tables.filter((t) => catalogs[t]?.columns.has(name) === true)
    // An unqualified column that two tables of its scope have is ambiguous to us (the server would refuse it too).
    if (owners.length !== 1) continue
    const owner = owners[0]!
    const column = catalogs[owner]!.columns.get(name)!
    const lists = perTable[owner]!
    const list = lists[use.kind]
    if (!list.includes(column)) list.push(column)
  }
  const out: Array<IndexCandidate> = []
  const seen = new Set<string>()
  const add = (catalog: TableCatalog, columns: ReadonlyArray<string>) => {
    if (coveredByExisting(columns, catalog.indexes)) return
    const candidate: IndexCandidate = { dialect, database: catalog.database, schema: catalog.schema, table: catalog.name, columns }
    const key = candidateKey(candidate)
    if (seen.has(key)) return
    seen.add(key)
    out.push(candidate)
  }
  perTable.forEach((lists, t) => {
    const catalog = catalogs[t]
    if (catalog === undefined) return
    const ordered: Array<string> = [...lists.eq]
    const range = lists.range.find((c) => !ordered.includes(c))
    if (range !== undefined) ordered.push(range)
    for (const c of lists.order) if (!ordered.includes(c)) ordered.push(c)
    const singles = [...ordered]
    for (const c of lists.range) if (!singles.includes(c)) singles.push(c)
    for (const c of singles) add(catalog, [c])
    if (ordered.length >= 2) {
      const pair = ordered.slice(0, 2)
      // Two equalities are served by an index on them in either order.
      const swapped = lists.eq.length >= 2 && coveredByExisting([pair[1]!, pair[0]!], catalog.indexes)
      if (!swapped) add(catalog, pair)
    }
  })
  return out
}

const pgIdent = (name: string): string =>
  /^[a-z_][a-z0-9_]*$/.test(name) && !PG_RESERVED.has(name) ? name : `"${name.replaceAll('"', '""')}"`
const mysqlIdent = (name: string): string => `\`${name.replaceAll("`", "``")}\``

/** The DDL to review and run: `CREATE INDEX CONCURRENTLY ON s.t (a, b);` / `ALTER TABLE \`d\`.\`t\` ADD INDEX (…);`. */
export const candidateDdl = (c: IndexCandidate): string =>
  c.dialect === "postgres"
    ? `CREATE INDEX CONCURRENTLY ON ${pgIdent(c.schema)}.${pgIdent(c.table)} (${c.columns.map(pgIdent).join(", ")});`
    : `ALTER TABLE ${mysqlIdent(c.schema)}.${mysqlIdent(c.table)} ADD INDEX (${c.columns.map(mysqlIdent).join(", ")});`

/** What HypoPG is given: the same index, built in no time and never for real. */
export const hypotheticalDdl = (c: IndexCandidate): string =>
  `CREATE INDEX ON ${pgIdent(c.schema)}.${pgIdent(c.table)} (${c.columns.map(pgIdent).join(", ")})`

// PostgreSQL's reserved key words (and those that cannot be column names): an unquoted one would not parse.
const PG_RESERVED = new Set([
  "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary", "both",
  "case", "cast", "check", "collate", "collation", "column", "concurrently", "constraint", "create", "cross",
  "current_catalog", "current_date", "current_role", "current_schema", "current_time", "current_timestamp",
  "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for",
  "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in", "initially", "inner", "intersect",
  "into", "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime", "localtimestamp",
  "natural", "not", "notnull", "null", "offset", "on", "only", "or", "order", "outer", "overlaps", "placing",
  "primary", "references", "returning", "right", "select", "session_user", "similar", "some", "symmetric",
  "system_user", "table", "tablesample", "then", "to", "trailing", "true", "union", "unique", "user", "using",
  "variadic", "verbose", "when", "where", "window", "with"
])
