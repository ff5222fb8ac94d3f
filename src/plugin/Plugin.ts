import { Context, type Layer, type Schema } from "effect"
import type { Dialect } from "../domain/SlowQueryEvent.js"
import type { PipelineStage, StageError } from "./PipelineStage.js"
import type { SlowQuerySource, SourceError } from "./SlowQuerySource.js"

/** What a stage knows about the pipeline it runs in. */
export interface StageContext {
  readonly pipeline: string
  readonly source: { readonly type: string; readonly dialect: Dialect; readonly config: unknown }
}

export interface SourcePluginDefinition<C extends { readonly type: string }> {
  readonly type: string
  readonly description: string
  readonly dialect: Dialect
  /** A Struct with a `type` literal field; its descriptions are the plugin's documentation. */
  readonly config: Schema.Schema<C, any_encoded>
  readonly layer: (config: C) => Layer.Layer<SlowQuerySource, SourceError>
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
  layer: (config) => definition.layer(config as C)
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
