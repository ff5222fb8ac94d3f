import type { Fingerprinted } from "./Fingerprint.js"
import type { SlowQueryEvent } from "./SlowQueryEvent.js"

/** An event on its way through a pipeline's stages; each stage adds what it learns. */
export interface CollectedEvent {
  readonly event: SlowQueryEvent
  readonly fingerprint?: Fingerprinted
}
