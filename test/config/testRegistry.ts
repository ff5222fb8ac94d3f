import { Effect, Layer, Schema, Stream } from "effect"
import { defineSource, defineStage, type PluginRegistry } from "../../src/plugin/Plugin.js"
import { PipelineStage } from "../../src/plugin/PipelineStage.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"

// Config tests only decode; these layers exist to satisfy the plugin type and are never built.
const noSource = () => Layer.succeed(SlowQuerySource, { read: () => Stream.empty })
const passThrough = () => Layer.succeed(PipelineStage, { process: (events) => Effect.succeed({ events, remember: [] }) })

export const MysqlConfig = Schema.Struct({
  type: Schema.Literal("mysql_slow_log_table"),
  url: Schema.Redacted(Schema.NonEmptyTrimmedString).annotations({ description: "Connection URL." }),
  batch_size: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 10_000)), { exact: true, default: () => 1000 }),
  password: Schema.optional(Schema.Redacted(Schema.NonEmptyString))
})

export const PostgresConfig = Schema.Struct({
  type: Schema.Literal("postgres_statements"),
  url: Schema.Redacted(Schema.NonEmptyTrimmedString),
  min_calls: Schema.optionalWith(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)), { exact: true, default: () => 1 })
})

export const ExplainConfig = Schema.Struct({
  type: Schema.Literal("explain"),
  max_per_run: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { exact: true, default: () => 10 }),
  format: Schema.optional(Schema.Literal("traditional", "json"))
})

export const registry: PluginRegistry = {
  sources: [
    defineSource({
      type: "mysql_slow_log_table",
      description: "Reads mysql.slow_log.",
      dialect: "mysql",
      config: MysqlConfig,
      layer: noSource
    }),
    defineSource({
      type: "postgres_statements",
      description: "Reads pg_stat_statements.",
      dialect: "postgres",
      config: PostgresConfig,
      layer: noSource
    })
  ],
  stages: [
    defineStage({
      type: "explain",
      description: "Explains.",
      dialects: ["mysql", "postgres"],
      config: ExplainConfig,
      layer: passThrough
    })
  ]
}
