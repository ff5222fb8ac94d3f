import { Reactivity } from "@effect/experimental"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { type Context, Duration, Effect, Either, Layer, Option, Predicate, Redacted, Schema, Stream } from "effect"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { isOwnStatement } from "../../src/plugin/OwnStatement.js"
import { type SourceBatch, SlowQuerySource, SourceError } from "../../src/plugin/SlowQuerySource.js"
import { makeTaggedPgClient } from "../../src/plugin/TaggedPgClient.js"
import { type Config, parsePostgresUrl } from "./config.js"
import * as Queries from "./queries.js"
import {
  type CachedText,
  type Counter,
  type Delta,
  decodeCheckpoint,
  diff,
  type Entry,
  encodeCheckpoint,
  parseCounter,
  pruneTexts,
  type Snapshot,
  subtract,
  textHorizonUs,
  textKeyOf
} from "./Snapshot.js"

const PLUGIN = "postgres_pg_stat_statements"

/** What pg_stat_statements shows instead of the text of another user's statement to a role without pg_read_all_stats. */
export const INSUFFICIENT_PRIVILEGE = "<insufficient privilege>"

// ---------------------------------------------------------------------------------------------------------------------
// Pure parts, exported for the tests

const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v"
const isWordChar = (c: string): boolean =>
  (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || (c >= "0" && c <= "9")

/**
 * The first keyword of a statement, lower-cased, after whitespace, `--` and (nested) `/* *\/` comments and opening
 * parentheses; "" when there is none. One pass, no regular expression over the untrusted text.
 */
export const firstKeyword = (text: string): string => {
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (isSpace(c) || c === "(") {
      i++
    } else if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i + 2)
      i = end < 0 ? text.length : end + 1
    } else if (c === "/" && text[i + 1] === "*") {
      let depth = 1
      i += 2
      while (i < text.length && depth > 0) {
        if (text[i] === "/" && text[i + 1] === "*") {
          depth++
          i += 2
        } else if (text[i] === "*" && text[i + 1] === "/") {
          depth--
          i += 2
        } else {
          i++
        }
      }
    } else {
      let end = i
      while (end < text.length && isWordChar(text[end]!)) end++
      return text.slice(i, end).toLowerCase()
    }
  }
  return ""
}

const OPTIMIZABLE = new Set(["select", "insert", "update", "delete", "merge", "values", "table", "with"])

/** pg_stat_statements tracks planned statements and, with track_utility, everything else: DDL, COPY, SET, BEGIN, … */
export const isUtility = (text: string): boolean => !OPTIMIZABLE.has(firstKeyword(text))

/**
 * `SELECT 1`, normalized. slowq versions before its connection checks were tagged (TaggedPgClient) left an untagged
 * `SELECT 1` under the source's role in the source's database, where pg_stat_statements still counts it.
 */
export const isConnectionCheck = (text: string): boolean => /^\s*select\s+\$1\s*;?\s*$/i.test(text)

const metricOfTime = (column: string): string =>
  column === "total_plan_time" ? "plan_time_ms" : `${column.replace(/^total_/, "")}_ms`

/** The names of one poll's figures, aligned with the arrays of its entries. */
export interface PollColumns {
  readonly counterNames: ReadonlyArray<string>
  readonly timeNames: ReadonlyArray<string>
  readonly sinceResetNames: ReadonlyArray<string>
}

/**
 * One interval of one key as an event. `key` is deterministic: a replay of the same interval is ignored by the
 * store, and the interval's end tells intervals of one key apart.
 */
