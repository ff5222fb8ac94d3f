import { Reactivity } from "@effect/experimental"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { MysqlClient } from "@effect/sql-mysql2"
import { Effect, Either, Option, Predicate, RcMap, Redacted, Schema, type Scope } from "effect"
// Leads every statement the stage sends: the slow log and pg_stat_statements record slowq's EXPLAINs, and the
// runtime drops what starts with it, so they never come back as collected statements.
import { SLOWQ_MARKER } from "../../src/plugin/OwnStatement.js"
import { StageError } from "../../src/plugin/PipelineStage.js"
import { parseExplainJson } from "./MariadbJson.js"
import { type Attempt, describeSqlError, type Explainer, poolsPerDatabase, STAGE } from "./Explainer.js"
import type { Explainable } from "./Policy.js"

/**
 * EXPLAIN FORMAT=JSON on MySQL/MariaDB.
 *
 * @effect/sql-mysql2 opens every connection with multipleStatements: true, so a text-protocol call
 * (`.unprepared`, `.stream`) would run a `; DROP TABLE` hidden after a statement. Every statement here goes through
 * `Connection.execute`, which is mysql2's `execute`: the prepared-statement protocol, where the server parses
 * exactly one statement and rejects the rest (1064). The EXPLAIN runs on a reserved connection inside
 * START TRANSACTION READ ONLY … ROLLBACK (a stored function that writes fails with 1792), after the session's
 * statement and lock timeouts are set.
 */

export interface MysqlExplainerOptions {
  readonly url: Redacted.Redacted<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly maxConnections: number
  readonly statementTimeoutMs: number
  readonly lockTimeoutMs: number
}

const ServerInfo = Schema.Struct({ version: Schema.String, sql_mode: Schema.String, powerful: Schema.Number })
const decodeServerInfo = Schema.decodeUnknown(Schema.Tuple(ServerInfo))
const ExplainRows = Schema.Tuple(Schema.Struct({ EXPLAIN: Schema.String }))
const decodeExplainRows = Schema.decodeUnknownEither(ExplainRows)

/** What the server said, when it said something: a statement failure rather than a lost connection. */
interface ServerFailure {
  readonly errno: number
  readonly message: string
}

const serverFailure = (error: SqlError): ServerFailure | undefined => {
  const cause = error.cause
  if (!Predicate.hasProperty(cause, "errno") || !Predicate.isNumber(cause.errno)) return undefined
  // mysql2 marks errors after which the connection is unusable as fatal; server errors carry a SQLSTATE.
  if (Predicate.hasProperty(cause, "fatal") && cause.fatal === true) return undefined
  if (!Predicate.hasProperty(cause, "sqlState") || !Predicate.isString(cause.sqlState)) return undefined
  const message =
    Predicate.hasProperty(cause, "sqlMessage") && Predicate.isString(cause.sqlMessage) ? cause.sqlMessage : error.message
  return { errno: cause.errno, message }
}

/** The refusal reason for a server error: `category` or `category: detail`. */
export const mysqlReason = (failure: ServerFailure): string => {
  switch (failure.errno) {
    case 1205:
      return `lock timeout: ${failure.message}`
    case 1969: // MariaDB max_statement_time
    case 3024: // MySQL max_execution_time
    case 1317:
      return `statement timeout: ${failure.message}`
    case 1792:
      return `write blocked: ${failure.message}`
    default:
      return `error ${failure.errno}: ${failure.message}`
  }
}

