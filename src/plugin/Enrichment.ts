import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect, Schema } from "effect"
import type { CollectedEvent } from "../domain/CollectedEvent.js"

/**
 * The enrichment contract: what a stage learns about the events of a batch (a plan, a finding…), how it is kept in
 * slowq's store and how it is served. A stage attaches values to events with `attach`; the runtime hands every
 * attached value to `write` inside the batch's transaction, with the events, their checkpoint and the stages'
 * memory, so nothing a batch produced is ever stored without the rest of it. The store creates the enrichment's
 * tables from its own migrations; the API, the report and /metrics add the fields it declares. Nothing under `src/`
 * names a concrete enrichment.
 */
export interface Enrichment<A> {
  /** Unique among the registered enrichments; names its migrations table `slowq_migrations_<name>`. */
  readonly name: string
  /**
   * Its tables in slowq's store (PostgreSQL), by id `NNNN_name` as `@effect/sql`'s Migrator takes them. They are
   * tracked apart from the core's and from other enrichments', so a plugin numbers its own from 0001.
   */
  readonly migrations: Readonly<Record<string, Effect.Effect<void, unknown, SqlClient>>>
  /**
   * Stores one batch's attached values; runs inside the batch's transaction (a failure rolls the batch back). A
   * method, so that enrichments of different value types fit in one `AnyEnrichment` list (see there).
   */
  write(pipeline: string, attached: ReadonlyArray<Attached<A>>): Effect.Effect<void, SqlError, SqlClient>
  /** Fields added to each row of `GET /api/v1/queries`. */
  readonly list?: RowFields
  /** Fields added to `GET /api/v1/queries/{id}`. */
  readonly detail?: DetailFields
  /** Fields added to each query of `slowq report` (JSON, no schema: the report is not typed). */
  readonly report?: (queries: ReadonlyArray<QueryRef>) => Effect.Effect<ReadonlyArray<Fields>, SqlError, SqlClient>
  /** Gauges read from the store when /metrics is scraped. */
  readonly metrics?: Effect.Effect<ReadonlyArray<GaugeFamily>, SqlError, SqlClient>
}

/** One value a stage attached to one event. */
export interface Attached<A> {
  readonly event: CollectedEvent
  readonly value: A
}

/** A query of one pipeline. */
export interface QueryRef {
  readonly pipeline: string
  readonly id: string
}

export type Fields = Readonly<Record<string, unknown>>

export interface RowFields {
  /** The API schemas of the fields (they document them in the OpenAPI document). */
  readonly fields: Schema.Struct.Fields
  /** The fields of each query, in the order given. */
  readonly read: (queries: ReadonlyArray<QueryRef>) => Effect.Effect<ReadonlyArray<Fields>, SqlError, SqlClient>
}

export interface DetailFields {
  readonly fields: Schema.Struct.Fields
  /** The fields of query `id` over `pipelines`: the one asked for, or every pipeline that holds the query. */
  readonly read: (id: string, pipelines: ReadonlyArray<string>) => Effect.Effect<Fields, SqlError, SqlClient>
}

/** A Prometheus gauge family. */
export interface GaugeFamily {
  readonly name: string
  readonly help: string
  readonly samples: ReadonlyArray<{ readonly labels: ReadonlyArray<readonly [string, string]>; readonly value: number }>
}

// The value type erased, so that enrichments of different value types fit in one list (`write` is a method, checked
// bivariantly). The runtime only hands an enrichment the values attached under its own name, and `attach` and
// `attachedTo` are typed by the enrichment itself; names are unique (checked where the store is built).
export type AnyEnrichment = Enrichment<unknown>

/** `event` with `value` attached for `enrichment` (replacing an earlier value of the same enrichment). */
export const attach = <A>(event: CollectedEvent, enrichment: Enrichment<A>, value: A): CollectedEvent => ({
  ...event,
  attached: { ...event.attached, [enrichment.name]: value }
})

/** The value attached to `event` for `enrichment`, if any. */
export const attachedTo = <A>(event: CollectedEvent, enrichment: Enrichment<A>): A | undefined =>
  event.attached?.[enrichment.name] as A | undefined

/** The batch's values of `enrichment`, in event order. */
export const attachedValues = <A>(
  events: ReadonlyArray<CollectedEvent>,
  enrichment: Enrichment<A>
): ReadonlyArray<Attached<A>> => {
  const out: Array<Attached<A>> = []
  for (const event of events) {
    const value = attachedTo(event, enrichment)
    if (value !== undefined) out.push({ event, value })
  }
  return out
}

/** The first name used twice, if any: each enrichment owns its tables and its fields. */
export const duplicateEnrichment = (enrichments: ReadonlyArray<AnyEnrichment>): string | undefined => {
  const seen = new Set<string>()
  for (const { name } of enrichments) {
    if (seen.has(name)) return name
    seen.add(name)
  }
  return undefined
}
