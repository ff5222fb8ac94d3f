import { Migrator, SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Effect, Schema } from "effect"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { describeDriverError } from "./StoreConnection.js"
import { StoreError } from "./StoreError.js"

const MIGRATIONS_TABLE = "slowq_migrations"
/** The advisory lock key that serializes migrations: "slow" in ASCII. */
const MIGRATION_LOCK = 0x736c6f77

/** Whether the store can take a run's writes now, and if not, why, in words for `/readyz`. */
export type StoreReadiness =
  | { readonly _tag: "Ready" }
  | {
      readonly _tag: "NotReady"
      readonly reason: "unreachable" | "read-only" | "schema-missing" | "schema-behind"
      readonly message: string
    }

// What a NEW session of this role in this database would get for default_transaction_read_only, as PostgreSQL
// decides it: settings of the session itself (startup options) first, then ALTER ROLE … IN DATABASE, ALTER ROLE,
// ALTER DATABASE, then the server's configuration. This session's own value is not enough: a session keeps what it
// started with, so the pool's sessions would not see `ALTER DATABASE … SET default_transaction_read_only = on`
// (or its undoing) until they are renewed. pg_settings.source says which of these this session's value came from.
const probeSql = `${SLOWQ_MARKER}
WITH current AS (
  SELECT setting = 'on' AS read_only, source FROM pg_settings WHERE name = 'default_transaction_read_only'
),
stored AS (
  SELECT split_part(c, '=', 2)::boolean AS read_only
  FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) AS c
  WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
    AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = session_user))
    AND c LIKE 'default\\_transaction\\_read\\_only=%'
  ORDER BY s.setdatabase <> 0 AND s.setrole <> 0 DESC, s.setrole <> 0 DESC, s.setdatabase <> 0 DESC
  LIMIT 1
)
SELECT pg_is_in_recovery() AS in_recovery,
  CASE
    WHEN c.source IN ('client', 'override', 'interactive', 'test', 'session') THEN c.read_only
    WHEN c.source IN ('database', 'user', 'database user') THEN coalesce((SELECT read_only FROM stored), false)
    ELSE coalesce((SELECT read_only FROM stored), c.read_only)
  END AS read_only,
  to_regclass('${MIGRATIONS_TABLE}') IS NOT NULL AS migrated
FROM current c`
const decodeProbe = Schema.decodeUnknown(
  Schema.Tuple(Schema.Struct({ in_recovery: Schema.Boolean, read_only: Schema.Boolean, migrated: Schema.Boolean }))
)
const decodeVersion = Schema.decodeUnknown(Schema.Tuple(Schema.Struct({ version: Schema.NullOr(Schema.Number) })))

const field = (value: object, name: string): unknown => (name in value ? Reflect.get(value, name) : undefined)

/**
 * The slowq table a statement did not find (SQLSTATE 42P01), from the chain of causes a store error keeps: the sign
 * that the store's database was dropped and created again, or restored without slowq's schema.
 */
export const missingRelation = (error: unknown): string | undefined => {
  let current = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const code = field(current, "code")
    const message = field(current, "message")
    if (code === "42P01" && typeof message === "string") {
      const match = /relation "(?:[^"]*\.)?(slowq_[a-z0-9_]+)" does not exist/.exec(message)
      return match?.[1]
    }
    current = field(current, "cause")
  }
  return undefined
}

/**
 * The store's schema: migrated when the store opens, migrated again when a statement finds a slowq table missing
 * (the database was dropped and created empty under a running daemon), and the readiness probe.
 */
