import { createHash } from "node:crypto"
import { Chunk, type Context, Effect, Either, Layer, Option, Predicate, Redacted, Schema, Stream } from "effect"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { type SourceBatch, SlowQuerySource, SourceError } from "../../src/plugin/SlowQuerySource.js"
import { type Config, parseMysqlUrl } from "./config.js"
import { type MysqlConnection, type MysqlError, makePool } from "./MysqlSession.js"
import * as Queries from "./queries.js"

const PLUGIN = "mysql_slow_log_table"

// ---------------------------------------------------------------------------------------------------------------------
// Pure parts, exported for the tests

/**
 * The position a batch hands back: the latest statement END time read so far, in epoch microseconds.
 * Checkpoints of earlier versions also carry `ownThreads` (thread ids of the old driver's untagged `SELECT 1`);
 * decoding ignores that field and the next checkpoint drops it.
 */
export const Checkpoint = Schema.Struct({
  endUs: Schema.Int.pipe(Schema.nonNegative())
})
export type Checkpoint = typeof Checkpoint.Type

/**
 * `"1700000000.123456"` → `1700000000123456`, digit by digit: a float multiply would round some values by a
 * microsecond. `undefined` for anything but a non-negative decimal with at most 6 fraction digits.
 */
export const epochMicros = (decimal: string): number | undefined => {
  const match = /^(\d{1,10})(?:\.(\d{1,6}))?$/.exec(decimal)
  if (match === null) return undefined
  const micros = Number(match[1]) * 1_000_000 + Number((match[2] ?? "").padEnd(6, "0"))
  return Number.isSafeInteger(micros) ? micros : undefined
}

// Not fatal: bytes that are not UTF-8 (MySQL 8's sql_text is a BLOB) become U+FFFD instead of failing the run.
// ignoreBOM keeps a leading U+FEFF, which is part of the logged text.
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })
export const decodeText = (bytes: Uint8Array): string => utf8.decode(bytes)

const Digits = Schema.String.pipe(Schema.pattern(/^\d+$/))

/** A row of `Queries.readSlowLog` as the text protocol returns it: numbers as decimal strings, texts as bytes. */
export const SlowLogRow = Schema.Struct({
  start_s: Schema.String,
  query_us: Digits,
  lock_us: Digits,
  rows_sent: Digits,
  rows_examined: Digits,
  rows_affected: Digits,
  db: Schema.Uint8ArrayFromSelf,
  user_host: Schema.Uint8ArrayFromSelf,
  thread_id: Digits,
  server_id: Digits,
  sql_text: Schema.Uint8ArrayFromSelf
})
export type SlowLogRow = typeof SlowLogRow.Type

/** A row ready to be keyed: `natural` identifies it except among fully identical rows. */
export interface SlowLogEntry {
  readonly endUs: number
  readonly natural: string
  readonly event: Omit<SlowQueryEvent, "key">
}

const decodeRow = Schema.decodeUnknownEither(SlowLogRow)

const hashFields = (parts: ReadonlyArray<Uint8Array | string>): string => {
  const hash = createHash("sha256")
  // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
  for (const part of parts) {
    hash.update(`${typeof part === "string" ? Buffer.byteLength(part) : part.byteLength}:`)
    hash.update(part)
  }
  return hash.digest("hex").slice(0, 16)
}

/** Turns a raw row into an entry, or says why it cannot. */
export const toEntry = (raw: unknown): Either.Either<SlowLogEntry, string> => {
  const decoded = decodeRow(raw)
  if (Either.isLeft(decoded)) return Either.left(`unexpected row shape: ${decoded.left.message}`)
  const row = decoded.right
  const startUs = epochMicros(row.start_s)
  if (startUs === undefined) return Either.left(`unreadable start_time ${JSON.stringify(row.start_s)}`)
  const queryUs = Number(row.query_us)
  const db = decodeText(row.db)
  const user = decodeText(row.user_host)
  const serverId = Number(row.server_id)
  // start time, thread and server nearly always tell rows apart; the hash separates statements that a
  // multi-statement string or a SET timestamp gave the same start on the same thread.
  const natural = `${startUs}:${row.thread_id}:${row.server_id}:${hashFields([row.sql_text, row.query_us, row.user_host, row.db])}`
  return Either.right({
    endUs: startUs + queryUs,
    natural,
    event: {
      startTimeUs: startUs,
      intervalStartUs: null,
      calls: 1,
      queryTimeMs: queryUs / 1000,
      lockTimeMs: Number(row.lock_us) / 1000,
      rowsSent: Number(row.rows_sent),
      rowsExamined: Number(row.rows_examined),
      rowsAffected: Number(row.rows_affected),
      db: db === "" ? null : db,
      user: user === "" ? null : user,
      threadId: Number(row.thread_id),
      sqlText: decodeText(row.sql_text),
      metrics: {},
      attributes: { server_id: serverId }
    }
  })
}

