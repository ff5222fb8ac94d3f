import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Data, Effect, Either, Predicate, Schema } from "effect"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"
import { parseExplainJson } from "../../explain/MariadbJson.js"
import { mysqlReason } from "../../explain/MysqlExplainer.js"
import type { IndexCandidate, TableCatalog } from "./IndexCandidates.js"
import { type MysqlCostMeasure, mysqlPlanCost, mysqlPlanUsesIndex } from "./MysqlPlanCost.js"
import { qualifiersTo } from "./MysqlRewrite.js"
import { type IndexSuggestion, type StatementRef, suggestionOf, unverifiedSuggestion } from "./Suggestion.js"

/**
 * Proves MySQL/MariaDB index candidates in a sandbox: a database slowq owns (`sandbox_url`), on another server or
 * the same one, never the watched database. MySQL and MariaDB have no hypothetical indexes, and slowq never runs
 * DDL on a watched server, so the candidate is built for real, on a copy.
 *
 * On the watched server (one reserved connection), only reads, inside START TRANSACTION READ ONLY … ROLLBACK with
 * max_statement_time / max_execution_time and lock_wait_timeout set: SHOW CREATE TABLE of each table the statement
 * names, and at most `sampleRows` rows of it (`SELECT <stored columns> … LIMIT n`: InnoDB reads them as a
 * consistent, non-locking snapshot; a MyISAM/Aria table holds a read lock for as long as that bounded read takes).
 *
 * In the sandbox (one reserved connection; the copies are TEMPORARY tables of that session, in the sandbox
 * database, under the watched tables' names): CREATE TEMPORARY TABLE from the definition (foreign keys dropped, as
 * the tables they point at are not there), the sample inserted, ANALYZE TABLE, then EXPLAIN FORMAT=JSON of the
 * statement with its qualifiers pointed at the sandbox database (MysqlRewrite.ts), and per candidate
 * ALTER TABLE … ADD INDEX slowq_candidate, EXPLAIN, DROP INDEX. A temporary table shadows a base table of the same
 * name for that session only and goes away with the connection, so nothing of the sandbox that slowq did not create
 * is ever read, changed or dropped, and a crash leaves nothing behind; the release drops the copies anyway
 * (`DROP TEMPORARY TABLE` never drops a base table). Every statement goes over the prepared-statement protocol,
 * one statement each (the text protocol would run a hidden second statement, LAB.md).
 *
 * Acceptance is dexter's, on the sandbox's figures (MysqlPlanCost.ts: MySQL's query cost; MariaDB's rows examined,
 * since its JSON has no cost): a single-column index when the plan uses it and it at least halves the figure from at
 * least 100; a two-column one only when it also halves the best single column's figure on its table, and it then
 * replaces that column; one suggestion per table and statement.
 */

export interface SandboxOptions {
  /** The sandbox database (the URL's path): where the copies are made and the statement is pointed. */
  readonly database: string
  /** Rows copied per table; 0 copies none and verifies nothing (an empty table's plan proves nothing). */
  readonly sampleRows: number
  readonly statementTimeoutMs: number
  readonly lockTimeoutMs: number
  /** The watched and the sandbox connections are one server (then the sandbox database must not be watched). */
  readonly sameServer: boolean
  readonly minCost?: number
  readonly minReduction?: number
}

export interface SandboxMeasured {
  readonly candidate: IndexCandidate
  /** The figure with this index alone; undefined when the sandbox refused to build it. */
  readonly cost: number | undefined
  readonly used: boolean
  readonly accepted: boolean
}

