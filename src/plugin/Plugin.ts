import { Context, type Layer, Option, type Redacted, type Schema } from "effect"
import type { Dialect } from "../domain/SlowQueryEvent.js"
import { isSqlDialect, type SqlDialect } from "../fingerprint/SqlDialect.js"
import type { AnyEnrichment } from "./Enrichment.js"
import { Fingerprinting } from "./EventFingerprinter.js"
import type { PipelineStage, StageError } from "./PipelineStage.js"
import type { SlowQuerySource, SourceError } from "./SlowQuerySource.js"
import type { StageMemory } from "./StageMemory.js"

/** How to reach the database a source reads, for stages that query it too (e.g. EXPLAIN). */
export interface SourceConnection {
  readonly url: Redacted.Redacted<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
}

/**
 * What a stage knows about the pipeline it runs in. `D` is the dialects the stage declared: the runtime builds a stage
 * only for pipelines whose source speaks one of them, so a stage for `["mysql", "postgres"]` sees just those two.
 */
export interface StageContext<D extends Dialect = Dialect> {
  readonly pipeline: string
  /** Persistent memory of this stage in this pipeline. */
  readonly memory: StageMemory
  readonly source: {
    readonly type: string
    readonly dialect: D
    readonly config: unknown
    /** None when the source reads no database (e.g. a log file). */
    readonly connection: Option.Option<SourceConnection>
    /** Its events may carry the plan the database logged with them (`SlowQueryEvent.plan`); absent: false. */
    readonly logsPlans?: boolean
  }
}

interface SourceDefinitionBase<C extends { readonly type: string }, E> {
  readonly type: string
  readonly description: string
  /** A Struct with a `type` literal field; its descriptions are the plugin's documentation. */
  readonly config: Schema.Schema<C, E>
  readonly layer: (config: C) => Layer.Layer<SlowQuerySource, SourceError>
  /** The database the source reads, when it reads one. */
  readonly connection?: (config: C) => SourceConnection
  /**
   * Its events may carry the plan the database logged with them (`SlowQueryEvent.plan`, e.g. PostgreSQL's
   * auto_explain), so a plan stage has something to keep even where it has no database to ask.
   */
  readonly logsPlans?: boolean
}

/**
 * A source declares the dialect of its statements. For `mysql` and `postgres` slowq's SQL engine fingerprints them
 * unless the source says otherwise; a source of any other dialect brings its fingerprinter
 * (`Fingerprinting.own(event => …)` or `Fingerprinting.layer(…)`), or picks the SQL engine's rules explicitly.
 */
/** `E` is the config as YAML holds it: the schema's encoded side, inferred from `config`. */
export type SourcePluginDefinition<C extends { readonly type: string }, E = unknown> = SourceDefinitionBase<C, E> &
  (
    | { readonly dialect: SqlDialect; readonly fingerprinter?: Fingerprinting }
    | { readonly dialect: Dialect; readonly fingerprinter: Fingerprinting }
  )

export interface StagePluginDefinition<C extends { readonly type: string }, D extends Dialect = Dialect, E = unknown> {
  readonly type: string
  readonly description: string
  /** The dialects whose events the stage understands; absent: every dialect. Events of others pass it untouched. */
  readonly dialects?: ReadonlyArray<D>
  readonly config: Schema.Schema<C, E>
  readonly layer: (config: C, context: StageContext<D>) => Layer.Layer<PipelineStage, StageError>
  /** What the stage attaches to events and keeps in the store (see Enrichment). */
  readonly enrichments?: ReadonlyArray<AnyEnrichment>
}

/** A registered source, with its config type erased so that plugins of different configs fit in one list. */
export interface SourcePlugin {
  readonly kind: "source"
  readonly type: string
  readonly description: string
  readonly dialect: Dialect
  /** None only for a source of a dialect the SQL engine does not know that brought no fingerprinter: a config problem. */
  readonly fingerprinter: Option.Option<Fingerprinting>
  /** Decodes to the config `layer` takes; the output is typed `unknown` here and narrowed by `defineSource`. */
  readonly config: Schema.Schema.AnyNoContext
  readonly layer: (config: unknown) => Layer.Layer<SlowQuerySource, SourceError>
  readonly connection: (config: unknown) => Option.Option<SourceConnection>
  readonly logsPlans: boolean
}

export interface StagePlugin {
  readonly kind: "stage"
  readonly type: string
  readonly description: string
  /** None: every dialect. */
  readonly dialects: Option.Option<ReadonlyArray<Dialect>>
  readonly config: Schema.Schema.AnyNoContext
  readonly layer: (config: unknown, context: StageContext) => Layer.Layer<PipelineStage, StageError>
  readonly enrichments: ReadonlyArray<AnyEnrichment>
}

// The runtime only ever passes a config that `config` decoded, so narrowing `unknown` back to C is sound.
export const defineSource = <C extends { readonly type: string }, E>(definition: SourcePluginDefinition<C, E>): SourcePlugin => ({
  kind: "source",
  type: definition.type,
  description: definition.description,
  dialect: definition.dialect,
  fingerprinter: Option.orElse(Option.fromNullable(definition.fingerprinter), () =>
    isSqlDialect(definition.dialect) ? Option.some(Fingerprinting.sqlEngine(definition.dialect)) : Option.none()
  ),
  config: definition.config,
  layer: (config) => definition.layer(config as C),
  connection: (config) =>
    definition.connection === undefined ? Option.none() : Option.some(definition.connection(config as C)),
  logsPlans: definition.logsPlans ?? false
})

// The runtime builds a stage only for a source of one of its `dialects`, so narrowing the context's dialect is sound.
export const defineStage = <C extends { readonly type: string }, D extends Dialect = Dialect, E = unknown>(
  definition: StagePluginDefinition<C, D, E>
): StagePlugin => ({
  kind: "stage",
  type: definition.type,
  description: definition.description,
  dialects: Option.fromNullable(definition.dialects),
  config: definition.config,
  layer: (config, context) => definition.layer(config as C, context as StageContext<D>),
  enrichments: definition.enrichments ?? []
})

/** Whether a stage applies to the events of a source of `dialect`. */
export const stageApplies = (stage: StagePlugin, dialect: Dialect): boolean =>
  Option.match(stage.dialects, { onNone: () => true, onSome: (dialects) => dialects.includes(dialect) })

export interface PluginRegistry {
  readonly sources: ReadonlyArray<SourcePlugin>
  readonly stages: ReadonlyArray<StagePlugin>
}

/** Every enrichment of every registered stage: the store keeps their tables and the API serves their fields. */
export const registeredEnrichments = (registry: PluginRegistry): ReadonlyArray<AnyEnrichment> =>
  registry.stages.flatMap((stage) => stage.enrichments)

/** The explicit list of plugins, provided once by `src/main.ts` from `plugins/index.ts`. */
export class Plugins extends Context.Tag("slowq/plugin/Plugins")<Plugins, PluginRegistry>() {}