/**
 * Ordinals among rows with the same natural key, in read order. Such rows have the same start and query time,
 * hence the same end time: they sit next to each other in the end-time order and always fall into the same
 * read window together, so a re-read hands out the same ordinals. Only the current end time's keys are kept.
 */
export interface KeyState {
  readonly endUs: number
  readonly seen: ReadonlyMap<string, number>
}
export const initialKeyState: KeyState = { endUs: -1, seen: new Map() }

export const assignKey = (state: KeyState, entry: SlowLogEntry): readonly [KeyState, SlowQueryEvent] => {
  // Copying only the current end time's map: it is nearly always empty or one entry.
  const seen = new Map(entry.endUs === state.endUs ? state.seen : undefined)
  const ordinal = seen.get(entry.natural) ?? 0
  seen.set(entry.natural, ordinal + 1)
  return [{ endUs: entry.endUs, seen }, makeEvent({ ...entry.event, key: `${entry.natural}#${ordinal}` })]
}

/** What a read needs to know about the server's settings; the first problem found, as a message. */
export const settingsProblem = (
  settings: { readonly slow_query_log: string; readonly log_output: string },
  where: string
): string | undefined => {
  if (settings.slow_query_log !== "1" && settings.slow_query_log.toUpperCase() !== "ON") {
    return `the slow query log is off on ${where}, so nothing reaches mysql.slow_log. Turn it on with SET GLOBAL slow_query_log = 1, and put slow_query_log = 1 in the server's config file so that it survives a restart.`
  }
  const outputs = settings.log_output.toUpperCase().split(",")
  if (!outputs.includes("TABLE")) {
    return `the slow query log of ${where} goes to ${settings.log_output}, not to the table mysql.slow_log. Add TABLE with SET GLOBAL log_output = 'FILE,TABLE', and put log_output = FILE,TABLE in the server's config file so that it survives a restart.`
  }
  return undefined
}

/** What the driver reported, dug out of the MysqlError (and of Node's AggregateError for multi-address hosts). */
interface DriverFailure {
  readonly code: string | undefined
  readonly errno: number | undefined
  readonly text: string
}

const driverFailure = (error: MysqlError): DriverFailure => {
  let cause: unknown = error.cause
  if (cause instanceof AggregateError && cause.errors.length > 0 && !Predicate.hasProperty(cause, "code")) {
    cause = cause.errors[0]
  }
  const code = Predicate.hasProperty(cause, "code") && Predicate.isString(cause.code) ? cause.code : undefined
  const errno = Predicate.hasProperty(cause, "errno") && Predicate.isNumber(cause.errno) ? cause.errno : undefined
  const text =
    Predicate.hasProperty(cause, "sqlMessage") && Predicate.isString(cause.sqlMessage)
      ? cause.sqlMessage
      : cause instanceof Error && cause.message !== ""
        ? cause.message
        : error.message
  return { code, errno, text }
}

/** Who and where, for messages. `account` is the server's `user@host` once known. */
export interface ServerContext {
  readonly where: string
  readonly user: string
  readonly account: string | undefined
  readonly connectTimeoutMs: number
  readonly logTimeZone: string | undefined
}

const quoteAccount = (context: ServerContext): string => {
  if (context.account === undefined) return `'${context.user}'@'%'`
  const at = context.account.lastIndexOf("@")
  return at < 0 ? `'${context.account}'` : `'${context.account.slice(0, at)}'@'${context.account.slice(at + 1)}'`
}

/** A driver error as a sentence a DBA can act on. */
export const describeMysqlError = (operation: "connect" | "poll", error: MysqlError, context: ServerContext): string => {
  const { where } = context
  const failure = driverFailure(error)
  switch (failure.code) {
    case "ECONNREFUSED":
      return `cannot connect to ${where}: connection refused. Check that the server is running and that the host and port in source.url are right.`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot connect to ${where}: the host name does not resolve. Check the host in source.url.`
    case "ETIMEDOUT":
      return `cannot connect to ${where}: no answer within ${context.connectTimeoutMs} ms. Check that the server is up and that no firewall drops the connection.`
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      return `${where} refused the login of user '${context.user}': check the user in source.url and its password (source.password).`
    case "ER_DBACCESS_DENIED_ERROR":
      return `${where} refused user '${context.user}' access to the database in source.url: leave the database out of the URL (the source needs none) or grant access to it.`
    case "ER_BAD_DB_ERROR":
      return `${where} has no such database as the one in source.url: fix it or leave it out (the source reads mysql.slow_log and needs no database).`
    case "ER_TABLEACCESS_DENIED_ERROR":
    case "ER_COLUMNACCESS_DENIED_ERROR":
      return `user ${quoteAccount(context)} may not read mysql.slow_log on ${where}. Grant it: GRANT SELECT ON mysql.slow_log TO ${quoteAccount(context)};`
    case "ER_NO_SUCH_TABLE":
      return `${where} has no table mysql.slow_log: slowq needs MariaDB 10.11+ or MySQL 8.x with its system tables in place.`
    case "ER_UNKNOWN_TIME_ZONE":
      return `${where} does not know the time zone '${context.logTimeZone ?? "@@global.time_zone"}' of source.log_time_zone: load the server's time zone tables (mysql_tzinfo_to_sql) or give an offset such as +01:00.`
    case "PROTOCOL_CONNECTION_LOST":
    case "ECONNRESET":
    case "EPIPE":
      return `lost the connection to ${where} while ${operation === "connect" ? "connecting" : "reading mysql.slow_log"} (${failure.code}); the next run reads again from the last stored checkpoint.`
  }
  return `${operation === "connect" ? "connecting to" : "reading mysql.slow_log on"} ${where} failed: ${failure.text}${failure.code === undefined ? "" : ` (${failure.code})`}`
}

