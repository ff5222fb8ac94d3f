import { Context, type Layer, Option, type Redacted, type Schema } from "effect"
import type { Dialect } from "../domain/SlowQueryEvent.js"
import type { PipelineStage, StageError } from "./PipelineStage.js"
import type { SlowQuerySource, SourceError } from "./SlowQuerySource.js"
import type { StageMemory } from "./StageMemory.js"

/** How to reach the database a source reads, for stages that query it too (e.g. EXPLAIN). */
export interface SourceConnection {
  readonly url: Redacted.Redacted<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
}

/** What a stage knows about the pipeline it runs in. */
export interface StageContext {
  readonly pipeline: string
  /** Persistent memory of this stage in this pipeline. */
  readonly memory: StageMemory
  readonly source: {
    readonly type: string
    readonly dialect: Dialect
    readonly config: unknown
    /** None when the source reads no database (e.g. a log file). */
    readonly connection: Option.Option<SourceConnection>
  }
}

export interface SourcePluginDefinition<C extends { readonly type: string }> {
  readonly type: string
  readonly description: string
  readonly dialect: Dialect
  /** A Struct with a `type` literal field; its descriptions are the plugin's documentation. */
  readonly config: Schema.Schema<C, any_encoded>
  readonly layer: (config: C) => Layer.Layer<SlowQuerySource, SourceError>
  /** The database the source reads, when it reads one. */
  readonly connection?: (config: C) => SourceConnection
}

export interface StagePluginDefinition<C extends { readonly type: string }> {
  readonly type: string
  readonly description: string
  readonly config: Schema.Schema<C, any_encoded>
  readonly layer: (config: C, context: StageContext) => Layer.Layer<PipelineStage, StageError>
}

// biome-ignore lint/suspicious/noExplicitAny: the encoded side of a config schema is whatever YAML holds
type any_encoded = any

/** A registered source, with its config type erased so that plugins of different configs fit in one list. */
export interface SourcePlugin {
  readonly kind: "source"
  readonly type: string
  readonly description: string
  readonly dialect: Dialect
  /** Decodes to the config `layer` takes; the output is typed `unknown` here and narrowed by `defineSource`. */
  readonly config: Schema.Schema.AnyNoContext
  readonly layer: (config: unknown) => Layer.Layer<SlowQuerySource, SourceError>
  readonly connection: (config: unknown) => Option.Option<SourceConnection>
}

export interface StagePlugin {
  readonly kind: "stage"
  readonly type: string
  readonly description: string
  readonly config: Schema.Schema.AnyNoContext
  readonly layer: (config: unknown, context: StageContext) => Layer.Layer<PipelineStage, StageError>
}

// The runtime only ever passes a config that `config` decoded, so narrowing `unknown` back to C is sound.
export const defineSource = <C extends { readonly type: string }>(definition: SourcePluginDefinition<C>): SourcePlugin => ({
  kind: "source",
  type: definition.type,
  description: definition.description,
  dialect: definition.dialect,
  config: definition.config,
  layer: (config) => definition.layer(config as C),
  connection: (config) =>
    definition.connection === undefined ? Option.none() : Option.some(definition.connection(config as C))
})

export const defineStage = <C extends { readonly type: string }>(definition: StagePluginDefinition<C>): StagePlugin => ({
  kind: "stage",
  type: definition.type,
  description: definition.description,
  config: definition.config,
  layer: (config, context) => definition.layer(config as C, context)
})

export interface PluginRegistry {
  readonly sources: ReadonlyArray<SourcePlugin>
  readonly stages: ReadonlyArray<StagePlugin>
}

/** The explicit list of plugins, provided once by `src/main.ts` from `plugins/index.ts`. */
export class Plugins extends Context.Tag("slowq/plugin/Plugins")<Plugins, PluginRegistry>() {}