export const toEvent = (
  system: string,
  endUs: number,
  delta: Delta,
  sqlText: string,
  columns: PollColumns
): SlowQueryEvent => {
  const { entry } = delta
  const metrics: Record<string, number> = {}
  let calls = 0
  let rows = 0
  columns.counterNames.forEach((name, i) => {
    const value = delta.counters[i]
    if (value === undefined) return
    if (name === "calls") calls = Number(value)
    else if (name === "rows") rows = Number(value)
    else metrics[name] = Number(value)
  })
  let execMs = 0
  columns.timeNames.forEach((name, i) => {
    const value = delta.times[i]
    if (value === undefined) return
    if (name === "total_exec_time") execMs = value
    else metrics[metricOfTime(name)] = value
  })
  columns.sinceResetNames.forEach((name, i) => {
    const value = entry.sinceReset[i]
    if (value !== undefined) metrics[`${name}_ms_since_reset`] = value
  })
  return makeEvent({
    key: `${system}:${entry.dbid}:${entry.userid}:${entry.queryid}:${entry.toplevel ? 1 : 0}:${endUs}`,
    startTimeUs: endUs,
    intervalStartUs: delta.intervalStartUs,
    calls,
    queryTimeMs: execMs,
    rowsSent: rows,
    db: entry.datname,
    user: entry.rolname,
    sqlText,
    metrics,
    attributes: {
      queryid: entry.queryid,
      dbid: entry.dbid,
      userid: entry.userid,
      toplevel: entry.toplevel,
      baseline: delta.origin === "baseline",
      origin: delta.origin,
      system_identifier: system
    }
  })
}

const SIGNED = /^-?\d{1,20}$/
const UNSIGNED = /^\d{1,30}$/

/** Names of the databases and roles a snapshot refers to, by oid. */
export interface Names {
  readonly databases: ReadonlyMap<number, string>
  readonly roles: ReadonlyMap<number, string>
}

/**
 * A row of the snapshot query (positional values, see `Queries.snapshot`) as an entry; `"hidden"` for another
 * user's entry the role may not see (NULL queryid); what is wrong otherwise. Checked by hand, field by field: this
 * runs for every entry of every poll, and Schema on 5,000 rows of 45 values costs more than the query.
 */
export const toEntry = (
  row: ReadonlyArray<unknown>,
  columns: PollColumns,
  names: Names
): Entry | "hidden" | { readonly problem: string } => {
  const counters = columns.counterNames.length
  const floats = columns.timeNames.length + columns.sinceResetNames.length
  if (row.length !== 5 + counters + floats) return { problem: `a row has ${row.length} values, expected ${5 + counters + floats}` }
  const [dbid, userid, queryid, toplevel] = row
  if (queryid === null) return "hidden"
  if (typeof queryid !== "string" || !SIGNED.test(queryid)) return { problem: "queryid is not an integer" }
  if (!Number.isSafeInteger(dbid) || !Number.isSafeInteger(userid)) return { problem: "dbid or userid is not an oid" }
  if (typeof toplevel !== "boolean") return { problem: "toplevel is not a boolean" }
  const counterValues: Array<Counter> = []
  for (let i = 4; i < 4 + counters; i++) {
    const value = row[i]
    // NULL where a version leaves a figure out for some entries.
    if (value === null) counterValues.push(0)
    else if (typeof value === "string" && UNSIGNED.test(value)) counterValues.push(parseCounter(value))
    else return { problem: "a counter is not a non-negative integer" }
  }
  const floatValues: Array<number> = []
  for (let i = 4 + counters; i < 4 + counters + floats; i++) {
    const value = row[i]
    if (value === null) floatValues.push(0)
    else if (typeof value === "number" && Number.isFinite(value)) floatValues.push(value)
    else return { problem: "a time is not a number" }
  }
  const since = row[4 + counters + floats]
  if (since !== null && (typeof since !== "string" || !SIGNED.test(since))) return { problem: "stats_since is not a time" }
  return {
    dbid: dbid as number,
    userid: userid as number,
    queryid,
    toplevel,
    counters: counterValues,
    times: floatValues.slice(0, columns.timeNames.length),
    sinceReset: floatValues.slice(columns.timeNames.length),
    statsSinceUs: since === null ? null : Number(since),
    // A database dropped between the two reads has no name any more; its oid still tells it apart.
    datname: names.databases.get(dbid as number) ?? `oid ${dbid}`,
    rolname: names.roles.get(userid as number) ?? null
  }
}

