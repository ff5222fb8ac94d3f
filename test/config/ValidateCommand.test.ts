import { Command } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { afterEach, assert, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { ValidationFailed, validateCommand } from "../../src/cli/ValidateCommand.js"
import { PipelineLoader } from "../../src/pipeline/Loader.js"
import { Plugins } from "../../src/plugin/Plugin.js"
import { registry } from "./testRegistry.js"

const layer = PipelineLoader.layer.pipe(
  Layer.provide(Layer.succeed(Plugins, registry)),
  Layer.provideMerge(NodeContext.layer)
)

const cli = Command.run(validateCommand, { name: "slowq", version: "0.0.0-test" })

let stdout: Array<string> = []
let stderr: Array<string> = []
beforeEach(() => {
  stdout = []
  stderr = []
  vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void stdout.push(args.join(" ")))
  vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => void stderr.push(args.join(" ")))
})
afterEach(() => {
  vi.restoreAllMocks()
})

const good = "name: lab\nschedule: { every: 30s }\nsource: { type: mysql_slow_log_table, url: mysql://db/test }\n"
const bad = "name: lab2\nschedule: { every: 30s }\nsource: { type: mysql_slow_log_tabel, url: mysql://db/test }\n"

const pipelinesDir = (files: Record<string, string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "slowq-validate-" })
    for (const [name, text] of Object.entries(files)) yield* fs.writeFileString(`${dir}/${name}`, text)
    return dir
  })

describe("slowq validate", () => {
  it.scoped("prints ok lines on stdout and succeeds when every file is valid", () =>
    Effect.gen(function* () {
      const dir = yield* pipelinesDir({ "lab.yaml": good })
      const exit = yield* Effect.exit(cli(["node", "slowq", "--pipelines", dir]))
      assert(Exit.isSuccess(exit))
      expect(stdout).toEqual([`ok  ${dir}/lab.yaml  (lab)`])
      expect(stderr).toEqual([])
    }).pipe(Effect.provide(layer))
  )

  it.scoped("prints every problem on stderr and fails with ValidationFailed when a given file is invalid", () =>
    Effect.gen(function* () {
      const dir = yield* pipelinesDir({ "lab.yaml": good, "bad.yaml": bad })
      const error = yield* Effect.flip(cli(["node", "slowq", `${dir}/lab.yaml`, `${dir}/bad.yaml`]))
      assert(error instanceof ValidationFailed)
      expect(error.message).toBe("1 of 2 pipeline files are invalid")
      expect(stdout).toEqual([`ok  ${dir}/lab.yaml  (lab)`])
      expect(stderr).toEqual([
        [
          `${dir}/bad.yaml is invalid (1 problem)`,
          `  ${dir}/bad.yaml:3:17  source.type  unknown source type "mysql_slow_log_tabel" (valid values: mysql_slow_log_table | postgres_statements)`
        ].join("\n"),
        "1 of 2 pipeline files are invalid"
      ])
    }).pipe(Effect.provide(layer))
  )

  it.scoped("prints a valid file's deprecation notes under its ok line and still succeeds", () =>
    Effect.gen(function* () {
      const dir = yield* pipelinesDir({ "lab.yaml": `${good}stages:\n  - type: fingerprint\n` })
      const exit = yield* Effect.exit(cli(["node", "slowq", "--pipelines", dir]))
      assert(Exit.isSuccess(exit))
      expect(stdout).toEqual([
        `ok  ${dir}/lab.yaml  (lab)`,
        `  ${dir}/lab.yaml:5:11  stages.0.type  deprecated: slowq fingerprints every event before the stages; remove "- type: fingerprint" (its match_embedded_numbers goes in the pipeline's fingerprint block)`
      ])
      expect(stderr).toEqual([])
    }).pipe(Effect.provide(layer))
  )

  it.scoped("fails when the pipelines directory does not exist", () =>
    Effect.gen(function* () {
      const dir = yield* pipelinesDir({})
      const error = yield* Effect.flip(cli(["node", "slowq", "--pipelines", `${dir}/missing`]))
      assert(error instanceof ValidationFailed)
      expect(error.message).toBe(`${dir}/missing cannot be used`)
      expect(stdout).toEqual([])
      expect(stderr).toEqual([
        [
          `${dir}/missing is invalid (1 problem)`,
          `  ${dir}/missing:1:1    cannot read the pipelines directory: no such file or directory`
        ].join("\n")
      ])
    }).pipe(Effect.provide(layer))
  )
})
