import { Schema } from "effect"
import { candidateDdl, candidateKey, type IndexCandidate } from "./IndexCandidates.js"

/**
 * An index suggestion: the exact DDL to review and run, and each statement it serves with what the planner said
 * before and after (PostgreSQL with HypoPG: verified; otherwise the figures are null and `verified` is false).
 */

export const ServedStatement = Schema.Struct({
  /** The statement's query id (or any stable id the caller uses). */
  id: Schema.String,
  sql: Schema.String,
  verified: Schema.Boolean,
  /** The planner's total cost for the statement without / with the index alone. */
  cost_before: Schema.NullOr(Schema.Number),
  cost_after: Schema.NullOr(Schema.Number),
  plan_before: Schema.NullOr(Schema.Unknown),
  plan_after: Schema.NullOr(Schema.Unknown)
})
export interface ServedStatement extends Schema.Schema.Type<typeof ServedStatement> {}

export const IndexSuggestion = Schema.Struct({
  dialect: Schema.Literal("mysql", "postgres"),
  database: Schema.String,
  schema: Schema.String,
  table: Schema.String,
  columns: Schema.Array(Schema.String),
  /** `CREATE INDEX CONCURRENTLY ON s.t (a, b);` or `ALTER TABLE \`d\`.\`t\` ADD INDEX (\`a\`, \`b\`);` */
  ddl: Schema.String,
  /** True when the planner confirmed it for at least one of its statements. */
  verified: Schema.Boolean,
  statements: Schema.Array(ServedStatement)
})
export interface IndexSuggestion extends Schema.Schema.Type<typeof IndexSuggestion> {}

export interface StatementRef {
  readonly id: string
  readonly sql: string
}

export const suggestionOf = (candidate: IndexCandidate, served: ServedStatement): IndexSuggestion => ({
  dialect: candidate.dialect,
  database: candidate.database,
  schema: candidate.schema,
  table: candidate.table,
  columns: candidate.columns,
  ddl: candidateDdl(candidate),
  verified: served.verified,
  statements: [served]
})

/** A candidate nobody could check (MySQL/MariaDB, or PostgreSQL without HypoPG). */
export const unverifiedSuggestion = (candidate: IndexCandidate, statement: StatementRef): IndexSuggestion =>
  suggestionOf(candidate, {
    id: statement.id,
    sql: statement.sql,
    verified: false,
    cost_before: null,
    cost_after: null,
    plan_before: null,
    plan_after: null
  })

/**
 * One suggestion per index (dialect, database, table, columns), carrying every statement it serves, in the order
 * first seen; a statement seen twice keeps its first, unless a later one is verified and it was not.
 */
export const mergeSuggestions = (suggestions: ReadonlyArray<IndexSuggestion>): ReadonlyArray<IndexSuggestion> => {
  const byKey = new Map<string, { suggestion: IndexSuggestion; statements: Array<ServedStatement> }>()
  for (const s of suggestions) {
    const key = candidateKey(s)
    const entry = byKey.get(key) ?? { suggestion: s, statements: [] }
    byKey.set(key, entry)
    for (const served of s.statements) {
      const at = entry.statements.findIndex((x) => x.id === served.id)
      if (at < 0) entry.statements.push(served)
      else if (served.verified && !entry.statements[at]!.verified) entry.statements[at] = served
    }
  }
  return [...byKey.values()].map(({ suggestion, statements }) => ({
    ...suggestion,
    verified: statements.some((s) => s.verified),
    statements
  }))
}