/** What the driver reported, dug out of the SqlError (and of Node's AggregateError for multi-address hosts). */
interface DriverFailure {
  readonly code: string | undefined
  readonly text: string
}

const driverFailure = (error: SqlError): DriverFailure => {
  let cause: unknown = error.cause
  if (cause instanceof AggregateError && cause.errors.length > 0 && !Predicate.hasProperty(cause, "code")) {
    cause = cause.errors[0]
  }
  const code = Predicate.hasProperty(cause, "code") && Predicate.isString(cause.code) ? cause.code : undefined
  const text = cause instanceof Error && cause.message !== "" ? cause.message : error.message
  return { code, text }
}

/** Who and where, for messages. */
export interface ServerContext {
  readonly where: string
  readonly user: string
  readonly database: string
  readonly schema: string
  readonly connectTimeoutMs: number
  readonly queryTimeoutMs: number
}

const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`

/** A driver error as a sentence a DBA can act on. */
export const describeSqlError = (operation: "connect" | "poll", error: SqlError, context: ServerContext): string => {
  const { where, user, database } = context
  const failure = driverFailure(error)
  const role = Queries.quoteIdent(user)
  switch (failure.code) {
    case "ECONNREFUSED":
      return `cannot connect to ${where}: connection refused. Check that the server is running and that the host and port in source.url are right.`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot connect to ${where}: the host name does not resolve. Check the host in source.url.`
    case "ETIMEDOUT":
      return `cannot connect to ${where}: no answer within ${context.connectTimeoutMs} ms. Check that the server is up and that no firewall drops the connection.`
    case "ECONNRESET":
    case "EPIPE":
      return `lost the connection to ${where} (${failure.code}); the next run polls again from the last stored snapshot, so no interval is lost.`
    case "28P01":
    case "28000":
      return `${where} refused the login of user ${quoteLiteral(user)} to database ${quoteLiteral(database)}: ${failure.text}. Check the user in source.url, its password (source.password) and pg_hba.conf.`
    case "3D000":
      return `${where} has no database ${quoteLiteral(database)}: fix the database in source.url (one where CREATE EXTENSION pg_stat_statements was run).`
    case "42501":
      if (failure.text.startsWith("permission denied for database")) {
        return `user ${quoteLiteral(user)} may not connect to database ${quoteLiteral(database)} on ${where}: GRANT CONNECT ON DATABASE ${Queries.quoteIdent(database)} TO ${role};`
      }
      return `user ${quoteLiteral(user)} may not read pg_stat_statements in database ${quoteLiteral(database)} on ${where} (${failure.text}). Grant it, e.g. GRANT pg_read_all_stats TO ${role}; and, if EXECUTE was revoked, GRANT EXECUTE ON FUNCTION ${Queries.quoteIdent(context.schema)}.pg_stat_statements(boolean) TO ${role};`
    case "55000":
      if (failure.text.includes("shared_preload_libraries")) {
        return `pg_stat_statements is not loaded on ${where}: add it to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed) and restart the server.`
      }
      break
    case "57014":
      return `reading pg_stat_statements on ${where} took longer than source.query_timeout_ms (${context.queryTimeoutMs} ms) and was cancelled.`
    case "57P01":
    case "57P02":
    case "57P03":
      return `${where} is shutting down or starting up (${failure.text}); the next run tries again.`
  }
  if (error.message === "PgClient: Connection timed out") {
    return `cannot connect to ${where}: no answer within ${context.connectTimeoutMs} ms. Check that the server is up and that no firewall drops the connection.`
  }
  if (failure.text.startsWith("Connection terminated")) {
    return `lost the connection to ${where} (${failure.text}); the next run polls again from the last stored snapshot, so no interval is lost.`
  }
  return `${operation === "connect" ? "connecting to" : "reading pg_stat_statements on"} ${where} failed: ${failure.text}${failure.code === undefined ? "" : ` (SQLSTATE ${failure.code})`}`
}

