import { Context, Layer } from "effect"
import type { Fingerprinted } from "../domain/Fingerprint.js"
import type { SlowQueryEvent } from "../domain/SlowQueryEvent.js"
import type { SqlDialect } from "../fingerprint/SqlDialect.js"
import type { SourceError } from "./SlowQuerySource.js"

/**
 * A source's own fingerprinter, for statements slowq's SQL engine cannot read (a Redis command, a MongoDB filter). It
 * groups an event with the others of its class: the same `fingerprint` and `queryId` for every statement that differs
 * only by its values. Synchronous and total: the runtime calls it on every event of every batch, before any stage.
 */
export class EventFingerprinter extends Context.Tag("slowq/plugin/EventFingerprinter")<
  EventFingerprinter,
  {
    readonly fingerprint: (event: SlowQueryEvent) => Fingerprinted
  }
>() {}

/** How a source's events are fingerprinted: by slowq's SQL engine with one dialect's rules, or by the source itself. */
export type Fingerprinting =
  | { readonly _tag: "SqlEngine"; readonly dialect: SqlDialect }
  | { readonly _tag: "Own"; readonly layer: Layer.Layer<EventFingerprinter, SourceError> }

export const Fingerprinting = {
  /** slowq's SQL engine: pt-query-digest's rules for `mysql`, libpg_query for `postgres`. */
  sqlEngine: (dialect: SqlDialect): Fingerprinting => ({ _tag: "SqlEngine", dialect }),
  /** A pure function of the event. */
  own: (fingerprint: (event: SlowQueryEvent) => Fingerprinted): Fingerprinting => ({
    _tag: "Own",
    layer: Layer.succeed(EventFingerprinter, { fingerprint })
  }),
  /** A layer, for a fingerprinter that loads something first; built once per run, like the source. */
  layer: (layer: Layer.Layer<EventFingerprinter, SourceError>): Fingerprinting => ({ _tag: "Own", layer })
} as const
