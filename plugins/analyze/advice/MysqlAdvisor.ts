import type { Connection } from "@effect/sql/SqlConnection"
import { Effect } from "effect"
import { indexCandidates } from "./IndexCandidates.js"
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
  const shape = mysqlShape(statement.sql)
  if (shape === undefined || shape.uses.length === 0) return [] as ReadonlyArray<IndexSuggestion>
  const catalogs = yield* readMysqlCatalog(connection, shape.tables, database)
  return indexCandidates("mysql", shape, catalogs).map((c) => unverifiedSuggestion(c, statement)) as ReadonlyArray<IndexSuggestion>
})