/** Why the source cannot read pg_stat_statements through this database, before any poll; undefined when it can. */
export const setupProblem = (
  setup: { readonly loaded: boolean; readonly schema: string | null },
  context: Pick<ServerContext, "where" | "database">
): string | undefined => {
  const db = quoteLiteral(context.database)
  if (!setup.loaded && setup.schema === null) {
    return `pg_stat_statements is neither loaded on ${context.where} nor installed in database ${db}: add it to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed), restart the server, then run CREATE EXTENSION pg_stat_statements; in database ${db}.`
  }
  if (!setup.loaded) {
    return `pg_stat_statements is installed in database ${db} but not loaded on ${context.where}: add it to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed) and restart the server.`
  }
  if (setup.schema === null) {
    return `pg_stat_statements is not installed in database ${db} on ${context.where}: run CREATE EXTENSION pg_stat_statements; in that database (its statistics cover every database of the server, so one is enough), or point source.url at a database where it is installed.`
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------------
// The source

const SetupRow = Schema.Struct({
  role: Schema.String,
  database: Schema.String,
  role_oid: Schema.Number,
  database_oid: Schema.Number,
  loaded: Schema.Boolean,
  schema: Schema.NullOr(Schema.String),
  version: Schema.NullOr(Schema.String),
  has_info: Schema.NullOr(Schema.Boolean)
})
const ColumnRow = Schema.Struct({ name: Schema.String })
const Signed = Schema.String.pipe(Schema.pattern(SIGNED))
const Unsigned = Schema.String.pipe(Schema.pattern(UNSIGNED))
const InfoRow = Schema.Struct({
  system_identifier: Unsigned,
  now_us: Signed,
  stats_reset_us: Schema.NullOr(Signed),
  dealloc: Schema.NullOr(Unsigned),
  max: Schema.NullOr(Schema.String)
})
const NameRow = Schema.Struct({ kind: Schema.Literal("d", "r"), oid: Schema.Number, name: Schema.String })
const TextRow = Schema.Struct({ dbid: Schema.Number, queryid: Signed, query: Schema.String })

/** Builds the source; its PostgreSQL pool lives in the caller's scope and is never published as a service. */
export const make = Effect.fn("PgStatStatementsSource.make")(function* (config: Config) {
  const target = parsePostgresUrl(Redacted.value(config.url))
  if (target === undefined) {
    // The config schema rejects such URLs; this only guards a caller that skipped decoding.
    return yield* new SourceError({
      plugin: PLUGIN,
      operation: "connect",
      message: "source.url is not a URL like postgres://user@host:5432/database"
    })
  }
  const context: { -readonly [K in keyof ServerContext]: ServerContext[K] } = {
    where: `PostgreSQL at ${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`,
    user: target.user,
    database: target.database,
    schema: "public",
    connectTimeoutMs: config.connect_timeout_ms,
    queryTimeoutMs: config.query_timeout_ms
  }
  const fail = (operation: "connect" | "poll") => (error: SqlError) =>
    new SourceError({ plugin: PLUGIN, operation, message: describeSqlError(operation, error, context), cause: error })
  const undecodable = (text: string) => (cause: unknown) =>
    new SourceError({
      plugin: PLUGIN,
      operation: "decode",
      message: `unexpected answer from ${context.where} to: ${text.slice(0, 200)}`,
      cause
    })

  const query = <A, I>(
    connection: Connection,
    operation: "connect" | "poll",
    text: string,
    params: ReadonlyArray<unknown>,
    row: Schema.Schema<A, I>
  ) =>
    connection.execute(text, params, undefined).pipe(
      Effect.mapError(fail(operation)),
      Effect.flatMap((rows) => Schema.decodeUnknown(Schema.Array(row))(rows).pipe(Effect.mapError(undecodable(text))))
    )
  const single = <A>(rows: ReadonlyArray<A>, text: string) =>
    rows.length === 1 ? Effect.succeed(rows[0]!) : Effect.fail(undecodable(text)(`${rows.length} rows`))

  const password =
    config.password ?? (target.passwordFromUrl === undefined ? undefined : Redacted.make(target.passwordFromUrl))
  const client = yield* makeTaggedPgClient({
    host: target.host,
    port: target.port,
    database: target.database,
    username: target.user,
    password,
    ssl: target.sslMode === "disable" ? false : target.sslMode === "require" ? { rejectUnauthorized: false } : true,
    maxConnections: 1,
    connectTimeout: Duration.millis(config.connect_timeout_ms),
    applicationName: "slowq"
  }).pipe(Effect.provide(Reactivity.layer), Effect.mapError(fail("connect")))

  // Fail fast at start on what retrying cannot fix: the library not preloaded, the extension missing, old versions.
  const setup = yield* Effect.scoped(
    Effect.gen(function* () {
      const connection = yield* Effect.mapError(client.reserve, fail("connect"))
      const row = yield* query(connection, "connect", Queries.setup, [], SetupRow).pipe(
        Effect.flatMap((rows) => single(rows, Queries.setup))
      )
      const problem = setupProblem(row, context)
      if (problem !== undefined || row.schema === null) {
        return yield* new SourceError({ plugin: PLUGIN, operation: "connect", message: problem ?? "" })
      }
      context.schema = row.schema
      const names = yield* query(connection, "connect", Queries.columns, [row.schema], ColumnRow)
      return { ...row, schema: row.schema, available: new Set(names.map((column) => column.name)) }
    })
  )
  const missing = Queries.REQUIRED_COLUMNS.filter((name) => !setup.available.has(name))
  if (missing.length > 0) {
    return yield* new SourceError({
      plugin: PLUGIN,
      operation: "connect",
      message: `pg_stat_statements ${setup.version ?? ""} in database ${quoteLiteral(setup.database)} on ${context.where} lacks ${missing.join(", ")}: slowq needs PostgreSQL 13+ with the extension updated (ALTER EXTENSION pg_stat_statements UPDATE;).`
    })
  }
  const columns = Queries.columnSet(setup.available)
  const pollColumns: PollColumns = {
    counterNames: columns.counters,
    timeNames: columns.times,
    sinceResetNames: columns.sinceReset
  }
  const infoSql = Queries.info(setup.schema, setup.has_info === true)
  const snapshotSql = Queries.snapshot(setup.schema, columns)
  const textsSql = Queries.texts(setup.schema)
  const scope = { include: config.include_databases, exclude: config.exclude_databases, nested: config.include_nested }
  const warn = (message: string, annotations: Record<string, unknown>) =>
    Effect.logWarning(message).pipe(Effect.annotateLogs({ plugin: PLUGIN, server: context.where, ...annotations }))

  const readPrevious = (checkpoint: Option.Option<unknown>) =>
    Option.match(checkpoint, {
      onNone: () => Effect.succeed<Snapshot | undefined>(undefined),
      onSome: (stored) =>
        Either.match(decodeCheckpoint(stored), {
          onLeft: (problem) =>
            Effect.fail(
              new SourceError({
                plugin: PLUGIN,
                operation: "decode",
                message: `the stored checkpoint is not a pg_stat_statements snapshot this source wrote (${problem}); reset the pipeline's checkpoint to start again from a baseline`,
                cause: stored
              })
            ),
          onRight: (snapshot) => Effect.succeed<Snapshot | undefined>(snapshot)
        })
    })

  const poll = Effect.fn("PgStatStatementsSource.poll")(function* (checkpoint: Option.Option<unknown>) {
    const previous = yield* readPrevious(checkpoint)
    const connection = yield* Effect.mapError(client.reserve, fail("connect"))
    yield* query(connection, "poll", Queries.sessionSettings, [String(config.query_timeout_ms)], Schema.Unknown)
    const info = yield* query(connection, "poll", infoSql, [], InfoRow).pipe(Effect.flatMap((rows) => single(rows, infoSql)))
    const nowUs = Number(info.now_us)
    const rows = yield* connection
      .executeValues(snapshotSql, [scope.include, scope.exclude, scope.nested])
      .pipe(Effect.mapError(fail("poll")))
    const nameRows = yield* query(connection, "poll", Queries.names, [], NameRow)
    const names: Names = {
      databases: new Map(nameRows.filter((row) => row.kind === "d").map((row) => [row.oid, row.name])),
      roles: new Map(nameRows.filter((row) => row.kind === "r").map((row) => [row.oid, row.name]))
    }

    const entries: Array<Entry> = []
    let hidden = 0
    let problem: string | undefined
    let broken = 0
    for (const row of rows) {
      const entry = toEntry(row, pollColumns, names)
      if (entry === "hidden") hidden++
      else if ("problem" in entry) {
        broken++
        problem ??= entry.problem
      } else entries.push(entry)
    }
    if (broken > 0) {
      yield* warn(`skipped ${broken} pg_stat_statements entr${broken === 1 ? "y" : "ies"} that cannot be read`, { problem })
    }
    if (hidden > 0) {
      yield* warn(
        `pg_stat_statements hides ${hidden} entr${hidden === 1 ? "y" : "ies"} of other users from role ${quoteLiteral(setup.role)} (queryid and text show as NULL / ${INSUFFICIENT_PRIVILEGE}); they are not collected. Grant the role pg_read_all_stats: GRANT pg_read_all_stats TO ${Queries.quoteIdent(setup.role)};`,
        { hidden }
      )
    }

    const system = info.system_identifier
    const statsResetUs = info.stats_reset_us === null ? null : Number(info.stats_reset_us)
    const dealloc = info.dealloc === null ? null : parseCounter(info.dealloc)
    const result = diff(previous, { system, nowUs, statsResetUs, dealloc, ...pollColumns, scope, entries })
    if (result.serverChanged) {
      yield* warn(
        `the server behind source.url is not the one of the previous poll (system identifier ${previous?.system} → ${system}, e.g. after a failover); this poll is stored as a new baseline, never differenced against the old server`,
        {}
      )
    }
    if (result.statsReset) {
      yield* Effect.logInfo("pg_stat_statements was reset since the previous poll; every entry starts afresh").pipe(
        Effect.annotateLogs({ plugin: PLUGIN, server: context.where })
      )
    }
    if (result.deallocGrowth !== undefined) {
      const { from, to } = result.deallocGrowth
      const evictions = subtract(to, from)
      yield* warn(
        `pg_stat_statements evicted entries ${evictions} time${evictions === 1 ? "" : "s"} since the previous poll (dealloc ${from} → ${to}, pg_stat_statements.max = ${info.max ?? "?"}, ${rows.length} entries read): statements evicted between two polls lose what they ran since the previous poll. Raise pg_stat_statements.max (needs a restart) or poll more often.`,
        { dealloc: to.toString(), evictions: evictions.toString(), max: info.max ?? "" }
      )
    }

    // Filters apply to the interval's delta; the snapshot keeps every key whatever they say.
    const execAt = pollColumns.timeNames.indexOf("total_exec_time")
    const callsAt = pollColumns.counterNames.indexOf("calls")
    const execMs = (delta: Delta) => delta.times[execAt] ?? 0
    const candidates = result.deltas
      .filter((delta) => {
        const calls = Number(delta.counters[callsAt] ?? 0)
        return calls >= config.min_calls && execMs(delta) / calls >= config.min_mean_ms
      })
      .sort((a, b) => execMs(b) - execMs(a) || (a.entry.queryid < b.entry.queryid ? -1 : 1))

    // Texts: from the checkpoint when it has them; one read of the text file for the others.
    const texts = new Map<string, CachedText>(previous !== undefined && !result.serverChanged ? previous.texts : [])
    const unknown = new Map<string, Entry>()
    for (const { entry } of candidates) {
      const textKey = textKeyOf(entry)
      if (!texts.has(textKey)) unknown.set(textKey, entry)
    }
    if (unknown.size > 0) {
      const wanted = [...unknown.values()]
      const rows = yield* query(
        connection,
        "poll",
        textsSql,
        [[...new Set(wanted.map((entry) => entry.queryid))], [...new Set(wanted.map((entry) => entry.dbid))]],
        TextRow
      )
      for (const row of rows) {
        const textKey = textKeyOf(row)
        if (unknown.has(textKey) && !texts.has(textKey)) texts.set(textKey, { text: row.query, usedUs: nowUs })
      }
      yield* Effect.logDebug("read query texts").pipe(
        Effect.annotateLogs({ plugin: PLUGIN, wanted: unknown.size, found: rows.length })
      )
    }

    const selected: Array<SlowQueryEvent> = []
    let withoutText = 0
    let hiddenTexts = 0
    for (const delta of candidates) {
      const textKey = textKeyOf(delta.entry)
      const cached = texts.get(textKey)
      if (cached === undefined) {
        withoutText++
        continue
      }
      texts.set(textKey, { text: cached.text, usedUs: nowUs })
      if (cached.text === INSUFFICIENT_PRIVILEGE) {
        hiddenTexts++
        texts.delete(textKey)
        continue
      }
      // The runtime drops slowq's own statements too, but only after this poll has chosen its events: left in here,
      // they would take places of `top_n` from the application's (a store on the watched server is busy).
      if (isOwnStatement(cached.text)) continue
      if (
        delta.entry.userid === setup.role_oid &&
        delta.entry.dbid === setup.database_oid &&
        isConnectionCheck(cached.text)
      ) {
        continue
      }
      if (!config.include_utility && isUtility(cached.text)) continue
      if (config.top_n !== undefined && selected.length >= config.top_n) continue
      selected.push(toEvent(system, nowUs, delta, cached.text, pollColumns))
    }
    if (withoutText > 0) {
      yield* warn(
        `${withoutText} statement${withoutText === 1 ? "" : "s"} ran in this interval but pg_stat_statements has no text for ${withoutText === 1 ? "it" : "them"} any more (evicted since, or the query text file was discarded); ${withoutText === 1 ? "its" : "their"} figures for this interval are not stored`,
        { without_text: withoutText }
      )
    }
    if (hiddenTexts > 0) {
      yield* warn(
        `pg_stat_statements shows ${INSUFFICIENT_PRIVILEGE} as the text of ${hiddenTexts} statement${hiddenTexts === 1 ? "" : "s"} to role ${quoteLiteral(setup.role)}; they are not collected. Grant the role pg_read_all_stats: GRANT pg_read_all_stats TO ${Queries.quoteIdent(setup.role)};`,
        { hidden: hiddenTexts }
      )
    }

    const live = new Set<string>()
    for (const key of result.keys.values()) live.add(textKeyOf(key))
    const next: Snapshot = {
      system,
      atUs: nowUs,
      statsResetUs,
      dealloc,
      scope,
      counterNames: pollColumns.counterNames,
      timeNames: pollColumns.timeNames,
      keys: result.keys,
      texts: pruneTexts(
        texts,
        live,
        config.text_cache_bytes,
        previous === undefined ? nowUs : nowUs - textHorizonUs(nowUs - previous.atUs)
      )
    }
    // One batch per poll: the events and the snapshot they were computed against are stored in one write, so a
    // crash stores either the whole interval or none of it, and the next run recomputes it from the old snapshot.
    const batch: SourceBatch = { events: selected, checkpoint: encodeCheckpoint(next) }
    return batch
  })

  const service: Context.Tag.Service<SlowQuerySource> = {
    read: (checkpoint) =>
      Stream.fromEffect(Effect.scoped(poll(checkpoint))).pipe(Stream.withSpan("PgStatStatementsSource.read"))
  }
  return service
})

/** The source as a layer of the port; the pool is closed when the layer's scope closes. */
export const layer = (config: Config): Layer.Layer<SlowQuerySource, SourceError> =>
  Layer.scoped(SlowQuerySource, make(config))
