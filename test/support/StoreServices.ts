import { Context, Effect, Layer, Redacted } from "effect"
import type { AnyEnrichment } from "../../src/plugin/Enrichment.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { QueryReads } from "../../src/store/QueryReads.js"
import { StageMemoryStore } from "../../src/store/StageMemoryStore.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerFromUrl } from "../../src/store/StoreLive.js"

/** Every store service on a fresh client of the store database at `url` (a layer of its own per call). */
export const storeAt = (url: string, enrichments: ReadonlyArray<AnyEnrichment> = []) =>
  Layer.fresh(storeLayerFromUrl(Redacted.make(url), enrichments))

/** The store services a test drives, built in the test's scope: the writer, the reads, memory and readiness. */
export const openStore = (url: string, enrichments: ReadonlyArray<AnyEnrichment> = []) =>
  Layer.build(storeAt(url, enrichments)).pipe(
    Effect.map((context) => ({
      ...Context.get(context, EventWriter),
      ...Context.get(context, QueryReads),
      memory: Context.get(context, StageMemoryStore),
      readiness: Context.get(context, StoreClient).readiness
    }))
  )
