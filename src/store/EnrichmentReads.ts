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

  /** The merged fields every enrichment adds to each of `queries`, in order. */
  const listFields = Effect.fn("EnrichmentReads.listFields")(function* (queries: ReadonlyArray<QueryRef>) {
    const merged: Array<Record<string, unknown>> = queries.map(() => ({}))
    if (queries.length === 0) return merged
    for (const enrichment of enrichments) {
      if (enrichment.list === undefined) continue
      const rows = yield* read(enrichment, enrichment.list.read(queries))
      rows.forEach((fields, i) => Object.assign(merged[i]!, fields))
    }
    return merged
  })

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
  const reportFields = Effect.fn("EnrichmentReads.reportFields")(function* (queries: ReadonlyArray<QueryRef>) {
    const merged: Array<Record<string, unknown>> = queries.map(() => ({}))
    if (queries.length === 0) return merged
    for (const enrichment of enrichments) {
      if (enrichment.report === undefined) continue
      const rows = yield* read(enrichment, enrichment.report(queries))
      rows.forEach((fields, i) => Object.assign(merged[i]!, fields))
    }
    return merged
  })

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
