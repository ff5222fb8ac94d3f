import type { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted, type Scope } from "effect"
import { Pool } from "pg"
import type { SocketAddress } from "./EmbeddedStore.js"
import { StoreError } from "./StoreError.js"

/** Where the store is: a PostgreSQL URL, or the unix socket of the embedded store. */
export type StoreLocation =
  | { readonly _tag: "Url"; readonly url: Redacted.Redacted }
  | { readonly _tag: "Embedded"; readonly address: SocketAddress; readonly dir: string }

export const describeLocation = (location: StoreLocation) =>
  location._tag === "Url" ? "the store (SLOWQ_STORE_URL)" : `the embedded store in ${location.dir}`

const field = (value: object, name: string): unknown => (name in value ? Reflect.get(value, name) : undefined)
const text = (value: object, name: string): string | undefined => {
  const found = field(value, name)
  return typeof found === "string" && found !== "" ? found : undefined
}

/**
 * What the driver said, as a user can act on it: the server's SQLSTATE and message (`3D000 database "x" does not
 * exist`), or the system's error code and where it happened (`ECONNREFUSED 127.0.0.1:5499`). Node reports a host
 * with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError of one error per address.
 */
export const describeDriverError = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const errors = field(error, "errors")
  if (Array.isArray(errors) && errors.length > 0) return [...new Set(errors.map(describeDriverError))].join("; ")
  const code = text(error, "code")
  const message = text(error, "message")
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code) && field(error, "severity") !== undefined) {
    return `${code} ${message ?? "(no message)"}`
  }
  if (code !== undefined && typeof field(error, "errno") === "number") {
    const address = text(error, "address")
    const port = field(error, "port")
    if (address !== undefined) return `${code} ${typeof port === "number" ? `${address}:${port}` : address}`
    const hostname = text(error, "hostname")
    return hostname === undefined ? `${code}${message === undefined ? "" : ` (${message})`}` : `${code} ${hostname}`
  }
  const cause = field(error, "cause")
  if (message !== undefined) return message
  return cause === undefined ? String(error) : describeDriverError(cause)
}

// The message must never carry the password, whatever a driver or server chooses to quote.
const hidePassword = (message: string, url: string | undefined): string => {
  if (url === undefined) return message
  let password: string
  try {
    password = new URL(url).password
  } catch {
    return message
  }
  if (password === "") return message
  let decoded = password
  try {
    decoded = decodeURIComponent(password)
  } catch {
    // a malformed escape: the raw text is what a driver would have seen
  }
  return message.replaceAll(password, "***").replaceAll(decoded, "***")
}

const invalidUrl = "invalid URL (expected postgres://user:password@host:port/database)"

/** The URL's own problem, if it has one, told without quoting it (it may hold a password). */
const urlProblem = (url: string): string | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return invalidUrl
  }
  return parsed.protocol === "postgres:" || parsed.protocol === "postgresql:" ? undefined : invalidUrl
}

/**
 * The store's client, on a pool built here rather than by `PgClient.make`: that one checks a new pool with an
 * untagged `SELECT 1`, which pg_stat_statements then counts as a call of the application's own when the store and
 * a watched database share a server. This pool is checked with a statement that carries slowq's tag, and a failed
 * check names its cause instead of "Failed to connect".
 */
export const connectStore = (
  location: StoreLocation
): Effect.Effect<PgClient.PgClient, StoreError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function* () {
    const url = location._tag === "Url" ? Redacted.value(location.url) : undefined
    const fail = (reason: string, cause?: unknown) =>
      new StoreError({
        operation: "connect",
        message: `cannot connect to ${describeLocation(location)}: ${hidePassword(reason, url)}`,
        cause
      })
    const problem = url === undefined ? undefined : urlProblem(url)
    if (problem !== undefined) return yield* fail(problem)

    const target =
      location._tag === "Url"
        ? { connectionString: Redacted.value(location.url) }
        : { host: location.address.host, port: location.address.port, user: "postgres", database: "postgres" }
    const pool = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const pool = new Pool({
            ...target,
            application_name: "slowq-store",
            max: 4,
            connectionTimeoutMillis: 10_000,
            // A session keeps the defaults it started with: one opened while the database was read-only (ALTER
            // DATABASE … SET default_transaction_read_only) stays read-only after that is undone. Renewing bounds it.
            maxLifetimeSeconds: 300
          })
          // An idle connection the server ended (a restart, a dropped database) is only removed from the pool; the
          // next statement opens another one and fails, or not, on its own.
          pool.on("error", () => {})
          return pool
        },
        catch: (cause) => fail(describeDriverError(cause), cause)
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption("1 second"))
    )
    yield* Effect.tryPromise({
      try: () => pool.query("/* slowq */ SELECT 1"),
      catch: (cause) => fail(describeDriverError(cause), cause)
    }).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => fail("no answer within 10 seconds") })
    )
    return yield* PgClient.fromPool({ acquire: Effect.succeed(pool), applicationName: "slowq-store" }).pipe(
      Effect.mapError((cause) => fail(describeDriverError(cause.cause ?? cause), cause))
    )
  })
