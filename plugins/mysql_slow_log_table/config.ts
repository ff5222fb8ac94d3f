import { Schema } from "effect"

/** The parts of `url` the source connects with; the password stays redacted until the driver needs it. */
export interface MysqlTarget {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string | undefined
  readonly passwordFromUrl: string | undefined
}

/** Parses a `mysql://user[:password]@host[:port][/db]` URL; `undefined` when it is not one slowq can use. */
export const parseMysqlUrl = (text: string): MysqlTarget | undefined => {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") return undefined
  if (url.hostname === "" || url.username === "" || url.search !== "" || url.hash !== "") return undefined
  const path = decodeURIComponent(url.pathname)
  if (path.length > 1 && path.slice(1).includes("/")) return undefined
  return {
    // WHATWG URL keeps the brackets of an IPv6 literal; the driver wants the bare address.
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === "" ? 3306 : Number(url.port),
    user: decodeURIComponent(url.username),
    database: path.length > 1 ? path.slice(1) : undefined,
    passwordFromUrl: url.password === "" ? undefined : decodeURIComponent(url.password)
  }
}

// The message never repeats the value: the URL may hold a password.
const MysqlUrl = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter((text) => parseMysqlUrl(text) !== undefined, {
    message: () =>
      "Expected a URL like mysql://user@host:3306/db (user and host required, no query string); the value is not shown because it may hold a password"
  })
)

export const Config = Schema.Struct({
  type: Schema.Literal("mysql_slow_log_table").annotations({
    description: "Reads MySQL/MariaDB's slow query log from the table mysql.slow_log."
  }),
  url: Schema.Redacted(MysqlUrl).annotations({
    description:
      "Server to read, as mysql://user@host:port/db (port defaults to 3306, db is optional: the source reads mysql.slow_log whatever the default database). A password may be given in the URL, but prefer `password`."
  }),
  password: Schema.optionalWith(Schema.Redacted(Schema.String), { exact: true }).annotations({
    description:
      "Password of the URL's user; overrides one given in the URL. Fill it from an environment variable or from a file (password_file); never write it in the pipeline file."
  }),
  batch_size: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { exact: true, default: () => 5000 })
    .annotations({
      description:
        "Events per batch handed to the pipeline; each batch is stored with its checkpoint in one transaction."
    }),
  overlap_seconds: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 86_400)), { exact: true, default: () => 60 })
    .annotations({
      description:
        "Each read goes back this far before the checkpoint (by statement end time) to catch rows the server wrote late; re-read rows are deduplicated by their key. Larger is safer and costs re-reading."
    }),
  log_time_zone: Schema.optionalWith(
    Schema.String.pipe(
      Schema.pattern(/^(?:[+-]\d{2}:\d{2}|SYSTEM|[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*)$/, {
        message: () => "Expected a time zone such as +00:00, -05:30, SYSTEM or Europe/Berlin"
      })
    ),
    { exact: true }
  ).annotations({
    description:
      "Time zone in which the server wrote mysql.slow_log.start_time. The CSV log table stores local wall-clock time in the time_zone of the session that ran the statement; by default the source reads in the server's global time_zone, which is right for every session that does not set its own. Set this when the applications set one session time_zone (e.g. +00:00) that differs from the global one."
  }),
  max_connections: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10)), { exact: true, default: () => 2 })
    .annotations({ description: "Size of the source's connection pool; a read uses one connection." }),
  connect_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(100, 60_000)), {
    exact: true,
    default: () => 5000
  }).annotations({
    description:
      "How long to wait for a new connection, the login included, before reporting the server unreachable."
  })
})
export type Config = typeof Config.Type
