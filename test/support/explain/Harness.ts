import { createHash, randomBytes } from "node:crypto"
import { Reactivity } from "@effect/experimental"
import { MysqlClient } from "@effect/sql-mysql2"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import type { Fingerprinted, StatementType } from "../../../src/domain/Fingerprint.js"
import { makeEvent } from "../../../src/domain/SlowQueryEvent.js"
import type { SqlDialect } from "../../../src/fingerprint/SqlDialect.js"
import { attachedTo } from "../../../src/plugin/Enrichment.js"
import { PipelineStage, type StageOutput } from "../../../src/plugin/PipelineStage.js"
import type { StageContext } from "../../../src/plugin/Plugin.js"
import type { StageMemory } from "../../../src/plugin/StageMemory.js"
import { Config } from "../../../plugins/explain/config.js"
import { layer } from "../../../plugins/explain/ExplainStage.js"
import type { ExplainOutcome } from "../../../plugins/explain/Outcome.js"
import { explainEnrichment } from "../../../plugins/explain/PlanStore.js"
import { runCommand } from "../Process.js"

/** Test helpers of the explain stage: its own databases on the local servers, events, an in-memory stage memory. */

export const pgAdminUrl = process.env.SLOWQ_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
export const mariadbUrl = "mysql://root@127.0.0.1:3306"

const uniqueName = () => `slowq_explain_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`

/** A new PostgreSQL database with `setup` run in it (simple protocol: trusted text), dropped with the scope. */
export const pgDatabase = (setup: string) =>
  Effect.gen(function* () {
    const name = uniqueName()
    const admin = yield* PgClient.make({ url: Redacted.make(pgAdminUrl), maxConnections: 1 }).pipe(
      Effect.provide(Reactivity.layer)
    )
    yield* admin.unsafe(`CREATE DATABASE ${name}`)
    yield* Effect.addFinalizer(() => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie))
    const url = new URL(pgAdminUrl)
    url.pathname = `/${name}`
    const sql = yield* PgClient.make({ url: Redacted.make(url.toString()), maxConnections: 2 }).pipe(
      Effect.provide(Reactivity.layer)
    )
    if (setup !== "") yield* sql.unsafe(setup)
    return { name, url: url.toString(), sql }
  })

/**
 * Runs SQL through the `mariadb` client (which understands DELIMITER), as root, on a new connection (so the global
 * long_query_time applies to it); `-c` keeps comments in the statements, where tests put markers.
 */
export const runMariadbCli = (sql: string) => runCommand("mariadb", ["-c", "-N", "-B", "-h", "127.0.0.1", "-uroot"], sql)

/** A new MariaDB database with `setup` run in it by the CLI, dropped with the scope. */
export const mariadbDatabase = (setup: string) =>
  Effect.gen(function* () {
    const name = uniqueName()
    yield* runMariadbCli(`CREATE DATABASE ${name};`)
    yield* Effect.addFinalizer(() => runMariadbCli(`DROP DATABASE IF EXISTS ${name};`).pipe(Effect.orDie))
    if (setup !== "") yield* runMariadbCli(`USE ${name};\n${setup}`)
    const sql = yield* MysqlClient.make({ url: Redacted.make(`${mariadbUrl}/${name}`), maxConnections: 2 }).pipe(
      Effect.provide(Reactivity.layer)
    )
    return { name, url: `${mariadbUrl}/${name}`, sql }
  })

/** A stage memory kept in a map, standing in for the store's. */
export const memoryIn = (map: Map<string, unknown>): StageMemory => ({
  get: (keys) => Effect.sync(() => new Map(keys.flatMap((key) => (map.has(key) ? [[key, map.get(key)] as const] : []))))
})

/** What the runtime does once a batch is stored: the stage's `remember` goes into its memory. The batch's events. */
export const keep =
  (map: Map<string, unknown>) =>
  (output: StageOutput): ReadonlyArray<CollectedEvent> => {
    for (const { key, value } of output.remember) map.set(key, value)
    return output.events
  }

/** The explain outcome the stage attached to `event`, if any. */
export const outcomeOf = (event: CollectedEvent): ExplainOutcome | undefined => attachedTo(event, explainEnrichment)

export const contextFor = (dialect: SqlDialect, url: string, memory: StageMemory): StageContext<SqlDialect> => ({
  pipeline: "explain_test",
  memory,
  source: {
    type: dialect === "mysql" ? "mysql_slow_log_table" : "postgres_test",
    dialect,
    config: {},
    connection: Option.some({ url: Redacted.make(url), password: Option.none() })
  }
})

export const decodeConfig = Schema.decodeUnknownSync(Config)

const statementTypeOf = (text: string): StatementType => {
  const word = /[A-Za-z]+/.exec(text.replace(/\/\*[\s\S]*?\*\/|--[^\n]*/g, " "))?.[0]?.toLowerCase() ?? ""
  const known: ReadonlyArray<StatementType> = ["select", "insert", "update", "delete", "replace", "merge"]
  return known.includes(word as StatementType) ? (word as StatementType) : word === "with" ? "select" : "other"
}

/** A hand-made fingerprint: the query id is a hash of the text, so every text is its own query. */
export const fingerprintOf = (text: string, overrides: Partial<Fingerprinted> = {}): Fingerprinted => ({
  fingerprint: text,
  queryId: createHash("sha256").update(text).digest("hex").slice(0, 16),
  statementType: statementTypeOf(text),
  readOnly: statementTypeOf(text) === "select",
  tables: [],
  multiStatement: false,
  truncated: false,
  tags: {},
  parser: "tokenizer",
  ...overrides
})

let eventCounter = 0
export const eventOf = (
  text: string,
  options: { readonly db?: string | null; readonly queryTimeMs?: number; readonly fingerprint?: Partial<Fingerprinted> } = {}
): CollectedEvent => {
  eventCounter += 1
  return {
    event: makeEvent({
      key: `e${eventCounter}`,
      startTimeUs: 1_700_000_000_000_000 + eventCounter,
      queryTimeMs: options.queryTimeMs ?? 10,
      sqlText: text,
      db: options.db ?? null
    }),
    fingerprint: fingerprintOf(text, options.fingerprint)
  }
}

/** Builds the stage through its layer, as the runner does, and hands its `process` to `use`. */
export const withStage = <A, E, R>(
  config: unknown,
  context: StageContext<SqlDialect>,
  use: (stage: Context.Tag.Service<typeof PipelineStage>) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const built = yield* Layer.build(layer(decodeConfig(config), context))
      return yield* use(Context.get(built, PipelineStage))
    })
  )

/** Counts outcomes per tag and reason category, for reports. */
export const tally = (outcomes: ReadonlyArray<ExplainOutcome | undefined>) => {
  const counts = new Map<string, number>()
  for (const explain of outcomes) {
    const key =
      explain === undefined
        ? "none"
        : explain._tag === "Plan"
          ? `plan ${explain.method}`
          : `${explain._tag === "Skipped" ? "skipped" : "failed"} ${explain.reason.split(":")[0]}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return new Map([...counts.entries()].sort())
}
