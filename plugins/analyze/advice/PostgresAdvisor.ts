import type { Connection } from "@effect/sql/SqlConnection"
import { Effect } from "effect"
import { loadPostgresParser } from "../../../src/fingerprint/PostgresFingerprint.js"
import type { Explainable } from "../../explain/Policy.js"
import { type Verification, type VerifyOptions, verifyCandidates } from "./HypoPgVerifier.js"
import { indexCandidates } from "./IndexCandidates.js"
import { readPostgresCatalog } from "./PostgresCatalog.js"
import { postgresShape } from "./PostgresShape.js"
import type { StatementRef } from "./Suggestion.js"

export type PostgresAdvice = Verification | { readonly _tag: "NoCandidates" }

/**
 * Index advice for one PostgreSQL statement the explain policy allowed: its candidates from the parse tree and the
 * catalog, then proven with HypoPG on `connection` (reserved by the caller, in the statement's database). A
 * statement with nothing to index (no filtered column, or all of them already lead an index) sends no EXPLAIN.
 */
export const advisePostgres = Effect.fn("PostgresAdvisor.advise")(function* (
  connection: Connection,
  statement: StatementRef,
  explainable: Explainable,
  options: VerifyOptions
) {
  const parser = yield* Effect.promise(() => loadPostgresParser())
  const shape = parser ? postgresShape(explainable.text) : undefined
  if (shape === undefined || shape.uses.length === 0) return { _tag: "NoCandidates" } satisfies PostgresAdvice as PostgresAdvice
  const catalogs = yield* readPostgresCatalog(connection, shape.tables)
  const candidates = indexCandidates("postgres", shape, catalogs)
  if (candidates.length === 0) return { _tag: "NoCandidates" } satisfies PostgresAdvice as PostgresAdvice
  const verification: PostgresAdvice = yield* verifyCandidates(connection, statement, explainable, candidates, options)
  return verification
})
