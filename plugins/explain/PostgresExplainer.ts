import { Reactivity } from "@effect/experimental"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Chunk, Effect, Either, Option, Predicate, RcMap, Redacted, Schema, type Scope, Stream } from "effect"
// Leads every statement the stage sends: the slow log and pg_stat_statements record slowq's EXPLAINs, and the
// runtime drops what starts with it, so they never come back as collected statements.
import { SLOWQ_MARKER } from "../../src/plugin/OwnStatement.js"
import { StageError } from "../../src/plugin/PipelineStage.js"
import { makeTaggedPgClient } from "../../src/plugin/TaggedPgClient.js"
import { type Attempt, describeSqlError, type Explainer, poolsPerDatabase, STAGE } from "./Explainer.js"
import { castTypedParameters, type Explainable } from "./Policy.js"

/**
 * EXPLAIN (FORMAT JSON) on PostgreSQL.
 *
 * node-pg sends a query without parameters over the simple query protocol, which runs every statement in the
 * string: `EXPLAIN SELECT 1; DROP TABLE t` drops the table. Collected text therefore only ever travels through
 * `Connection.executeStream` (pg-cursor), which always uses the extended protocol: Parse takes exactly one
 * statement and the server rejects a second one (42601). Only slowq's own constant statements (BEGIN, ROLLBACK,
 * EXECUTE of its own prepared statement, DISCARD ALL) use the simple protocol.
 *
 * Every EXPLAIN runs inside BEGIN READ ONLY … ROLLBACK with statement_timeout, lock_timeout and
 * idle_in_transaction_session_timeout set for the transaction only; afterwards DISCARD ALL drops prepared
 * statements, session-level advisory locks and temporary tables that a function run during planning may have left.
 *
 * Texts with `$n` placeholders (pg_stat_statements) get a generic plan: PREPARE, then with
 * plan_cache_mode = force_generic_plan EXPLAIN EXECUTE with NULL for every parameter (the generic plan does not
 * look at the values). EXPLAIN (GENERIC_PLAN) of PostgreSQL 16 is not used: over the extended protocol its `$n`
 * become protocol parameters that must be bound, and bound NULLs fold the plan to `One-Time Filter: false`
 * (checked on PostgreSQL 18), while the simple protocol is ruled out for collected text.
 */

export interface PostgresExplainerOptions {
  readonly url: Redacted.Redacted<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly maxConnections: number
  readonly statementTimeoutMs: number
  readonly lockTimeoutMs: number
}

const ServerInfo = Schema.Struct({ scs: Schema.String, version: Schema.Number, superuser: Schema.NullOr(Schema.Boolean) })
const decodeServerInfo = Schema.decodeUnknown(Schema.Tuple(ServerInfo))
const PlanRows = Schema.Tuple(Schema.Struct({ "QUERY PLAN": Schema.Unknown }))
const decodePlanRows = Schema.decodeUnknownEither(PlanRows)
const CountRows = Schema.Tuple(Schema.Struct({ n: Schema.Number }))
const decodeCountRows = Schema.decodeUnknownEither(CountRows)

interface ServerFailure {
  readonly code: string
  readonly message: string
}

// Class 08 (connection exception), 57P0x (the server is going away), 25P03 (our own idle-in-transaction timeout
// closed the session): the connection is gone, not the statement refused.
const isConnectionCode = (code: string) => code.startsWith("08") || code.startsWith("57P0") || code === "25P03"

const serverFailure = (error: SqlError): ServerFailure | undefined => {
  const cause = error.cause
  if (!Predicate.hasProperty(cause, "code") || !Predicate.isString(cause.code)) return undefined
  if (!/^[0-9A-Z]{5}$/.test(cause.code) || isConnectionCode(cause.code)) return undefined
  return { code: cause.code, message: cause instanceof Error ? cause.message : error.message }
}

/** The refusal reason for a server error: `category` or `category: detail`. */
export const postgresReason = (failure: ServerFailure): string => {
  switch (failure.code) {
    case "55P03":
      return `lock timeout: ${failure.message}`
    case "57014":
      return `statement timeout: ${failure.message}`
    case "25006":
      return `write blocked: ${failure.message}`
    default:
      return `error ${failure.code}: ${failure.message}`
  }
}

