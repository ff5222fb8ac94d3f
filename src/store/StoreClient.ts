import { Reactivity } from "@effect/experimental"
import { Migrator } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Config, Context, Effect, Layer, Option, type Redacted } from "effect"
import { type AnyEnrichment, duplicateEnrichment } from "../plugin/Enrichment.js"
import { Plugins, registeredEnrichments } from "../plugin/Plugin.js"
import { embeddedStore } from "./EmbeddedStore.js"
import migration0001 from "./migrations/0001_init.js"
import migration0002 from "./migrations/0002_stage_memory.js"
import migration0003 from "./migrations/0003_query_reads.js"
import migration0004 from "./migrations/0004_plans.js"
import migration0005 from "./migrations/0005_dropped_events.js"
import migration0006 from "./migrations/0006_findings.js"
import migration0007 from "./migrations/0007_finding_plans.js"
import migration0008 from "./migrations/0008_rollups.js"
import migration0009 from "./migrations/0009_rollups_hour.js"
import migration0010 from "./migrations/0010_rollup_time_indexes.js"
import migration0011 from "./migrations/0011_samples.js"
import migration0012 from "./migrations/0012_lean_events.js"
import migration0013 from "./migrations/0013_event_blocks.js"
import migration0014 from "./migrations/0014_query_facets.js"
import migration0015 from "./migrations/0015_leases.js"
import migration0016 from "./migrations/0016_pipeline_control.js"
import migration0017 from "./migrations/0017_histogram_quantile.js"
import { StoreError } from "./StoreError.js"
import { connectStore, type StoreLocation } from "./StoreConnection.js"
import { makeStoreSchema, type StoreReadiness } from "./StoreSchema.js"

export type { StoreLocation } from "./StoreConnection.js"
export type { StoreReadiness } from "./StoreSchema.js"

const coreMigrations = Migrator.fromRecord({
  "0001_init": migration0001,
  "0002_stage_memory": migration0002,
  "0003_query_reads": migration0003,
  "0004_plans": migration0004,
  "0005_dropped_events": migration0005,
  "0006_findings": migration0006,
  "0007_finding_plans": migration0007,
  "0008_rollups": migration0008,
  "0009_rollups_hour": migration0009,
  "0010_rollup_time_indexes": migration0010,
  "0011_samples": migration0011,
  "0012_lean_events": migration0012,
  "0013_event_blocks": migration0013,
  "0014_query_facets": migration0014,
  "0015_leases": migration0015,
  "0016_pipeline_control": migration0016,
  "0017_histogram_quantile": migration0017
})

/**
 * At most this many API reads hold a connection of the store's pool (4) at once, so that a flood of HTTP requests
 * queues here instead of in the pool, ahead of the pipelines' writes (and at most 2 × 16 MB of work_mem is used).
 */
export const concurrentReads = 2

const enrichmentName = /^[a-z][a-z0-9_]{0,40}$/

const make = (location: StoreLocation, enrichments: ReadonlyArray<AnyEnrichment>) =>
  Effect.gen(function* () {
    const duplicate = duplicateEnrichment(enrichments)
    const badName = enrichments.find((enrichment) => !enrichmentName.test(enrichment.name))
    if (duplicate !== undefined || badName !== undefined) {
      return yield* new StoreError({
        operation: "migrate",
        message:
          duplicate !== undefined
            ? `two enrichments are named ${duplicate}: each owns its tables, so names must be unique`
            : `enrichment name ${JSON.stringify(badName?.name)} is not a lowercase identifier (it names a table)`
      })
    }
    const sql = yield* connectStore(location).pipe(Effect.provide(Reactivity.layer))
    const schema = yield* makeStoreSchema(
      sql,
      coreMigrations,
      enrichments.map((enrichment) => ({
        table: `slowq_migrations_${enrichment.name}`,
        loader: Migrator.fromRecord(enrichment.migrations)
      })),
      location._tag === "Url"
    )
    return {
      sql,
      enrichments,
      readiness: schema.readiness,
      healing: schema.healing,
      readPermits: yield* Effect.makeSemaphore(concurrentReads)
    } satisfies StoreClientService
  })

export interface StoreClientService {
  /** The store's pool; private to the store's services (and to enrichments, through them). */
  readonly sql: PgClient.PgClient
  /** The enrichments whose tables this store holds. */
  readonly enrichments: ReadonlyArray<AnyEnrichment>
  readonly readiness: Effect.Effect<StoreReadiness>
  /** `f`, migrating the store again and retrying once when it fails on a missing slowq table (see StoreSchema). */
  readonly healing: <Args extends ReadonlyArray<unknown>, A, E>(
    f: (...args: Args) => Effect.Effect<A, E>
  ) => (...args: Args) => Effect.Effect<A, E | StoreError>
  /** Taken by every API read, so that reads queue here rather than in the pool, ahead of the pipelines' writes. */
  readonly readPermits: Effect.Semaphore
}

/** slowq's own PostgreSQL: its client, migrated to the core schema and to every enrichment's tables. */
export class StoreClient extends Context.Tag("slowq/store/StoreClient")<StoreClient, StoreClientService>() {
  static readonly layerFromUrl = (url: Redacted.Redacted, enrichments: ReadonlyArray<AnyEnrichment> = []) =>
    Layer.scoped(this, make({ _tag: "Url", url }, enrichments))

  /** The embedded store kept in `dir`, started by this process unless another slowq process serves it. */
  static readonly layerEmbedded = (dir: string, enrichments: ReadonlyArray<AnyEnrichment> = []) =>
    Layer.scoped(
      this,
      Effect.gen(function* () {
        const address = yield* embeddedStore(dir)
        return yield* make({ _tag: "Embedded", address, dir }, enrichments)
      })
    )

  /**
   * `SLOWQ_STORE_URL` when set; else the embedded store in `SLOWQ_STORE_DIR` (default `.slowq/store`); with the
   * tables of every registered plugin's enrichments.
   */
  static readonly layer = Layer.unwrapEffect(
    Effect.gen(function* () {
      const enrichments = registeredEnrichments(yield* Plugins)
      const url = yield* Config.option(Config.redacted("SLOWQ_STORE_URL")).pipe(Effect.mapError(badConfiguration))
      const dir = yield* Config.string("SLOWQ_STORE_DIR").pipe(
        Config.withDefault(".slowq/store"),
        Effect.mapError(badConfiguration)
      )
      return Option.match(url, {
        onSome: (url) => StoreClient.layerFromUrl(url, enrichments),
        onNone: () => StoreClient.layerEmbedded(dir, enrichments)
      })
    })
  )
}

const badConfiguration = (cause: { readonly message: string }) =>
  new StoreError({ operation: "connect", message: `bad store configuration: ${cause.message}`, cause })
