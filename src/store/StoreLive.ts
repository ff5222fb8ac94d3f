import { Layer, type Redacted } from "effect"
import type { AnyEnrichment } from "../plugin/Enrichment.js"
import { EnrichmentReads } from "./EnrichmentReads.js"
import { EventWriter } from "./EventWriter.js"
import { FindingReads } from "./FindingReads.js"
import { LeaseStore } from "./LeaseStore.js"
import { QueryReads } from "./QueryReads.js"
import { SeriesReads } from "./SeriesReads.js"
import { StageMemoryStore } from "./StageMemoryStore.js"
import { StoreClient } from "./StoreClient.js"
import { StorePruner } from "./StorePruner.js"

/** Every store service on one client: built once per process, its pool shared by all of them. */
export const storeServices = <E, R>(client: Layer.Layer<StoreClient, E, R>) =>
  Layer.mergeAll(
    EventWriter.layer,
    StageMemoryStore.layer,
    QueryReads.layer,
    EnrichmentReads.layer,
    FindingReads.layer,
    SeriesReads.layer,
    StorePruner.layer,
    LeaseStore.layer
  ).pipe(
    Layer.provideMerge(client)
  )

/** The store the configuration names (SLOWQ_STORE_URL or the embedded one), with every registered enrichment. */
export const StoreLive = storeServices(StoreClient.layer)

export const storeLayerFromUrl = (url: Redacted.Redacted, enrichments: ReadonlyArray<AnyEnrichment> = []) =>
  storeServices(StoreClient.layerFromUrl(url, enrichments))

export const storeLayerEmbedded = (dir: string, enrichments: ReadonlyArray<AnyEnrichment> = []) =>
  storeServices(StoreClient.layerEmbedded(dir, enrichments))
