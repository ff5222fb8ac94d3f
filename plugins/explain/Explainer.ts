import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Either } from "effect"
import type { PlanMethod } from "../../src/domain/CollectedEvent.js"
import type { StageError } from "../../src/plugin/PipelineStage.js"
import type { Explainable } from "./Policy.js"

/** What one EXPLAIN on the server gave: the database's own JSON plan, or why the server refused. */
export type Attempt =
  | { readonly _tag: "Plan"; readonly method: PlanMethod; readonly plan: unknown }
  | { readonly _tag: "Failed"; readonly reason: string }

/**
 * One dialect's way of running EXPLAIN safely. `explain` fails only when the database cannot be reached at all;
 * anything the server says about the statement is an `Attempt`.
 */
export interface Explainer {
  /** `db`: the database the statement ran in; null for the connection's own. */
  readonly explain: (statement: Explainable, db: string | null) => Effect.Effect<Attempt, StageError>
  /** How this server reads the text we send: the lexer must see it the same way. */
  readonly backslashEscapes: boolean
  readonly ansiQuotes: boolean
}

export const STAGE = "explain"

/**
 * Leads every statement the stage sends: the sources skip texts that start with it, so slowq's own EXPLAINs never
 * come back as collected statements (the slow log and pg_stat_statements both record them).
 */
export const TAG = "/* slowq */"

/** The driver's own message when there is one ("PgClient: Failed to connect" alone says little). */
export const describeSqlError = (error: SqlError): string =>
  error.cause instanceof Error && error.cause.message !== "" ? `${error.message}: ${error.cause.message}` : error.message

/**
 * One small pool per database, opened on first use and shared after. A database that cannot be reached (dropped,
 * no access) is remembered with its reason, so its statements fail with it and the run goes on.
 */
export const poolsPerDatabase = <P>(
  first: { readonly database: string; readonly pool: P },
  connect: (database: string) => Effect.Effect<P, { readonly message: string }>
) =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    const pools = new Map<string, Either.Either<P, string>>([[first.database, Either.right(first.pool)]])
    return (database: string): Effect.Effect<Either.Either<P, string>> =>
      lock.withPermits(1)(
        Effect.suspend(() => {
          const existing = pools.get(database)
          if (existing !== undefined) return Effect.succeed(existing)
          return connect(database).pipe(
            Effect.either,
            Effect.map(Either.mapLeft((error) => `error: ${error.message}`)),
            Effect.tap((pool) => Effect.sync(() => pools.set(database, pool)))
          )
        })
      )
  })
