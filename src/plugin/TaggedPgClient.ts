import type { Reactivity } from "@effect/experimental"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Redacted, type Scope } from "effect"
import { Pool } from "pg"
import { SLOWQ_MARKER } from "./OwnStatement.js"

/**
 * `PgClient.make` with slowq's tag on its connection check. `PgClient.make` checks a new pool with an untagged
 * `SELECT 1`, which pg_stat_statements then counts as a call of the watched application's (`SELECT $1`) whenever
 * slowq connects to a server it watches, or shares one with the store. The pool is built here, checked with a
 * tagged statement, and handed to `PgClient.fromPool`; the options, errors and the rest behave as `PgClient.make`'s.
 */
export const makeTaggedPgClient = (
  options: PgClient.PgClientConfig
): Effect.Effect<PgClient.PgClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function* () {
    const pool = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const pool = new Pool({
            connectionString: options.url === undefined ? undefined : Redacted.value(options.url),
            user: options.username,
            host: options.host,
            database: options.database,
            password: options.password === undefined ? undefined : Redacted.value(options.password),
            ssl: options.ssl,
            port: options.port,
            connectionTimeoutMillis:
              options.connectTimeout === undefined ? undefined : Duration.toMillis(options.connectTimeout),
            idleTimeoutMillis: options.idleTimeout === undefined ? undefined : Duration.toMillis(options.idleTimeout),
            max: options.maxConnections,
            min: options.minConnections,
            maxLifetimeSeconds:
              options.connectionTTL === undefined ? undefined : Duration.toSeconds(options.connectionTTL),
            application_name: options.applicationName ?? "slowq"
          })
          // An idle connection the server ended (a restart, a dropped database) is only removed from the pool; the
          // next statement opens another one and fails, or not, on its own.
          pool.on("error", () => {})
          return pool
        },
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption("1 second"))
    )
    yield* Effect.tryPromise({
      try: () => pool.query(`${SLOWQ_MARKER} SELECT 1`),
      catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
    }).pipe(
      Effect.timeoutFail({
        duration: options.connectTimeout ?? Duration.seconds(5),
        onTimeout: () => new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
      })
    )
    return yield* PgClient.fromPool({
      acquire: Effect.succeed(pool),
      ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName })
    })
  })