export type SandboxVerification =
  | {
      readonly _tag: "Verified"
      readonly measure: MysqlCostMeasure
      readonly costBefore: number
      readonly planBefore: unknown
      /** Rows copied per table, `db.table` → rows. */
      readonly copied: ReadonlyMap<string, number>
      readonly measured: ReadonlyArray<SandboxMeasured>
      /** The accepted indexes only, verified. */
      readonly suggestions: ReadonlyArray<IndexSuggestion>
    }
  | {
      /** Nothing could be proven in the sandbox (why: `reason`); every candidate, unverified. */
      readonly _tag: "Unverified"
      readonly reason: string
      readonly suggestions: ReadonlyArray<IndexSuggestion>
    }
  /** The watched server refused a read (a lock or statement timeout): try again on a later run. */
  | { readonly _tag: "Failed"; readonly reason: string }

/** The engines a copy may use: an engine that stores elsewhere (FEDERATED, CONNECT, Spider…) is never recreated. */
const LOCAL_ENGINES = new Set(["innodb", "myisam", "aria", "memory", "heap"])

const quote = (name: string): string => `\`${name.replaceAll("`", "``")}\``

/**
 * The sandbox's CREATE TEMPORARY TABLE for a SHOW CREATE TABLE text: the name qualified with the sandbox database,
 * foreign keys dropped. A reason instead when the table cannot be copied faithfully (another engine, partitions,
 * its own data directory) or the text is not the one expected.
 */
