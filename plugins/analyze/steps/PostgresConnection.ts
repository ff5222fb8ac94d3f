import { Reactivity } from "@effect/experimental"
import type { SqlClient } from "@effect/sql"
import { Effect, Option, Redacted, type Scope } from "effect"
import type { StageContext } from "../../../src/plugin/Plugin.js"
import { makeTaggedPgClient } from "../../../src/plugin/TaggedPgClient.js"
import { tablesOfPlan } from "../rules/PostgresPlan.js"
import type { RuleDialect, TableStats } from "../rules/Rule.js"
import { readTableStats } from "../rules/TableStats.js"

/** The analyzer's own client of the source's PostgreSQL database, and that database's name. */
export interface PostgresConnection {
  readonly sql: SqlClient.SqlClient
  readonly database: string
}

/** The database a PostgreSQL URL names (its path, else the user's own database). */
const databaseOf = (url: URL): string =>
  url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : decodeURIComponent(url.username)

/**
 * On PostgreSQL, connections to the source's database (or the stage's `database_url`, which overrides it) for
 * pg_stat_user_tables and index advice (the stale-statistics rule and the table sizes the sequential-scan rule needs
 * without actuals). None for MySQL, for a source without a connection and no `database_url`, for a `database_url`
 * that is not PostgreSQL's (logged), or when it cannot connect: the plan rules then run without statistics, and the
 * pipeline goes on.
 */
export const postgresConnection = (
  context: StageContext<RuleDialect>,
  maxConnections: number,
  databaseUrl?: Redacted.Redacted<string>
): Effect.Effect<Option.Option<PostgresConnection>, never, Scope.Scope> => {
  if (context.source.dialect !== "postgres") return Effect.succeed(Option.none())
  const target =
    databaseUrl === undefined
      ? context.source.connection
      : Option.some({ url: databaseUrl, password: Option.none<Redacted.Redacted<string>>() })
  if (Option.isNone(target)) return Effect.succeed(Option.none())
  const { url, password } = target.value
  const base = new URL(Redacted.value(url))
  if (base.protocol !== "postgres:" && base.protocol !== "postgresql:") {
    return Effect.logWarning(
      `analyze: database_url is not a PostgreSQL URL but source ${context.source.type} collects PostgreSQL statements; no table statistics or index advice`
    ).pipe(Effect.as(Option.none()))
  }
  if (Option.isSome(password)) base.password = encodeURIComponent(Redacted.value(password.value))
  return makeTaggedPgClient({
    url: Redacted.make(base.toString()),
    maxConnections,
    idleTimeout: "5 seconds",
    connectTimeout: "5 seconds",
    applicationName: "slowq-analyze"
  }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.map((sql) => Option.some({ sql, database: databaseOf(base) })),
    Effect.catchAll((error) =>
      Effect.logWarning(
        `analyze: no table statistics this run (cannot connect to PostgreSQL at ${base.hostname}): ${error.message}`
      ).pipe(Effect.as(Option.none()))
    )
  )
}

/** The statistics of the plan's tables, when the plan is of the connected database; none on any failure. */
export const tableStatsOf = (
  connection: Option.Option<PostgresConnection>,
  plan: unknown,
  db: string | null
): Effect.Effect<ReadonlyMap<string, TableStats> | undefined> =>
  Option.match(connection, {
    onNone: () => Effect.succeed(undefined),
    onSome: ({ sql, database }) =>
      db !== null && db !== database
        ? Effect.succeed(undefined)
        : readTableStats(sql, tablesOfPlan(plan)).pipe(
            Effect.timeout("2 seconds"),
            Effect.map((found): ReadonlyMap<string, TableStats> | undefined => found),
            Effect.catchAll((error) =>
              Effect.logDebug(`analyze: table statistics not read: ${error.message}`).pipe(Effect.as(undefined))
            )
          )
  })
