import type { SqlError } from "@effect/sql/SqlError"
import { Duration, Effect, RcMap, type Scope } from "effect"
import type { PlanMethod } from "./Outcome.js"
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

/** The driver's own message when there is one ("PgClient: Failed to connect" alone says little). */
export const describeSqlError = (error: SqlError): string =>
  error.cause instanceof Error && error.cause.message !== "" ? `${error.message}: ${error.cause.message}` : error.message

/**
 * One small pool per database, opened on first use and shared after; every pool is closed with the scope this runs
 * in (the stage's layer: one pipeline run). A database that cannot be reached (dropped, no access) is remembered
 * with its reason for as long, so its statements fail with it and the run goes on.
 *
 * The lookup succeeds with the failure (an `Either`) rather than failing: the map then keeps "unreachable" like a
 * pool, and nothing depends on how `RcMap` treats a failed lookup. Entries never expire (`idleTimeToLive` infinite):
 * the drivers already close idle connections after a few seconds, so an unused pool holds no connection, and an
 * expiring entry would forget an unreachable database and try it again within the run. Unlike one lock over a Map,
 * `RcMap` connects to one database without holding up statements of the others.
 */
export const poolsPerDatabase = <P, E>(connect: (database: string) => Effect.Effect<P, E, Scope.Scope>) =>
  RcMap.make({
    lookup: (database: string) => Effect.either(connect(database)),
    idleTimeToLive: Duration.infinity
  })