export const sandboxDefinition = (
  createText: string,
  table: string,
  sandboxDatabase: string
): { readonly _tag: "Ok"; readonly ddl: string } | { readonly _tag: "Refused"; readonly reason: string } => {
  const head = `CREATE TABLE ${quote(table)} (\n`
  if (!createText.startsWith(head)) return { _tag: "Refused", reason: `unexpected SHOW CREATE TABLE output for ${table}` }
  const close = createText.lastIndexOf("\n)")
  if (close < head.length) return { _tag: "Refused", reason: `unexpected SHOW CREATE TABLE output for ${table}` }
  const options = createText.slice(close + 2)
  const engine = /\bENGINE=(\w+)/i.exec(options)?.[1]
  if (engine !== undefined && !LOCAL_ENGINES.has(engine.toLowerCase())) {
    return { _tag: "Refused", reason: `table ${table} uses ENGINE=${engine}, which the sandbox does not copy` }
  }
  if (/PARTITION BY/i.test(options)) return { _tag: "Refused", reason: `table ${table} is partitioned` }
  if (/\b(DATA|INDEX) DIRECTORY\b/i.test(options)) return { _tag: "Refused", reason: `table ${table} has its own directory` }
  const body = createText
    .slice(head.length, close)
    .split("\n")
    .filter((line) => !/^\s*(CONSTRAINT\s+`(?:[^`]|``)*`\s+)?FOREIGN KEY\b/i.test(line))
  if (body.length === 0) return { _tag: "Refused", reason: `unexpected SHOW CREATE TABLE output for ${table}` }
  body[body.length - 1] = body[body.length - 1]!.replace(/,\s*$/, "")
  return {
    _tag: "Ok",
    ddl: `${SLOWQ_MARKER} CREATE TEMPORARY TABLE ${quote(sandboxDatabase)}.${quote(table)} (\n${body.join("\n")}\n)${options}`
  }
}

/** The session settings that bound every statement: MariaDB's max_statement_time, MySQL's max_execution_time. */
export const sessionSettings = (mariadb: boolean, statementTimeoutMs: number, lockTimeoutMs: number): string => {
  const lockSeconds = Math.max(1, Math.ceil(lockTimeoutMs / 1000))
  return mariadb
    ? `${SLOWQ_MARKER} SET SESSION max_statement_time = ${statementTimeoutMs / 1000}, lock_wait_timeout = ${lockSeconds}, ` +
        `innodb_lock_wait_timeout = ${lockSeconds}, time_zone = '+00:00'`
    : `${SLOWQ_MARKER} SET SESSION max_execution_time = ${statementTimeoutMs}, lock_wait_timeout = ${lockSeconds}, ` +
        `innodb_lock_wait_timeout = ${lockSeconds}, time_zone = '+00:00'`
}

const VersionRows = Schema.Tuple(Schema.Struct({ version: Schema.String, sql_mode: Schema.String }))
const decodeVersion = Schema.decodeUnknown(VersionRows)
const CreateRows = Schema.Tuple(Schema.Struct({ Table: Schema.String, "Create Table": Schema.String }))
const decodeCreate = Schema.decodeUnknown(CreateRows)
const ColumnRows = Schema.Array(Schema.Struct({ name: Schema.String }))
const decodeColumns = Schema.decodeUnknown(ColumnRows)
const SampleRows = Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
const decodeSample = Schema.decodeUnknown(SampleRows)
const ExplainRows = Schema.Tuple(Schema.Struct({ EXPLAIN: Schema.String }))
const decodeExplain = Schema.decodeUnknownEither(ExplainRows)

const unexpected = (cause: unknown) => new SqlError({ cause, message: "unexpected answer from MySQL/MariaDB" })

/** A statement the server refused, as a reason; undefined when the connection itself failed. */
const refusal = (error: SqlError): string | undefined => {
  const cause = error.cause
  if (!Predicate.hasProperty(cause, "errno") || !Predicate.isNumber(cause.errno)) return undefined
  if (Predicate.hasProperty(cause, "fatal") && cause.fatal === true) return undefined
  if (!Predicate.hasProperty(cause, "sqlState") || !Predicate.isString(cause.sqlState)) return undefined
  const message = Predicate.hasProperty(cause, "sqlMessage") && Predicate.isString(cause.sqlMessage) ? cause.sqlMessage : error.message
  return mysqlReason({ errno: cause.errno, message })
}

/** Where a refusal happened decides what it means: the watched server's is retried, the sandbox's is shown. */
class Refused extends Data.TaggedError("Refused")<{ readonly side: "watched" | "sandbox"; readonly reason: string }> {}

const refusing =
  (side: "watched" | "sandbox", what: string) =>
  <A>(effect: Effect.Effect<A, SqlError>): Effect.Effect<A, SqlError | Refused> =>
    Effect.catchAll(effect, (error): Effect.Effect<never, SqlError | Refused> => {
      const reason = refusal(error)
      return reason === undefined ? Effect.fail(error) : Effect.fail(new Refused({ side, reason: `${what}: ${reason}` }))
    })

const STORED_COLUMNS = `${SLOWQ_MARKER} SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA NOT LIKE '%VIRTUAL GENERATED%' AND EXTRA NOT LIKE '%STORED GENERATED%'
ORDER BY ORDINAL_POSITION`

const TABLE_ROWS = `${SLOWQ_MARKER} SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`
const decodeTableRows = Schema.decodeUnknown(
  Schema.Tuple(Schema.Struct({ n: Schema.NullOr(Schema.Union(Schema.Number, Schema.NumberFromString)) }))
)

/** At most this many placeholders per INSERT (the protocol allows 65,535). */
const MAX_PLACEHOLDERS = 10_000

/**
 * `catalogs`: the tables the statement names, as the catalog read them on the watched server (MysqlCatalog.ts).
 * `text`: the statement as the explain policy allowed it. Neither connection is left in a transaction, and the
 * sandbox's is left without slowq's copies, whatever happens.
 */
export const verifyInSandbox = Effect.fn("MysqlSandbox.verify")(function* (
  watched: Connection,
  sandbox: Connection,
  statement: StatementRef,
  text: string,
  candidates: ReadonlyArray<IndexCandidate>,
  catalogs: ReadonlyArray<TableCatalog>,
  options: SandboxOptions
) {
  const unverified = (reason: string): SandboxVerification => ({
    _tag: "Unverified",
    reason,
    suggestions: candidates.map((c) => unverifiedSuggestion(c, statement))
  })
  if (options.sampleRows <= 0) {
    return unverified("sandbox_sample_rows is 0, and a plan over empty copies proves nothing")
  }
  const tables = [...new Map(catalogs.map((c) => [`${c.database}.${c.name}`, c])).values()]
  const databases = [...new Set(tables.map((t) => t.database))]
  if (databases.length !== 1) return unverified("the statement reads tables of several databases")
  const watchedDatabase = databases[0]!
  if (options.sameServer && watchedDatabase.toLowerCase() === options.database.toLowerCase()) {
    return unverified(`the statement's tables are in the sandbox database ${options.database} itself`)
  }
  const rewritten = qualifiersTo(text, watchedDatabase, options.database)
  if (rewritten === undefined) return unverified("the statement does not lex cleanly")

  const minCost = options.minCost ?? 100
  const keep = 1 - (options.minReduction ?? 0.5)
  const onWatched = (sql: string, params: ReadonlyArray<unknown> = []) => watched.execute(sql, params, undefined)
  const onSandbox = (sql: string, params: ReadonlyArray<unknown> = []) => sandbox.execute(sql, params, undefined)
  const serverOf = (connection: Connection) =>
    connection
      .execute(`${SLOWQ_MARKER} SELECT VERSION() AS version, @@SESSION.sql_mode AS sql_mode`, [], undefined)
      .pipe(Effect.flatMap((rows) => Effect.mapError(decodeVersion(rows), unexpected)))

  // The watched side: definitions and samples, read only.
  const [watchedServer] = yield* serverOf(watched)
  const readWatched = Effect.gen(function* () {
    yield* onWatched(sessionSettings(watchedServer.version.includes("MariaDB"), options.statementTimeoutMs, options.lockTimeoutMs))
    yield* onWatched(`${SLOWQ_MARKER} START TRANSACTION READ ONLY`)
    const copies: Array<{
      table: TableCatalog
      ddl: string
      columns: ReadonlyArray<string>
      rows: ReadonlyArray<Readonly<Record<string, unknown>>>
      /** The watched table's row count as the server estimates it (information_schema.TABLES). */
      tableRows: number
    }> = []
    for (const table of tables) {
      const name = `${quote(table.database)}.${quote(table.name)}`
      const [created] = yield* refusing("watched", `SHOW CREATE TABLE ${table.name}`)(
        onWatched(`${SLOWQ_MARKER} SHOW CREATE TABLE ${name}`)
      ).pipe(Effect.flatMap((rows) => Effect.mapError(decodeCreate(rows), unexpected)))
      const definition = sandboxDefinition(created["Create Table"], table.name, options.database)
      if (definition._tag === "Refused") return yield* Effect.fail(new Refused({ side: "sandbox", reason: definition.reason }))
      const columns = (yield* onWatched(STORED_COLUMNS, [table.database, table.name]).pipe(
        Effect.flatMap((rows) => Effect.mapError(decodeColumns(rows), unexpected))
      )).map((c) => c.name)
      const rows = yield* refusing("watched", `reading a sample of ${table.name}`)(
        onWatched(`${SLOWQ_MARKER} SELECT ${columns.map(quote).join(", ")} FROM ${name} LIMIT ${options.sampleRows}`)
      ).pipe(Effect.flatMap((rows) => Effect.mapError(decodeSample(rows), unexpected)))
      const [size] = yield* onWatched(TABLE_ROWS, [table.database, table.name]).pipe(
        Effect.flatMap((rows) => Effect.mapError(decodeTableRows(rows), unexpected))
      )
      copies.push({ table, ddl: definition.ddl, columns, rows, tableRows: Number(size.n ?? 0) })
    }
    return copies
  })
  const read = yield* Effect.either(Effect.ensuring(readWatched, onWatched(`${SLOWQ_MARKER} ROLLBACK`).pipe(Effect.ignoreLogged)))
  if (Either.isLeft(read)) {
    const error = read.left
    if (error._tag !== "Refused") return yield* Effect.fail(error)
    return error.side === "watched"
      ? ({ _tag: "Failed", reason: error.reason } satisfies SandboxVerification as SandboxVerification)
      : unverified(error.reason)
  }
  const copies = read.right

  // The sandbox side: copies, figures, and the copies dropped again.
  const [sandboxServer] = yield* serverOf(sandbox)
  const sandboxMariadb = sandboxServer.version.includes("MariaDB")
  const inSandbox = refusing("sandbox", "in the sandbox")
  const dropCopies = Effect.forEach(
    copies,
    ({ table }) => onSandbox(`${SLOWQ_MARKER} DROP TEMPORARY TABLE IF EXISTS ${quote(options.database)}.${quote(table.name)}`),
    { discard: true }
  )
  const cleanup = Effect.gen(function* () {
    yield* onSandbox(`${SLOWQ_MARKER} ROLLBACK`)
    yield* dropCopies
    // A function run while planning may have taken a user lock (GET_LOCK), which outlives the transaction.
    yield* onSandbox(`${SLOWQ_MARKER} SELECT RELEASE_ALL_LOCKS()`)
  }).pipe(
    Effect.catchAllCause((cause) =>
      Effect.logWarning("index advice: cleaning up the sandbox connection failed; its temporary copies go with it", cause)
    )
  )

  const explain = Effect.gen(function* () {
    yield* onSandbox(`${SLOWQ_MARKER} START TRANSACTION READ ONLY`)
    const explained = yield* Effect.either(inSandbox(onSandbox(`${SLOWQ_MARKER} EXPLAIN FORMAT=JSON ${rewritten}`)))
    yield* onSandbox(`${SLOWQ_MARKER} ROLLBACK`)
    if (Either.isLeft(explained)) return yield* Effect.fail(explained.left)
    const decoded = decodeExplain(explained.right)
    const plan = Either.isRight(decoded) ? parseExplainJson(decoded.right[0].EXPLAIN) : undefined
    const cost = mysqlPlanCost(plan)
    if (cost === undefined) return yield* Effect.fail(new Refused({ side: "sandbox", reason: "unexpected EXPLAIN output in the sandbox" }))
    return { plan, ...cost }
  })

  const INDEX = "slowq_candidate"
  const withIndex = (candidate: IndexCandidate) =>
    Effect.gen(function* () {
      const target = `${quote(options.database)}.${quote(candidate.table)}`
      const built = yield* Effect.either(
        inSandbox(onSandbox(`${SLOWQ_MARKER} ALTER TABLE ${target} ADD INDEX ${INDEX} (${candidate.columns.map(quote).join(", ")})`))
      )
      if (Either.isLeft(built)) {
        if (built.left._tag !== "Refused") return yield* Effect.fail(built.left)
        yield* Effect.logDebug(`index advice: the sandbox did not build ${candidate.table}(${candidate.columns.join(", ")}): ${built.left.reason}`)
        return { cost: undefined, used: false, plan: null as unknown }
      }
      const measured = yield* explain
      yield* inSandbox(onSandbox(`${SLOWQ_MARKER} ALTER TABLE ${target} DROP INDEX ${INDEX}`))
      return { cost: measured.cost, used: mysqlPlanUsesIndex(measured.plan, INDEX), plan: measured.plan }
    })

  const measure = Effect.gen(function* () {
    yield* onSandbox(sessionSettings(sandboxMariadb, options.statementTimeoutMs, options.lockTimeoutMs))
    // The rows go in as the watched server's sql_mode would not always take them back (zero dates, truncation):
    // copied leniently, then the statement is planned under the watched session's sql_mode (ANSI_QUOTES parses).
    yield* onSandbox(`${SLOWQ_MARKER} SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'`)
    yield* dropCopies
    const copied = new Map<string, number>()
    for (const copy of copies) {
      yield* inSandbox(onSandbox(copy.ddl))
      const target = `${quote(options.database)}.${quote(copy.table.name)}`
      const perInsert = Math.max(1, Math.min(500, Math.floor(MAX_PLACEHOLDERS / Math.max(1, copy.columns.length))))
      for (let at = 0; at < copy.rows.length; at += perInsert) {
        const batch = copy.rows.slice(at, at + perInsert)
        const tuple = `(${copy.columns.map(() => "?").join(", ")})`
        yield* inSandbox(
          onSandbox(
            `${SLOWQ_MARKER} INSERT INTO ${target} (${copy.columns.map(quote).join(", ")}) VALUES ${batch.map(() => tuple).join(", ")}`,
            batch.flatMap((row) => copy.columns.map((column) => row[column] ?? null))
          )
        )
      }
      yield* inSandbox(onSandbox(`${SLOWQ_MARKER} ANALYZE TABLE ${target}`))
      copied.set(`${copy.table.database}.${copy.table.name}`, copy.rows.length)
    }
    yield* onSandbox(`${SLOWQ_MARKER} SET SESSION sql_mode = ?`, [watchedServer.sql_mode])

    const before = yield* explain
    // The watched plan passed the bar on the whole tables; a copy of a fraction of them is held to that fraction of
    // it (at least 1), so that a figure the sample shrank is still measured and one that is tiny for its size is not.
    const copiedRows = copies.reduce((sum, copy) => sum + copy.rows.length, 0)
    const watchedRows = copies.reduce((sum, copy) => sum + Math.max(copy.rows.length, copy.tableRows), 0)
    const bar = Math.max(1, minCost * (watchedRows === 0 ? 1 : copiedRows / watchedRows))
    if (before.cost < bar) {
      return {
        _tag: "Verified",
        measure: before.measure,
        costBefore: before.cost,
        planBefore: before.plan,
        copied,
        measured: [],
        suggestions: []
      } satisfies SandboxVerification as SandboxVerification
    }
    const results: Array<{ candidate: IndexCandidate; cost: number | undefined; used: boolean; plan: unknown }> = []
    const tableOf = (c: IndexCandidate) => `${c.database}.${c.table}`
    const accepted = new Map<string, (typeof results)[number]>()
    for (const candidate of candidates.filter((c) => c.columns.length === 1)) {
      const r = { candidate, ...(yield* withIndex(candidate)) }
      results.push(r)
      if (!r.used || r.cost === undefined || r.cost > before.cost * keep) continue
      const best = accepted.get(tableOf(candidate))
      if (best === undefined || r.cost < best.cost!) accepted.set(tableOf(candidate), r)
    }
    for (const candidate of candidates.filter((c) => c.columns.length === 2)) {
      const r = { candidate, ...(yield* withIndex(candidate)) }
      results.push(r)
      const singles = results.filter(
        (s) => s.candidate.columns.length === 1 && tableOf(s.candidate) === tableOf(candidate) && s.used && s.cost !== undefined
      )
      const bestSingle = Math.min(before.cost, ...singles.map((s) => s.cost!))
      if (r.used && r.cost !== undefined && r.cost <= bestSingle * keep && r.cost <= before.cost * keep) {
        accepted.set(tableOf(candidate), r)
      }
    }
    const chosen = new Set([...accepted.values()])
    return {
      _tag: "Verified",
      measure: before.measure,
      costBefore: before.cost,
      planBefore: before.plan,
      copied,
      measured: results.map((r) => ({ candidate: r.candidate, cost: r.cost, used: r.used, accepted: chosen.has(r) })),
      suggestions: [...chosen].map((r) =>
        suggestionOf(r.candidate, {
          id: statement.id,
          sql: statement.sql,
          verified: true,
          cost_before: before.cost,
          cost_after: r.cost ?? null,
          plan_before: before.plan,
          plan_after: r.plan
        })
      )
    } satisfies SandboxVerification as SandboxVerification
  })

  return yield* Effect.ensuring(measure, cleanup).pipe(
    Effect.catchTag("Refused", (refused) => Effect.succeed(unverified(refused.reason)))
  )
})