/** The URL for another database on the same server. */
const urlFor = (base: URL, database: string): string => {
  const url = new URL(base.toString())
  url.pathname = `/${encodeURIComponent(database)}`
  return url.toString()
}

const databaseOf = (url: URL): string =>
  url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : decodeURIComponent(url.username)

let preparedCounter = 0

export const make = (options: PostgresExplainerOptions): Effect.Effect<Explainer, StageError, Scope.Scope> =>
  Effect.gen(function* () {
    const base = new URL(Redacted.value(options.url))
    if (Option.isSome(options.password)) base.password = encodeURIComponent(Redacted.value(options.password.value))
    const where = `PostgreSQL at ${base.hostname}:${base.port === "" ? "5432" : base.port}`
    const defaultDatabase = databaseOf(base)

    // A PostgreSQL connection serves one database, and pg_stat_statements reports all of a server's: one small pool
    // per database the statements ran in. Idle connections close after a few seconds, so a run that touches many
    // databases does not hold them all.
    const connect = (database: string) =>
      makeTaggedPgClient({
        url: Redacted.make(database === defaultDatabase ? base.toString() : urlFor(base, database)),
        maxConnections: options.maxConnections,
        idleTimeout: "5 seconds",
        connectTimeout: "5 seconds",
        applicationName: "slowq-explain"
      }).pipe(
        Effect.provide(Reactivity.layer),
        Effect.mapError(
          (cause) =>
            new StageError({
              stage: STAGE,
              message: `cannot connect to ${where}${database === defaultDatabase ? "" : ` (database ${database})`} to explain: ${describeSqlError(cause)}`,
              cause
            })
        )
      )
    const pools = yield* poolsPerDatabase(connect)
    // The connection's own database must be reachable: the stage cannot work at all otherwise. Held for the run.
    const first = yield* Effect.flatten(RcMap.get(pools, defaultDatabase))

    const failedOwnStatement = (cause: SqlError) =>
      new StageError({ stage: STAGE, message: `explaining on ${where} failed: ${describeSqlError(cause)}`, cause })

    const [info] = yield* first
      .unsafe(
        `${SLOWQ_MARKER} SELECT current_setting('standard_conforming_strings') AS scs, current_setting('server_version_num')::int AS version, ` +
          "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser"
      )
      .pipe(
        Effect.mapError(failedOwnStatement),
        Effect.flatMap((rows) =>
          decodeServerInfo(rows).pipe(
            Effect.mapError(
              (cause) => new StageError({ stage: STAGE, message: `unexpected server information from ${where}`, cause })
            )
          )
        )
      )
    const backslashEscapes = info.scs !== "on"
    if (info.superuser === true) {
      // A read-only transaction does not stop a superuser's function from writing a server file (COPY … TO).
      yield* Effect.logWarning(
        `the explain user on ${where} is a superuser: functions run while planning can act outside the read-only transaction; use a least-privilege user (see the explain README)`
      )
    }

    const run = (connection: Connection, text: string, params: ReadonlyArray<unknown> = []) =>
      connection.execute(text, params, undefined)
    // The extended protocol, always: the only way collected text is sent.
    const runExtended = (connection: Connection, text: string) =>
      connection.executeStream(text, [], undefined).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

    const idleMs = options.statementTimeoutMs + options.lockTimeoutMs + 1000
    /** BEGIN READ ONLY with the timeouts; the caller always ends it with ROLLBACK. */
    const begin = (connection: Connection) =>
      run(connection, `${SLOWQ_MARKER} BEGIN READ ONLY`).pipe(
        Effect.zipRight(
          run(
            connection,
            `${SLOWQ_MARKER} SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true), ` +
              "set_config('idle_in_transaction_session_timeout', $3, true)",
            [`${options.statementTimeoutMs}ms`, `${options.lockTimeoutMs}ms`, `${idleMs}ms`]
          )
        )
      )

    const asAttempt = (
      method: "direct" | "prepared_generic",
      result: Either.Either<ReadonlyArray<unknown>, SqlError>
    ): Effect.Effect<Attempt, SqlError> => {
      if (Either.isLeft(result)) {
        const failure = serverFailure(result.left)
        return failure === undefined
          ? Effect.fail(result.left)
          : Effect.succeed({ _tag: "Failed", reason: postgresReason(failure) })
      }
      const decoded = decodePlanRows(result.right)
      if (Either.isLeft(decoded)) return Effect.succeed({ _tag: "Failed", reason: "error: unexpected EXPLAIN output" })
      const plan = decoded.right[0]["QUERY PLAN"]
      return Effect.succeed({ _tag: "Plan", method, plan: typeof plan === "string" ? JSON.parse(plan) : plan })
    }

    const explainDirect = (connection: Connection, text: string) =>
      Effect.gen(function* () {
        yield* begin(connection)
        const result = yield* Effect.either(runExtended(connection, `${SLOWQ_MARKER} EXPLAIN (FORMAT JSON)\n${text}`))
        yield* run(connection, `${SLOWQ_MARKER} ROLLBACK`)
        return yield* asAttempt("direct", result)
      })

    /**
     * PREPARE with a type list (empty at first), then EXPLAIN EXECUTE. Repairs what pg_stat_statements'
     * normalization breaks and tries again: a parameter whose type cannot be inferred (42P18) is declared `text`,
     * and `interval $1` (which cannot be prepared) becomes `$1::interval`.
     */
    const explainPrepared = (connection: Connection, original: string) =>
      Effect.gen(function* () {
        let text = original
        let types: ReadonlyArray<string> = []
        let cast = false
        for (let attempt = 0; attempt < 8; attempt++) {
          preparedCounter += 1
          const name = `slowq_explain_${preparedCounter}`
          const typeList = types.length === 0 ? "" : `(${types.join(", ")})`
          yield* begin(connection)
          const prepared = yield* Effect.either(runExtended(connection, `${SLOWQ_MARKER} PREPARE ${name}${typeList} AS\n${text}`))
          if (Either.isLeft(prepared)) {
            yield* run(connection, `${SLOWQ_MARKER} ROLLBACK`)
            const failure = serverFailure(prepared.left)
            if (failure === undefined) return yield* Effect.fail(prepared.left)
            if (failure.code === "42P18") {
              const match = /parameter \$(\d+)/.exec(failure.message)
              const position = match === null ? 0 : Number(match[1])
              if (position >= 1 && position <= 65_535 && types[position - 1] !== "text") {
                const next = Array.from({ length: Math.max(types.length, position) }, (_, i) => types[i] ?? "unknown")
                next[position - 1] = "text"
                types = next
                continue
              }
            }
            if (failure.code === "42601" && !cast) {
              const repaired = castTypedParameters(text, backslashEscapes)
              if (repaired !== undefined) {
                text = repaired
                cast = true
                continue
              }
            }
            return { _tag: "Failed", reason: postgresReason(failure) } satisfies Attempt
          }
          const result = yield* Effect.either(
            Effect.gen(function* () {
              const counted = decodeCountRows(
                yield* run(connection, `${SLOWQ_MARKER} SELECT cardinality(parameter_types)::int AS n FROM pg_prepared_statements WHERE name = $1`, [
                  name
                ])
              )
              const count = Either.isRight(counted) ? counted.right[0].n : 0
              yield* run(connection, `${SLOWQ_MARKER} SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`)
              const values = count === 0 ? "" : `(${Array.from({ length: count }, () => "NULL").join(", ")})`
              return yield* run(connection, `${SLOWQ_MARKER} EXPLAIN (FORMAT JSON) EXECUTE ${name}${values}`)
            })
          )
          yield* run(connection, `${SLOWQ_MARKER} ROLLBACK`)
          return yield* asAttempt("prepared_generic", result)
        }
        return { _tag: "Failed", reason: "error: parameter types could not be repaired" } satisfies Attempt
      })

    const explain = Effect.fn("PostgresExplainer.explain")(function* (statement: Explainable, db: string | null) {
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const reachable = yield* RcMap.get(pools, db ?? defaultDatabase)
          if (Either.isLeft(reachable)) return { _tag: "Failed", reason: `error: ${reachable.left.message}` } satisfies Attempt
          const connection = yield* reachable.right.reserve
          const attempt =
            statement.method === "prepared_generic"
              ? yield* explainPrepared(connection, statement.text)
              : yield* explainDirect(connection, statement.text)
          yield* run(connection, `${SLOWQ_MARKER} DISCARD ALL`)
          return attempt
        })
      ).pipe(Effect.mapError((cause) => (cause instanceof StageError ? cause : failedOwnStatement(cause))))
    })

    return { explain, backslashEscapes, ansiQuotes: false } satisfies Explainer
  })