export const makeStoreSchema = (
  sql: PgClient.PgClient,
  loader: Migrator.Loader,
  /** The enrichments' own migrations, each tracked in its own table after the core's. */
  extensions: ReadonlyArray<{ readonly table: string; readonly loader: Migrator.Loader }> = [],
  /** Whether other processes may migrate the same store at once (a server; not the embedded store). */
  serialize = false
) =>
  Effect.gen(function* () {
    const migrateNow = Effect.forEach([{ table: MIGRATIONS_TABLE, loader }, ...extensions], (migrations) =>
      Migrator.make({})(migrations)
    ).pipe(Effect.map((ran) => ran.flat()))
    // Replicas starting together on a new store would race to create the migrations' tables (the migrator locks its
    // table only once it exists, and cannot run inside a transaction of ours: it recovers from failed statements). So
    // a connection of the pool holds an advisory lock while the migrations run on the others: the other replicas wait
    // for it, then find every migration done. Not for the embedded store, served to one process on one connection.
    const serialized = !serialize
      ? migrateNow
      : Effect.scoped(
          Effect.gen(function* () {
            const holder = yield* sql.reserve
            yield* holder.executeRaw(`${SLOWQ_MARKER} SELECT pg_advisory_lock(${MIGRATION_LOCK})`, [])
            return yield* migrateNow.pipe(
              Effect.ensuring(holder.executeRaw(`${SLOWQ_MARKER} SELECT pg_advisory_unlock(${MIGRATION_LOCK})`, []).pipe(Effect.ignore))
            )
          })
        )
    const migrate = serialized.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError(
        (cause) => new StoreError({ operation: "migrate", message: `store migration failed: ${cause.message}`, cause })
      )
    )
    yield* migrate
    const expectedVersion = yield* loader.pipe(
      Effect.map((migrations) => Math.max(0, ...migrations.map(([id]) => id))),
      Effect.mapError(
        (cause) => new StoreError({ operation: "migrate", message: `store migration failed: ${cause.message}`, cause })
      )
    )

    // One re-migration at a time: pipelines that fail together on the empty database wait for the first one, then
    // find the table there and run nothing.
    const lock = yield* Effect.makeSemaphore(1)
    const migrateAgain = (relation: string) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const [row] = yield* sql
            .unsafe<{ present: boolean }>(`${SLOWQ_MARKER} SELECT to_regclass($1) IS NOT NULL AS present`, [relation])
            .pipe(
              Effect.mapError(
                (cause) => new StoreError({ operation: "migrate", message: `store migration failed: ${cause.message}`, cause })
              )
            )
          if (row?.present === true) return
          yield* Effect.logWarning(`store schema missing (relation ${relation} does not exist): migrating the store again`)
          const ran = yield* migrate
          yield* Effect.logInfo("store schema migrated again").pipe(Effect.annotateLogs({ migrations: ran.length }))
        })
      )

    /**
     * `f`, which migrates the store again and runs once more when it fails on a missing slowq table, instead of
     * failing the same way on every run for ever.
     */
    const healing =
      <Args extends ReadonlyArray<unknown>, A, E>(f: (...args: Args) => Effect.Effect<A, E>) =>
      (...args: Args): Effect.Effect<A, E | StoreError> =>
        f(...args).pipe(
          Effect.catchIf(
            (error) => missingRelation(error) !== undefined,
            (error) => Effect.zipRight(migrateAgain(missingRelation(error) ?? MIGRATIONS_TABLE), f(...args))
          )
        )

    const notReady = (reason: Extract<StoreReadiness, { _tag: "NotReady" }>["reason"], message: string): StoreReadiness => ({
      _tag: "NotReady",
      reason,
      message
    })

    /** Cheap enough for every `/readyz`: one statement, and one more for the schema's version. Changes nothing. */
    const readiness: Effect.Effect<StoreReadiness> = Effect.gen(function* () {
      const [probe] = yield* sql.unsafe(probeSql).pipe(Effect.flatMap(decodeProbe))
      if (probe.in_recovery) return notReady("read-only", "store is read-only: it is a hot standby (in recovery)")
      if (probe.read_only) return notReady("read-only", "store is read-only: default_transaction_read_only is on")
      if (!probe.migrated) {
        return notReady("schema-missing", `store schema missing: no ${MIGRATIONS_TABLE} table (the next run migrates it)`)
      }
      const [{ version }] = yield* sql
        .unsafe(`${SLOWQ_MARKER} SELECT max(migration_id) AS version FROM ${MIGRATIONS_TABLE}`)
        .pipe(Effect.flatMap(decodeVersion))
      // A newer slowq may have migrated further: its schema is still ours, so only a version behind is not ready.
      if ((version ?? 0) < expectedVersion) {
        return notReady(
          "schema-behind",
          `store schema at version ${version ?? 0}, expected ${expectedVersion} (the next run migrates it)`
        )
      }
      return { _tag: "Ready" } as const
    }).pipe(
      Effect.catchAll((error) =>
        Effect.succeed(
          notReady(
            "unreachable",
            `store does not answer: ${error._tag === "SqlError" ? describeDriverError(error.cause ?? error) : error.message}`
          )
        )
      )
    )

    return { healing, readiness } as const
  })
