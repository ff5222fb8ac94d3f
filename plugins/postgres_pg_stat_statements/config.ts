import { Schema } from "effect"

/** How the source talks TLS, from the URL's `sslmode`: node-pg knows no `prefer`, so only these three. */
export type SslMode = "disable" | "require" | "verify-full"

/** The parts of `url` the source connects with; the password stays redacted until the driver needs it. */
export interface PostgresTarget {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
  readonly passwordFromUrl: string | undefined
  readonly sslMode: SslMode
}

const SSL_MODES: ReadonlyArray<string> = ["disable", "require", "verify-full"]

/**
 * Parses `postgres://user[:password]@host[:port]/database[?sslmode=disable|require|verify-full]`; `undefined`
 * when it is not one slowq can use. The database is required: it must be one where the extension was created.
 */
export const parsePostgresUrl = (text: string): PostgresTarget | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") return undefined
  if (url.hostname === "" || url.username === "" || url.hash !== "") return undefined
  let sslMode: SslMode = "disable"
  for (const [key, value] of url.searchParams) {
    if (key !== "sslmode" || !SSL_MODES.includes(value)) return undefined
    sslMode = value as SslMode
  }
  const path = decodeURIComponent(url.pathname)
  if (path.length < 2 || path.slice(1).includes("/")) return undefined
  return {
    // WHATWG URL keeps the brackets of an IPv6 literal; the driver wants the bare address.
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === "" ? 5432 : Number(url.port),
    user: decodeURIComponent(url.username),
    database: path.slice(1),
    passwordFromUrl: url.password === "" ? undefined : decodeURIComponent(url.password),
    sslMode
  }
}

// The message never repeats the value: the URL may hold a password.
const PostgresUrl = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter((text) => parsePostgresUrl(text) !== undefined, {
    message: () =>
      "Expected a URL like postgres://user@host:5432/database (user, host and database required; the only query parameter is sslmode=disable|require|verify-full); the value is not shown because it may hold a password"
  })
)

const DatabaseNames = Schema.Array(Schema.NonEmptyTrimmedString)

export const Config = Schema.Struct({
  type: Schema.Literal("postgres_pg_stat_statements").annotations({
    description:
      "Reads PostgreSQL's pg_stat_statements and stores, per statement and interval, the difference since the previous poll."
  }),
  url: Schema.Redacted(PostgresUrl).annotations({
    description:
      "Server to read, as postgres://user@host:port/database (port defaults to 5432). The database must be one where CREATE EXTENSION pg_stat_statements was run; the statistics of every database of the server are read from it. A password may be given in the URL, but prefer `password`."
  }),
  password: Schema.optionalWith(Schema.Redacted(Schema.String), { exact: true }).annotations({
    description:
      "Password of the URL's user; overrides one given in the URL. Fill it from an environment variable or from a file (password_file); never write it in the pipeline file."
  }),
  include_databases: Schema.optionalWith(DatabaseNames, { exact: true, default: () => [] }).annotations({
    description: "Only statements run in these databases (by name). Empty: every database."
  }),
  exclude_databases: Schema.optionalWith(DatabaseNames, { exact: true, default: () => [] }).annotations({
    description: "Never statements run in these databases (by name); applied after include_databases."
  }),
  min_calls: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000_000)), { exact: true, default: () => 1 })
    .annotations({
      description: "Store a statement's interval only when it ran at least this many times in the interval."
    }),
  min_mean_ms: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { exact: true, default: () => 0 })
    .annotations({
      description:
        "Store a statement's interval only when its mean execution time over the interval is at least this many milliseconds."
    }),
  top_n: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), { exact: true }).annotations({
    description:
      "Store at most this many statements per interval, those with the most execution time in the interval. Unset: all that pass the other filters."
  }),
  include_utility: Schema.optionalWith(Schema.Boolean, { exact: true, default: () => true }).annotations({
    description:
      "Also store utility statements (anything but SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, TABLE and WITH: DDL, VACUUM, COPY, SET, BEGIN, …)."
  }),
  include_nested: Schema.optionalWith(Schema.Boolean, { exact: true, default: () => false }).annotations({
    description:
      "Also store statements run inside functions and procedures (toplevel = false; needs pg_stat_statements.track = all, PostgreSQL 14+). Their time is also part of the calling statement's."
  }),
  text_cache_bytes: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 16 * 1024 * 1024)), {
    exact: true,
    default: () => 1024 * 1024
  }).annotations({
    description:
      "Bytes of query text kept in the pipeline's checkpoint for the statements active in the last hour (or 24 intervals), most recent first, so that most polls need no text read (a text read makes the server read its whole query text file). Make it hold the texts of the statements that keep coming back. 0: read texts in every poll that has activity."
  }),
  connect_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 60_000)), {
    exact: true,
    default: () => 5000
  }).annotations({ description: "How long to wait for a connection before reporting the server unreachable." }),
  query_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 600_000)), {
    exact: true,
    default: () => 30_000
  }).annotations({ description: "statement_timeout of the source's own statements." })
})
export type Config = typeof Config.Type
