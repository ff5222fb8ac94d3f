import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { type ConfigError, formatConfigError, maxProblemsShown } from "../../src/pipeline/ConfigProblems.js"
import { PipelineLoader, parsePipeline } from "../../src/pipeline/Loader.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Plugins } from "../../src/plugin/Plugin.js"
import { registry } from "./testRegistry.js"

// test group: other
// (mysql:// is named only in configs that are parsed, never connected.)

const loaderLayer = PipelineLoader.layer.pipe(Layer.provide(Layer.succeed(Plugins, registry)), Layer.provide(NodeContext.layer))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-loader-limits-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** process.env[name] = value for the scope; the loader reads the environment when it loads. */
const withEnv = (name: string, value: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = process.env[name]
      process.env[name] = value
      return before
    }),
    (before) =>
      Effect.sync(() => {
        if (before === undefined) delete process.env[name]
        else process.env[name] = before
      })
  )

const summary = (results: ReadonlyArray<Either.Either<PipelineSpec, ConfigError>>, dir: string) =>
  results.map((result) =>
    Either.match(result, {
      onLeft: (error) => formatConfigError(error).replaceAll(dir, "DIR"),
      onRight: (spec) => `ok ${spec.file.replace(dir, "DIR")} ${spec.name}`
    })
  )

const valid = "name: lab\nschedule: { every: 30s }\nsource: { type: mysql_slow_log_table, url: mysql://db/test }\n"

/** A valid pipeline but for `keys` unknown keys in its source. */
const unknownKeys = (keys: number) => {
  const lines = ["name: lab", "schedule: { every: 30s }", "source:", "  type: mysql_slow_log_table", "  url: mysql://db/test"]
  for (let i = 0; i < keys; i++) lines.push(`  k${i}: 1`)
  return `${lines.join("\n")}\n`
}

const refused = (name: string, message: string) =>
  [`DIR/${name} is invalid (1 problem)`, `  DIR/${name}:1:1    ${message}`].join("\n")

describe("PipelineLoader: what it refuses to read", () => {
  it.scoped("a directory, a FIFO and a link to /dev/zero named *.yaml are named for what they are, and nothing blocks", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      mkdirSync(join(dir, "a_dir.yaml"))
      execFileSync("mkfifo", [join(dir, "b_fifo.yaml")])
      symlinkSync("/dev/zero", join(dir, "c_zero.yaml"))
      writeFileSync(join(dir, "d_ok.yaml"), valid)
      const loader = yield* PipelineLoader
      const results = yield* loader.loadDirectory(dir).pipe(Effect.timeout("20 seconds"))
      expect(summary(results, dir)).toEqual([
        refused("a_dir.yaml", "is a directory, not a regular file"),
        refused("b_fifo.yaml", "is a FIFO (named pipe), not a regular file"),
        refused("c_zero.yaml", "links to /dev/zero, a character device, not a regular file"),
        "ok DIR/d_ok.yaml lab"
      ])
    }).pipe(Effect.provide(loaderLayer))
  )

  it.scoped("a file with a 60 MB value is refused by the size limit", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      writeFileSync(join(dir, "big.yaml"), `name: lab\nvalue: "${"a".repeat(60 * 1024 * 1024)}"\n`)
      const loader = yield* PipelineLoader
      const results = yield* loader.loadFiles([join(dir, "big.yaml")])
      expect(summary(results, dir)).toEqual([
        refused("big.yaml", "is 60.0 MiB, larger than the 1 MiB limit (SLOWQ_PIPELINE_MAX_BYTES)")
      ])
    }).pipe(Effect.provide(loaderLayer))
  )

  it.scoped("SLOWQ_PIPELINE_MAX_BYTES sets the limit: a file of exactly the limit is read, one byte more is not", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withEnv("SLOWQ_PIPELINE_MAX_BYTES", "2048")
      const padded = (bytes: number) => `${valid}#${"x".repeat(bytes - valid.length - 2)}\n`
      writeFileSync(join(dir, "a_exact.yaml"), padded(2048))
      writeFileSync(join(dir, "b_over.yaml"), padded(2049))
      writeFileSync(join(dir, "c_far_over.yaml"), padded(3000))
      const loader = yield* PipelineLoader
      const results = yield* loader.loadDirectory(dir)
      expect(summary(results, dir)).toEqual([
        "ok DIR/a_exact.yaml lab",
        refused("b_over.yaml", "is 2049 bytes, larger than the 2048-byte limit (SLOWQ_PIPELINE_MAX_BYTES)"),
        refused("c_far_over.yaml", "is 2.9 KiB, larger than the 2 KiB limit (SLOWQ_PIPELINE_MAX_BYTES)")
      ])
    }).pipe(Effect.provide(loaderLayer))
  )

  it.scoped("a SLOWQ_PIPELINE_MAX_BYTES that is no number of bytes is reported, not ignored", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withEnv("SLOWQ_PIPELINE_MAX_BYTES", "1MB")
      writeFileSync(join(dir, "lab.yaml"), valid)
      const loader = yield* PipelineLoader
      const results = yield* loader.loadDirectory(dir)
      expect(summary(results, dir)).toEqual([
        refused(
          "lab.yaml",
          'cannot read the file: SLOWQ_PIPELINE_MAX_BYTES is "1MB", expected a whole number of bytes such as 1048576'
        )
      ])
    }).pipe(Effect.provide(loaderLayer))
  )
})

const parse = (text: string) =>
  parsePipeline({ file: "lab.yaml", text, registry, env: {}, readSecretFile: () => Either.left("none") })

describe("parsePipeline: many problems", () => {
  it("lists the first 100 problems by line and counts the rest", () => {
    const text = Either.match(parse(unknownKeys(150)), { onLeft: formatConfigError, onRight: () => "valid" }).split("\n")
    const expected = "is unexpected, expected one of: type | url | batch_size | password"
    expect(text.length).toBe(1 + maxProblemsShown + 1)
    expect(text[0]).toBe("lab.yaml is invalid (150 problems)")
    expect(text[1]).toBe(`  lab.yaml:6:3    source.k0   ${expected}`)
    expect(text[100]).toBe(`  lab.yaml:105:3  source.k99  ${expected}`)
    expect(text[101]).toBe("  and 50 more")
  })

  it("repeated keys are found in a large mapping, and the first repetition is reported where it is", () => {
    const text = `${unknownKeys(20_000)}  k7: 2\n  k19999: 3\n`
    const error = Either.getOrThrowWith(Either.flip(parse(text)), () => new Error("unexpectedly valid"))
    expect(error.problems.map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual([
      "20006:3 invalid YAML: Map keys must be unique",
      "20007:3 invalid YAML: Map keys must be unique"
    ])
  })

  // 64k unknown keys took 36 s when yaml compared every key with every earlier one. Timed on a shared machine, so
  // the check is the growth, best of a few runs: a linear check does 8 times the keys in about 8 times the time
  // (plus less fixed cost), a quadratic one in 64 times.
  it("validating 64k unknown keys grows linearly with the keys", () => {
    const best = (keys: number, runs: number) => {
      const text = unknownKeys(keys)
      let fastest = Number.POSITIVE_INFINITY
      for (let run = 0; run < runs; run++) {
        const started = performance.now()
        const result = parse(text)
        fastest = Math.min(fastest, performance.now() - started)
        expect(Either.isLeft(result) && result.left.problems.length + (result.left.omitted ?? 0)).toBe(keys)
      }
      return fastest
    }
    best(2_000, 2)
    const small = best(8_000, 3)
    const large = best(64_000, 2)
    expect(large / small).toBeLessThan(24)
  }, 120_000)
})