// ---------------------------------------------------------------------------------------------------------------------
// The source

/** Rows read ahead of the consumer before the socket is paused: bounds memory, keeps round trips few. */
const BUFFERED_ROWS = 1000

const REQUIRED_COLUMNS = [
  "start_time",
  "user_host",
  "query_time",
  "lock_time",
  "rows_sent",
  "rows_examined",
  "db",
  "server_id",
  "sql_text",
  "thread_id"
] as const

const AccountRow = Schema.Struct({ account: Schema.String })
const ColumnRow = Schema.Struct({ name: Schema.String })
const SettingsRow = Schema.Struct({ slow_query_log: Schema.String, log_output: Schema.String, now_s: Schema.String })

/** Builds the source; the MySQL pool lives in the caller's scope and is never published as a service. */
export const make = Effect.fn("MysqlSlowLogTableSource.make")(function* (config: Config) {
  const target = parseMysqlUrl(Redacted.value(config.url))
  if (target === undefined) {
    // The config schema rejects such URLs; this only guards a caller that skipped decoding.
    return yield* new SourceError({
      plugin: PLUGIN,
      operation: "connect",
      message: "source.url is not a URL like mysql://user@host:3306/db"
    })
  }
  const where = `MySQL at ${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`
  // Learnt once connected; until then messages name the URL's user.
  let account: string | undefined
  const fail = (operation: "connect" | "poll") => (error: MysqlError) =>
    new SourceError({
      plugin: PLUGIN,
      operation,
      message: describeMysqlError(operation, error, {
        where,
        user: target.user,
        account,
        connectTimeoutMs: config.connect_timeout_ms,
        logTimeZone: config.log_time_zone
      }),
      cause: error
    })

  const query = <A, I>(
    connection: MysqlConnection,
    operation: "connect" | "poll",
    text: string,
    params: ReadonlyArray<string | number>,
    row: Schema.Schema<A, I>
  ) =>
    connection.execute(text, params).pipe(
      Effect.mapError(fail(operation)),
      Effect.flatMap((rows) =>
        Schema.decodeUnknown(Schema.Array(row))(rows).pipe(
          Effect.mapError(
            (cause) =>
              new SourceError({
                plugin: PLUGIN,
                operation: "decode",
                message: `unexpected answer from ${where} to: ${text}`,
                cause
              })
          )
        )
      )
    )

  const password =
    config.password ?? (target.passwordFromUrl === undefined ? undefined : Redacted.make(target.passwordFromUrl))
  const pool = yield* makePool({
    host: target.host,
    port: target.port,
    user: target.user,
    password,
    database: target.database,
    connectTimeoutMs: config.connect_timeout_ms,
    maxConnections: config.max_connections
  })

  // Fail fast at start on what the runtime cannot fix by retrying: login, grant, table shape.
  const columns = yield* Effect.scoped(
    Effect.gen(function* () {
      const connection = yield* Effect.mapError(pool.reserve, fail("connect"))
      const [current] = yield* query(connection, "connect", Queries.currentUser, [], AccountRow)
      account = current?.account
      const visible = yield* query(connection, "connect", Queries.slowLogColumns, [], ColumnRow)
      if (visible.length === 0) {
        // No privilege on the table hides it from information_schema: let the server say why.
        yield* query(connection, "connect", Queries.probeSlowLog, [], Schema.Unknown)
      }
      return new Set(visible.map((column) => column.name.toLowerCase()))
    })
  )
  const missing = REQUIRED_COLUMNS.filter((name) => !columns.has(name))
  if (missing.length > 0) {
    return yield* new SourceError({
      plugin: PLUGIN,
      operation: "connect",
      message: `mysql.slow_log on ${where} lacks the column${missing.length === 1 ? "" : "s"} ${missing.join(", ")}: slowq needs the table of MariaDB 10.11+ or MySQL 8.x.`
    })
  }
  const readSql = Queries.readSlowLog({ rowsAffected: columns.has("rows_affected") })
  const overlapUs = config.overlap_seconds * 1_000_000
  const decodeCheckpoint = Schema.decodeUnknown(Checkpoint)

  const toEntries = (rows: Chunk.Chunk<unknown>) => {
    const entries: Array<SlowLogEntry> = []
    const problems: Array<string> = []
    for (const raw of rows) {
      const entry = toEntry(raw)
      if (Either.isLeft(entry)) problems.push(entry.left)
      else entries.push(entry.right)
    }
    const result = Chunk.unsafeFromArray(entries)
    // A bad row is data, not a failed run: say so and go on with the others.
    return problems.length === 0
      ? Effect.succeed(result)
      : Effect.logWarning(`skipped ${problems.length} row(s) of mysql.slow_log that cannot be read`).pipe(
          Effect.annotateLogs({ plugin: PLUGIN, server: where, problem: problems[0] }),
          Effect.as(result)
        )
  }

  const open = Effect.fn("MysqlSlowLogTableSource.open")(function* (checkpoint: Option.Option<unknown>) {
    const previous = Option.isSome(checkpoint)
      ? yield* decodeCheckpoint(checkpoint.value).pipe(
          Effect.mapError(
            (cause) =>
              new SourceError({
                plugin: PLUGIN,
                operation: "decode",
                message: `the stored checkpoint is not one this source writes ({ endUs: <epoch microseconds> }); reset the pipeline's checkpoint to read mysql.slow_log from the start`,
                cause
              })
          )
        )
      : undefined
    const connection = yield* Effect.mapError(pool.reserve, fail("connect"))
    // The CSV log table stores wall-clock text in the zone of the session that logged the row, and this
    // session parses it back in its own zone: align it with the writers' zone on every read.
    if (config.log_time_zone === undefined) {
      yield* query(connection, "poll", Queries.setGlobalTimeZone, [], Schema.Unknown)
    } else {
      yield* query(connection, "poll", Queries.setTimeZone, [config.log_time_zone], Schema.Unknown)
    }
    const settings = yield* query(connection, "poll", Queries.settings, [], SettingsRow).pipe(
      Effect.flatMap((rows) => Effect.fromNullable(rows[0])),
      Effect.catchTag(
        "NoSuchElementException",
        () =>
          new SourceError({ plugin: PLUGIN, operation: "decode", message: `${where} answered the settings query with no row` })
      )
    )
    const problem = settingsProblem(settings, where)
    if (problem !== undefined) return yield* new SourceError({ plugin: PLUGIN, operation: "poll", message: problem })
    // A row stamped in a zone ahead of ours looks like it ended in the future; it must not push the checkpoint
    // past the server's clock, or every row written until then would fall behind it.
    const ceilingUs = epochMicros(settings.now_s) ?? Number.MAX_SAFE_INTEGER
    const watermarkUs = previous?.endUs ?? 0
    const fromUs = Math.max(0, watermarkUs - overlapUs)

    // Stopped before its end (shutdown, interrupted run), the session kills the query on the server and
    // destroys the connection instead of returning it to the pool.
    return connection.stream(readSql, [fromUs], { bufferRows: BUFFERED_ROWS }).pipe(
      Stream.mapError(fail("poll")),
      Stream.mapChunksEffect(toEntries),
      Stream.mapAccum(initialKeyState, (state, entry) => {
        const [next, event] = assignKey(state, entry)
        return [next, { event, endUs: entry.endUs }] as const
      }),
      Stream.grouped(config.batch_size),
      Stream.mapAccum(watermarkUs, (watermark, chunk): readonly [number, SourceBatch] => {
        const lastEndUs = Option.match(Chunk.last(chunk), { onNone: () => watermark, onSome: (item) => item.endUs })
        const next = Math.max(watermark, Math.min(lastEndUs, ceilingUs))
        const checkpoint: Checkpoint = { endUs: next }
        return [next, { events: Chunk.toReadonlyArray(Chunk.map(chunk, (item) => item.event)), checkpoint }]
      })
    )
  })

  const service: Context.Tag.Service<SlowQuerySource> = {
    read: (checkpoint) =>
      Stream.unwrapScoped(open(checkpoint)).pipe(Stream.withSpan("MysqlSlowLogTableSource.read"))
  }
  return service
})

/** The source as a layer of the port; the pool is closed when the layer's scope closes. */
export const layer = (config: Config): Layer.Layer<SlowQuerySource, SourceError> =>
  Layer.scoped(SlowQuerySource, make(config))
