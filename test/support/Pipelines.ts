import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Schema } from "effect"
import { plugin as slowLogFile } from "../../plugins/mysql_slow_log_file/index.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"

/** A temporary pipelines folder holding the given files, removed when the scope closes. */
export const pipelinesDir = (files: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "slowq-pipelines-"))
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** A temporary folder, removed when the scope closes. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** A loaded pipeline (no YAML) reading the slow log file at `path`, hourly, with no stage (the runtime fingerprints). */
export const slowLogFileSpec = (name: string, path: string): PipelineSpec => ({
  name,
  file: `${name}.yaml`,
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: {
    plugin: slowLogFile,
    config: Schema.decodeUnknownSync(slowLogFile.config)({ type: "mysql_slow_log_file", path, settle_ms: 0 })
  },
  stages: [],
  sink: { type: "store", samples: "raw" }
})

/** A pipeline reading the local MariaDB's mysql.slow_log; `stages` are YAML lines of the `stages:` list. */
export const mariadbPipeline = (
  name: string,
  options: {
    readonly every?: string
    readonly url?: string
    readonly batchSize?: number
    readonly stages?: ReadonlyArray<string>
  } = {}
) =>
  [
    `name: ${name}`,
    "schedule:",
    `  every: ${options.every ?? "30s"}`,
    "source:",
    "  type: mysql_slow_log_table",
    `  url: ${options.url ?? "mysql://root@127.0.0.1:3306/test"}`,
    ...(options.batchSize === undefined ? [] : [`  batch_size: ${options.batchSize}`]),
    ...(options.stages === undefined ? [] : ["stages:", ...options.stages]),
    ""
  ].join("\n")