export const make = (options: MysqlExplainerOptions): Effect.Effect<Explainer, StageError, Scope.Scope> =>
  Effect.gen(function* () {
    const url = new URL(Redacted.value(options.url))
    const where = `MySQL/MariaDB at ${url.hostname}:${url.port === "" ? "3306" : url.port}`
    const password = Option.match(options.password, {
      onSome: (password) => password,
      onNone: () => Redacted.make(decodeURIComponent(url.password))
    })
    const defaultDatabase = decodeURIComponent(url.pathname.slice(1))

    // The database is chosen when a connection is opened (the handshake's schema), never with USE: a prepared USE
    // does not reliably switch databases on MariaDB 10.11, and the text protocol is ruled out.
    const connect = (database: string) =>
      MysqlClient.make({
        host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port === "" ? 3306 : Number(url.port),
        username: decodeURIComponent(url.username),
        password,
        ...(database === "" ? {} : { database }),
        maxConnections: options.maxConnections,
        connectionTTL: "5 seconds",
        // mysql2 keeps each executed statement prepared on its connection; a small cache closes old ones, so
        // collected texts never pile up against the server's max_prepared_stmt_count.
        poolConfig: { maxPreparedStatements: 16, connectTimeout: 5000 }
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

    // One small pool per database the statements ran in ("" for none: unqualified names then fail as they would
    // have). The connection's own database must be reachable, or the stage cannot work at all; it is held for the run.
    const pools = yield* poolsPerDatabase(connect)
    const sql = yield* Effect.flatten(RcMap.get(pools, defaultDatabase))

    // Only failures of the connection or of slowq's own statements get here; the explained statement's are results.
    const connectionLost = (cause: SqlError) =>
      new StageError({ stage: STAGE, message: `explaining on ${where} failed: ${describeSqlError(cause)}`, cause })

    const [info] = yield* sql
      .unsafe(
        `${SLOWQ_MARKER} SELECT VERSION() AS version, @@SESSION.sql_mode AS sql_mode, (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES ` +
          "WHERE GRANTEE = CONCAT(QUOTE(SUBSTRING_INDEX(CURRENT_USER(), '@', 1)), '@', QUOTE(SUBSTRING_INDEX(CURRENT_USER(), '@', -1))) " +
          "AND PRIVILEGE_TYPE IN ('SUPER', 'FILE')) AS powerful"
      )
      .pipe(
      Effect.mapError(connectionLost),
      Effect.flatMap((rows) =>
        decodeServerInfo(rows).pipe(
          Effect.mapError(
            (cause) => new StageError({ stage: STAGE, message: `unexpected server information from ${where}`, cause })
          )
        )
      )
    )
    if (info.powerful > 0) {
      // A read-only transaction does not stop a stored function of a FILE/SUPER user from writing INTO OUTFILE.
      yield* Effect.logWarning(
        `the explain user on ${where} has FILE or SUPER: functions run while planning can act outside the read-only transaction; use a least-privilege user (see the explain README)`
      )
    }
    const mariadb = info.version.includes("MariaDB")
    const modes = info.sql_mode.toUpperCase().split(",")
    const lockSeconds = Math.max(1, Math.ceil(options.lockTimeoutMs / 1000))
    const sessionSettings = mariadb
      ? `${SLOWQ_MARKER} SET SESSION max_statement_time = ${options.statementTimeoutMs / 1000}, lock_wait_timeout = ${lockSeconds}, ` +
        `innodb_lock_wait_timeout = ${lockSeconds}, idle_readonly_transaction_timeout = ${lockSeconds + Math.ceil(options.statementTimeoutMs / 1000) + 1}`
      : `${SLOWQ_MARKER} SET SESSION max_execution_time = ${options.statementTimeoutMs}, lock_wait_timeout = ${lockSeconds}, ` +
        `innodb_lock_wait_timeout = ${lockSeconds}`

    // The prepared-statement protocol, always: see the module comment.
    const run = (connection: Connection, text: string) => connection.execute(text, [], undefined)

    /** EXPLAIN in a read-only transaction that is always rolled back; server errors become results. */
    const explainOn = (connection: Connection, statement: Explainable) =>
      Effect.gen(function* () {
        yield* run(connection, sessionSettings)
        yield* run(connection, `${SLOWQ_MARKER} START TRANSACTION READ ONLY`)
        const explained = yield* Effect.either(run(connection, `${SLOWQ_MARKER} EXPLAIN FORMAT=JSON ${statement.text}`))
        yield* run(connection, `${SLOWQ_MARKER} ROLLBACK`)
        // A function run during planning may have taken a user lock (GET_LOCK), which outlives the transaction.
        yield* run(connection, `${SLOWQ_MARKER} SELECT RELEASE_ALL_LOCKS()`)
        if (Either.isLeft(explained)) return yield* failureOrLost(explained.left)
        const decoded = decodeExplainRows(explained.right)
        const plan = Either.isRight(decoded) ? parseExplainJson(decoded.right[0].EXPLAIN) : undefined
        if (plan === undefined) {
          return { _tag: "Failed", reason: "error: unexpected EXPLAIN output" } satisfies Attempt
        }
        return {
          _tag: "Plan",
          method: statement.method === "rewritten" ? "rewritten" : "direct",
          plan
        } satisfies Attempt
      })

    const failureOrLost = (error: SqlError): Effect.Effect<Attempt, SqlError> => {
      const failure = serverFailure(error)
      return failure === undefined ? Effect.fail(error) : Effect.succeed({ _tag: "Failed", reason: mysqlReason(failure) })
    }

    const explain = Effect.fn("MysqlExplainer.explain")(function* (statement: Explainable, db: string | null) {
      const database = db ?? ""
      if (database.length > 64 || database.includes("\u0000")) {
        return { _tag: "Failed", reason: "error: invalid database name" } satisfies Attempt
      }
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const reachable = yield* RcMap.get(pools, database)
          if (Either.isLeft(reachable)) return { _tag: "Failed", reason: `error: ${reachable.left.message}` } satisfies Attempt
          const connection = yield* reachable.right.reserve
          return yield* explainOn(connection, statement)
        })
      ).pipe(Effect.mapError(connectionLost))
    })

    return {
      explain,
      backslashEscapes: !modes.includes("NO_BACKSLASH_ESCAPES"),
      ansiQuotes: modes.includes("ANSI_QUOTES")
    } satisfies Explainer
  })
