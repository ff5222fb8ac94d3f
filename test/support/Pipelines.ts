import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"

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

export const mariadbPipeline = (name: string, options: { readonly every?: string; readonly url?: string; readonly batchSize?: number } = {}) =>
  [
    `name: ${name}`,
    "schedule:",
    `  every: ${options.every ?? "30s"}`,
    "source:",
    "  type: mysql_slow_log_table",
    `  url: ${options.url ?? "mysql://root@127.0.0.1:3306/test"}`,
    ...(options.batchSize === undefined ? [] : [`  batch_size: ${options.batchSize}`]),
    "stages:",
    "  - type: fingerprint",
    ""
  ].join("\n")
