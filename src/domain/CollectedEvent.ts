import type { Fingerprinted } from "./Fingerprint.js"
import type { SlowQueryEvent } from "./SlowQueryEvent.js"

/** An event on its way through a pipeline's stages; each stage adds what it learns. */
export interface CollectedEvent {
  readonly event: SlowQueryEvent
  /** Set by the runtime before any stage, by the fingerprinter of the source's dialect. */
  readonly fingerprint: Fingerprinted
  /** What stages attached, by enrichment name: read and written through `attach`/`attachedTo` (plugin/Enrichment). */
  readonly attached?: Readonly<Record<string, unknown>>
}
