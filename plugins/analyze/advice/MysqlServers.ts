import { Reactivity } from "@effect/experimental"
import { MysqlClient } from "@effect/sql-mysql2"
import { Effect, Option, Redacted, Schema } from "effect"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"

/**
 * The two MySQL/MariaDB servers the index advice talks to: the watched one (read only: information_schema, SHOW
 * CREATE TABLE, a bounded sample) and the sandbox (a database slowq owns): their clients, and how slowq tells that
 * they are one server whatever URLs reached them. How their URLs are read is in MysqlTarget.ts.
 */

/**
 * A client of one MySQL/MariaDB server, with `database` as every connection's default. DATE/DATETIME/TIMESTAMP
 * come back as text (`dateStrings`), so that a sample copied into the sandbox goes back as the server printed it.
 */
export const mysqlClient = (url: URL, password: Option.Option<Redacted.Redacted<string>>, database: string, maxConnections: number) =>
  MysqlClient.make({
    host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === "" ? 3306 : Number(url.port),
    username: decodeURIComponent(url.username),
    password: Option.getOrElse(password, () => Redacted.make(decodeURIComponent(url.password))),
    ...(database === "" ? {} : { database }),
    maxConnections,
    connectionTTL: "5 seconds",
    poolConfig: { maxPreparedStatements: 16, connectTimeout: 5000, dateStrings: true }
  }).pipe(Effect.provide(Reactivity.layer))

const ServerRows = Schema.Tuple(
  Schema.Struct({ version: Schema.String, host: Schema.String, port: Schema.Number, datadir: Schema.String })
)
const decodeServer = Schema.decodeUnknown(ServerRows)

/** What tells two servers apart whatever URL reached them (`host:port:datadir`), and whether it is MariaDB. */
export const serverIdentity = (sql: MysqlClient.MysqlClient) =>
  sql
    .unsafe(`${SLOWQ_MARKER} SELECT VERSION() AS version, @@hostname AS host, @@port AS port, @@datadir AS datadir`)
    .pipe(
      Effect.flatMap((rows) => decodeServer(rows)),
      Effect.map(([row]) => ({ identity: `${row.host}:${row.port}:${row.datadir}`, mariadb: row.version.includes("MariaDB") }))
    )
