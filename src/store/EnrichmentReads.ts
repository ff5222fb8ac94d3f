import { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"
import type { AnyEnrichment, Fields, GaugeFamily, QueryRef } from "../plugin/Enrichment.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

// The enrichments' reads (see plugin/Enrichment), run on the store's client under the same read permits as the
// core's reads, with their errors made StoreErrors like every other read.

const make = Effect.gen(function* () {
  const client = yield* StoreClient
  const { enrichments } = client

  const read = <A>(enrichment: AnyEnrichment, effect: Effect.Effect<A, unknown, SqlClient.SqlClient>) =>
    effect.pipe(
      Effect.provideService(SqlClient.SqlClient, client.sql),
      Effect.mapError((cause) => {
        const reason = cause instanceof Error ? cause.message : String(cause)
        return new StoreError({ operation: "read", message: `store read failed (${enrichment.name}): ${reason}`, cause })
      }),
      client.readPermits.withPermits(1)
    )

  /**
   * The fields every enrichment's `rowsOf` gives each of `queries`, merged per query, in order. An enrichment that
   * answers for another number of queries is a bug in it, reported as such rather than shifting fields onto others.
   */
  const mergeRows = (
    queries: ReadonlyArray<QueryRef>,
    rowsOf: (enrichment: AnyEnrichment) => Effect.Effect<ReadonlyArray<Fields>, unknown, SqlClient.SqlClient> | undefined
  ) =>
    Effect.gen(function* () {
      const merged: Array<Record<string, unknown>> = queries.map(() => ({}))
      if (queries.length === 0) return merged
      for (const enrichment of enrichments) {
        const reading = rowsOf(enrichment)
        if (reading === undefined) continue
        const rows = yield* read(enrichment, reading)
        if (rows.length !== queries.length) {
          return yield* new StoreError({
            operation: "read",
            message: `enrichment ${enrichment.name} gave fields for ${rows.length} queries, asked for ${queries.length}`
          })
        }
        for (let i = 0; i < rows.length; i++) Object.assign(merged[i]!, rows[i])
      }
      return merged
    })

  /** The merged fields every enrichment adds to each of `queries` in a list, in order. */
  const listFields = (queries: ReadonlyArray<QueryRef>) =>
    mergeRows(queries, (enrichment) => enrichment.list?.read(queries)).pipe(Effect.withSpan("EnrichmentReads.listFields"))

  /** The merged fields every enrichment adds to query `id` over `pipelines`. */
  const detailFields = Effect.fn("EnrichmentReads.detailFields")(function* (id: string, pipelines: ReadonlyArray<string>) {
    const merged: Record<string, unknown> = {}
    for (const enrichment of enrichments) {
      if (enrichment.detail === undefined) continue
      Object.assign(merged, yield* read(enrichment, enrichment.detail.read(id, pipelines)))
    }
    return merged as Fields
  })

  /** The merged fields every enrichment adds to each query of `slowq report`, in order. */
  const reportFields = (queries: ReadonlyArray<QueryRef>) =>
    mergeRows(queries, (enrichment) => enrichment.report?.(queries)).pipe(Effect.withSpan("EnrichmentReads.reportFields"))

  /** Every enrichment's gauges, read now. */
  const metricFamilies = Effect.fn("EnrichmentReads.metricFamilies")(function* () {
    const families: Array<GaugeFamily> = []
    for (const enrichment of enrichments) {
      if (enrichment.metrics !== undefined) families.push(...(yield* read(enrichment, enrichment.metrics)))
    }
    return families
  })

  return { enrichments, listFields, detailFields, reportFields, metricFamilies } as const
})

/** What the store's enrichments add to the API's answers, the report and /metrics. */
export class EnrichmentReads extends Context.Tag("slowq/store/EnrichmentReads")<
  EnrichmentReads,
  Effect.Effect.Success<typeof make>
>() {
  static readonly layer = Layer.effect(this, make)
}
