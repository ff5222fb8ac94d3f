import type { Connection } from "@effect/sql/SqlConnection"
import { Effect } from "effect"
import { type IndexCandidate, indexCandidates, type TableCatalog } from "./IndexCandidates.js"
import { readMysqlCatalog } from "./MysqlCatalog.js"
import { mysqlShape } from "./MysqlShape.js"
import { type IndexSuggestion, type StatementRef, unverifiedSuggestion } from "./Suggestion.js"

/**
 * Index advice for one MySQL/MariaDB statement: its candidates from the tokenizer and information_schema, all
 * `verified: false` (MySQL and MariaDB have no hypothetical indexes, and slowq never runs DDL on a watched server).
 * `database`: the statement's default database (the slow log's `db`).
 */
export const adviseMysql = Effect.fn("MysqlAdvisor.advise")(function* (
  connection: Connection,
  statement: StatementRef,
  database: string | null
) {
  const { candidates } = yield* mysqlCandidates(connection, statement.sql, database)
  return candidates.map((c) => unverifiedSuggestion(c, statement)) as ReadonlyArray<IndexSuggestion>
})

/**
 * The candidates for `sql`, and the catalog of every table the statement names that the catalog knows (what a
 * sandbox copies: MysqlSandbox.ts). A text the tokenizer cannot read, or with no filtered or ordered column, reads
 * no catalog.
 */
export const mysqlCandidates = Effect.fn("MysqlAdvisor.candidates")(function* (
  connection: Connection,
  sql: string,
  database: string | null
) {
  const shape = mysqlShape(sql)
  if (shape === undefined || shape.uses.length === 0) {
    return { candidates: [] as ReadonlyArray<IndexCandidate>, tables: [] as ReadonlyArray<TableCatalog>, complete: false }
  }
  const catalogs = yield* readMysqlCatalog(connection, shape.tables, database)
  return {
    candidates: indexCandidates("mysql", shape, catalogs),
    tables: catalogs.filter((c): c is TableCatalog => c !== undefined),
    /** Every table the statement names is a base table the catalog knows: a sandbox can hold them all. */
    complete: catalogs.every((c) => c !== undefined)
  }
})
