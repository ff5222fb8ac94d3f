import type { Reactivity } from "@effect/experimental"
import type { PgClient } from "@effect/sql-pg"
import { Effect, Redacted, type Scope } from "effect"
import { makeTaggedPgClient } from "../plugin/TaggedPgClient.js"
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
 * The store's client. Its connection check carries slowq's tag (see TaggedPgClient: the store and a watched
 * database may share a server), and a failed one names its cause instead of "PgClient: Failed to connect".
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

    return yield* makeTaggedPgClient({
      ...(location._tag === "Url"
        ? { url: location.url }
        : { host: location.address.host, port: location.address.port, username: "postgres", database: "postgres" }),
      applicationName: "slowq-store",
      maxConnections: 4,
      connectTimeout: "10 seconds",
      // A session keeps the defaults it started with: one opened while the database was read-only (ALTER DATABASE …
      // SET default_transaction_read_only) stays read-only after that is undone. Renewing sessions bounds that.
      connectionTTL: "5 minutes"
    }).pipe(Effect.mapError((error) => fail(describeDriverError(error.cause ?? error), error)))
  })
