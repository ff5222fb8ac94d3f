// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in these strings is pipeline interpolation under test
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import { Cron, Duration, Effect, Either, Layer, Option, Redacted, Schema, Stream } from "effect"
import { type ConfigError, formatConfigError, formatNotes } from "../../src/pipeline/ConfigProblems.js"
import type { ReadSecretFile } from "../../src/pipeline/DecodePipeline.js"
import { PipelineLoader, parsePipeline } from "../../src/pipeline/Loader.js"
import { legacyNote } from "../../src/pipeline/LegacyFingerprintStage.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Fingerprinting } from "../../src/plugin/EventFingerprinter.js"
import { defineSource, Plugins, type SourcePlugin } from "../../src/plugin/Plugin.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"
import { registry } from "./testRegistry.js"

const file = "pipelines/lab.yaml"
const noSecretFiles: ReadSecretFile = (path) => Either.left(`no such file or directory (${path})`)

const parse = (
  text: string,
  env: Record<string, string | undefined> = {},
  readSecretFile: ReadSecretFile = noSecretFiles
): Either.Either<PipelineSpec, ConfigError> => parsePipeline({ file, text, registry, env, readSecretFile })

/** The exact text `slowq validate` prints for an invalid file. */
const problemsOf = (text: string, env?: Record<string, string | undefined>, readSecretFile?: ReadSecretFile): string =>
  Either.match(parse(text, env, readSecretFile), {
    onLeft: formatConfigError,
    onRight: (spec) => `unexpectedly valid: ${spec.name}`
  })

const specOf = (text: string, env?: Record<string, string | undefined>, readSecretFile?: ReadSecretFile): PipelineSpec =>
  Either.getOrThrowWith(parse(text, env, readSecretFile), (error) => new Error(formatConfigError(error)))

const yaml = (lines: ReadonlyArray<string>): string => `${lines.join("\n")}\n`

const valid = yaml([
  "name: lab_mariadb",
  "schedule:",
  "  every: 30s",
  "source:",
  "  type: mysql_slow_log_table",
  "  url: mysql://root@127.0.0.1:3306/test",
  "stages:",
  "  - type: fingerprint",
  "sink:",
  "  type: store"
])

describe("parsePipeline: valid files", () => {
  it("decodes every part of the issue's example pipeline", () => {
    const spec = specOf(valid)
    expect(spec.name).toBe("lab_mariadb")
    expect(spec.file).toBe(file)
    assert(spec.schedule._tag === "Every")
    expect(Duration.toMillis(spec.schedule.every)).toBe(30_000)
    expect(spec.schedule.text).toBe("30s")
    expect(spec.source.plugin.type).toBe("mysql_slow_log_table")
    const config = spec.source.config as { type: string; url: Redacted.Redacted<string>; batch_size: number }
    expect(config.type).toBe("mysql_slow_log_table")
    expect(Redacted.isRedacted(config.url)).toBe(true)
    expect(Redacted.value(config.url)).toBe("mysql://root@127.0.0.1:3306/test")
    expect(config.batch_size).toBe(1000)
    // The legacy "- type: fingerprint" is accepted and taken out: the runtime fingerprints every event itself.
    expect(spec.stages).toEqual([])
    expect(spec.fingerprint).toBeUndefined()
    expect(spec.notes).toEqual([{ file, line: 8, column: 11, path: "stages.0.type", message: legacyNote }])
    expect(spec.sink).toEqual({ type: "store", samples: "raw" })
  })

  it("defaults stages to none (the runtime fingerprints every event) and the sink to the store", () => {
    const spec = specOf(
      yaml([
        "name: pg",
        "schedule:",
        '  cron: "*/5 * * * *"',
        "source:",
        "  type: postgres_statements",
        "  url: postgres://postgres@127.0.0.1:5432/postgres",
        "  min_calls: 3"
      ])
    )
    assert(spec.schedule._tag === "Cron")
    expect(spec.schedule.text).toBe("*/5 * * * *")
    const firstTick = Cron.next(spec.schedule.cron, new Date("2024-01-01T00:01:00Z"))
    expect(firstTick.getTime() - new Date("2024-01-01T00:01:00Z").getTime()).toBe(4 * 60_000)
    expect(spec.source.plugin.type).toBe("postgres_statements")
    expect((spec.source.config as { min_calls: number }).min_calls).toBe(3)
    expect(spec.stages).toEqual([])
    expect(spec.notes).toBeUndefined()
    expect(spec.sink).toEqual({ type: "store", samples: "raw" })
  })

  it("keeps stages in order with their decoded options", () => {
    const spec = specOf(
      yaml([
        "name: lab",
        "schedule: { every: 1h30m }",
        "source: { type: mysql_slow_log_table, url: mysql://db/test }",
        "stages:",
        "  - type: fingerprint",
        "  - type: explain",
        "    max_per_run: 5"
      ])
    )
    assert(spec.schedule._tag === "Every")
    expect(Duration.toMillis(spec.schedule.every)).toBe(90 * 60_000)
    expect(spec.stages.map((stage) => [stage.plugin.type, stage.config])).toEqual([["explain", { type: "explain", max_per_run: 5 }]])
    expect(spec.notes?.map((note) => [note.line, note.column, note.path])).toEqual([[5, 11, "stages.0.type"]])
  })

  it("a legacy fingerprint stage's match_embedded_numbers becomes the runtime's option, with the deprecation note", () => {
    const spec = specOf(
      yaml([
        "name: lab",
        "schedule: { every: 30s }",
        "source: { type: mysql_slow_log_table, url: mysql://db/test }",
        "stages:",
        "  - type: explain",
        "  - type: fingerprint",
        "    match_embedded_numbers: true"
      ])
    )
    expect(spec.fingerprint).toEqual({ matchEmbeddedNumbers: true })
    expect(spec.stages.map((stage) => stage.plugin.type)).toEqual(["explain"])
    expect(legacyNote).toBe(
      'deprecated: slowq fingerprints every event before the stages; remove "- type: fingerprint" (its match_embedded_numbers goes in the pipeline\'s fingerprint block)'
    )
    expect(spec.notes).toEqual([{ file, line: 6, column: 11, path: "stages.1.type", message: legacyNote }])
    expect(formatNotes(spec.notes ?? [])).toBe(`  pipelines/lab.yaml:6:11  stages.1.type  ${legacyNote}`)
  })

  it("the pipeline's fingerprint block sets the SQL engine's options, without a note", () => {
    const spec = specOf(
      yaml([
        "name: lab",
        "schedule: { every: 30s }",
        "source: { type: mysql_slow_log_table, url: mysql://db/test }",
        "fingerprint:",
        "  match_embedded_numbers: true"
      ])
    )
    expect([spec.fingerprint, spec.notes, spec.stages]).toEqual([{ matchEmbeddedNumbers: true }, undefined, []])
    const off = specOf(
      yaml(["name: lab", "schedule: { every: 30s }", "source: { type: mysql_slow_log_table, url: x }", "fingerprint: {}"])
    )
    expect(off.fingerprint).toBeUndefined()
  })

  it("interpolates ${VAR}, ${VAR:-default}, ${VAR-default} and $$ in every string, typing plain scalars again", () => {
    const text = yaml([
      "name: ${PIPELINE_NAME:-lab_default}",
      "schedule:",
      "  every: ${INTERVAL-45s}",
      "source:",
      "  type: mysql_slow_log_table",
      "  url: mysql://${DB_USER}@${DB_HOST:-127.0.0.1}:3306/te$$t",
      "  batch_size: ${BATCH_SIZE:-250}",
      '  password: "${DB_PASSWORD:-}x"'
    ])
    const unset = specOf(text, { DB_USER: "root", DB_HOST: "" })
    expect(unset.name).toBe("lab_default")
    assert(unset.schedule._tag === "Every")
    expect(unset.schedule.text).toBe("45s")
    const config = unset.source.config as { url: Redacted.Redacted<string>; batch_size: number; password: Redacted.Redacted<string> }
    expect(Redacted.value(config.url)).toBe("mysql://root@127.0.0.1:3306/te$t")
    expect(config.batch_size).toBe(250)
    expect(Redacted.value(config.password)).toBe("x")

    const set = specOf(text, {
      PIPELINE_NAME: "from_env",
      INTERVAL: "5m",
      DB_USER: "slowq",
      DB_HOST: "db.internal",
      BATCH_SIZE: "42",
      DB_PASSWORD: "pw"
    })
    expect(set.name).toBe("from_env")
    assert(set.schedule._tag === "Every")
    expect(Duration.toMillis(set.schedule.every)).toBe(300_000)
    const fromEnv = set.source.config as { url: Redacted.Redacted<string>; batch_size: number; password: Redacted.Redacted<string> }
    expect(Redacted.value(fromEnv.url)).toBe("mysql://slowq@db.internal:3306/te$t")
    expect(fromEnv.batch_size).toBe(42)
    expect(Redacted.value(fromEnv.password)).toBe("pwx")
  })

  it("types an interpolated value by the schema that reads it: a numeric password stays text", () => {
    const spec = specOf(
      yaml([
        "name: lab",
        "schedule: { every: 30s }",
        "source:",
        "  type: mysql_slow_log_table",
        "  url: mysql://root@db/test",
        "  password: ${DB_PASSWORD}",
        "  batch_size: ${BATCH_SIZE}"
      ]),
      { DB_PASSWORD: "123456", BATCH_SIZE: "75" }
    )
    const config = spec.source.config as { password: Redacted.Redacted<string>; batch_size: number }
    expect(Redacted.value(config.password)).toBe("123456")
    expect(config.batch_size).toBe(75)
  })

  it("reads password_file into password, relative to the pipeline file, without its trailing newline", () => {
    const read: Array<string> = []
    const spec = specOf(
      yaml([
        "name: lab",
        "schedule: { every: 30s }",
        "source:",
        "  type: mysql_slow_log_table",
        "  url: mysql://root@db/test",
        "  password_file: secrets/mysql_password"
      ]),
      {},
      (path) => {
        read.push(path)
        return Either.right("s3cr3t pass\n")
      }
    )
    expect(read).toEqual(["pipelines/secrets/mysql_password"])
    const config = spec.source.config as { password: Redacted.Redacted<string> }
    expect(Redacted.value(config.password)).toBe("s3cr3t pass")
    expect(Object.keys(spec.source.config as object).sort()).toEqual(["batch_size", "password", "type", "url"])
  })
})

describe("parsePipeline: golden problems", () => {
  it("bad plugin types list the valid values, for sources, stages and the sink", () => {
    expect(
      problemsOf(
        yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source:",
          "  type: mysql_slow_log_tabel",
          "  url: mysql://root@db/test",
          "stages:",
          "  - type: fingerprint",
          "  - type: explian",
          "sink:",
          "  type: stor"
        ])
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (3 problems)",
        '  pipelines/lab.yaml:4:9   source.type    unknown source type "mysql_slow_log_tabel" (valid values: mysql_slow_log_table | postgres_statements)',
        '  pipelines/lab.yaml:8:11  stages.1.type  unknown stage type "explian" (valid values: explain)',
        '  pipelines/lab.yaml:10:9  sink.type      unknown sink type "stor" (valid values: store)'
      ].join("\n")
    )
  })

  it("the sink's sample policy: one of raw | normalized | none", () => {
    const base = ["name: lab", "schedule: { every: 30s }", "source:", "  type: mysql_slow_log_table", "  url: mysql://root@db/test", "sink:", "  type: store"]
    expect(specOf(yaml([...base, "  samples: normalized"])).sink).toEqual({ type: "store", samples: "normalized" })
    expect(specOf(yaml([...base, "  samples: none"])).sink).toEqual({ type: "store", samples: "none" })
    expect(problemsOf(yaml([...base, "  samples: hashed"]))).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:8:12  sink.samples  Expected "raw" | "normalized" | "none", actual "hashed"'
      ].join("\n")
    )
  })

  it("an unknown key points at the key and lists the expected ones", () => {
    expect(
      problemsOf(
        yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source:",
          "  type: mysql_slow_log_table",
          "  url: mysql://root@db/test",
          "  tables: [a, b]",
          "stages:",
          "  - type: explain",
          "    max_per_runs: 3",
          "  - type: fingerprint",
          "sinks: store"
        ])
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (3 problems)",
        "  pipelines/lab.yaml:6:3   source.tables          is unexpected, expected one of: type | url | batch_size | password",
        "  pipelines/lab.yaml:9:5   stages.0.max_per_runs  is unexpected, expected one of: type | max_per_run | format",
        "  pipelines/lab.yaml:11:1  sinks                  is unexpected, expected one of: name | schedule | source | fingerprint | stages | sink"
      ].join("\n")
    )
  })

  it("a bad duration, a zero duration and a duration that is not text", () => {
    const withEvery = (every: string) =>
      problemsOf(yaml(["name: lab", "schedule:", `  every: ${every}`, "source: { type: mysql_slow_log_table, url: x }"]))
    expect(withEvery("30 seconds")).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:3:10  schedule.every  Expected a positive duration such as 500ms, 30s, 5m, 1h or 1d, actual "30 seconds"'
      ].join("\n")
    )
    expect(withEvery("0s")).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:3:10  schedule.every  Expected a positive duration such as 500ms, 30s, 5m, 1h or 1d, actual "0s"'
      ].join("\n")
    )
    expect(withEvery("30")).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:3:10  schedule.every  Expected a positive duration such as 500ms, 30s, 5m, 1h or 1d, actual 30"
      ].join("\n")
    )
  })

  it("a bad cron expression is caught at load time, with the reason", () => {
    expect(
      problemsOf(yaml(["name: lab", "schedule:", '  cron: "61 * * * *"', "source: { type: mysql_slow_log_table, url: x }"]))
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:3:9  schedule.cron  Expected a cron expression such as "*/5 * * * *", actual "61 * * * *" (expected a value between 0 and 59)'
      ].join("\n")
    )
    expect(
      problemsOf(yaml(["name: lab", "schedule:", '  cron: "*/5 * * *"', "source: { type: mysql_slow_log_table, url: x }"]))
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:3:9  schedule.cron  Expected a cron expression such as "*/5 * * * *", actual "*/5 * * *" (invalid number of segments in cron expression)'
      ].join("\n")
    )
  })

  it("a schedule needs exactly one of every and cron", () => {
    const withSchedule = (schedule: string) =>
      problemsOf(yaml(["name: lab", `schedule: ${schedule}`, "source: { type: mysql_slow_log_table, url: x }"]))
    expect(withSchedule('{ every: 30s, cron: "* * * * *" }')).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:2:11  schedule  has both every and cron; give exactly one"
      ].join("\n")
    )
    expect(withSchedule("{}")).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:2:11  schedule  needs one of: every (a duration such as 30s) | cron (such as "*/5 * * * *")'
      ].join("\n")
    )
    expect(withSchedule("30s")).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:2:11  schedule  Expected a mapping with keys: every | cron, actual "30s"'
      ].join("\n")
    )
  })

  it("an unset environment variable without a default is located where it is used", () => {
    expect(
      problemsOf(
        yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source:",
          "  type: mysql_slow_log_table",
          "  url: mysql://root@db/test",
          "  password: ${MYSQL_PASSWORD}"
        ]),
        { MYSQL_PASSWORD_TYPO: "x" }
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:6:13  source.password  environment variable MYSQL_PASSWORD is not set"
      ].join("\n")
    )
  })

  it("missing keys point at the map that lacks them", () => {
    expect(problemsOf(yaml(["schedule:", "  every: 30s", "stages:", "  - {}"]))).toBe(
      [
        "pipelines/lab.yaml is invalid (3 problems)",
        "  pipelines/lab.yaml:1:1  name           is missing",
        "  pipelines/lab.yaml:1:1  source         is missing",
        "  pipelines/lab.yaml:4:5  stages.0.type  is missing (valid values: explain)"
      ].join("\n")
    )
    expect(
      problemsOf(yaml(["name: lab", "schedule: { every: 30s }", "source:", "  type: mysql_slow_log_table", "  batch_size: 10"]))
    ).toBe(
      ["pipelines/lab.yaml is invalid (1 problem)", "  pipelines/lab.yaml:4:3  source.url  is missing"].join("\n")
    )
  })

  it("several problems in one file are all reported, sorted by line then column", () => {
    expect(
      problemsOf(
        yaml([
          "name: Lab-DB",
          "schedule: { every: soon }",
          "source:",
          "  type: mysql_slow_log_table",
          "  url: ''",
          "  batch_size: -5",
          "  tables: [a]",
          "stages: fingerprint",
          "sink:",
          "  type: stor",
          "  path: /tmp"
        ])
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (7 problems)",
        '  pipelines/lab.yaml:1:7   name               Expected a snake_case name such as lab_mariadb (a-z, 0-9, _), actual "Lab-DB"',
        '  pipelines/lab.yaml:2:20  schedule.every     Expected a positive duration such as 500ms, 30s, 5m, 1h or 1d, actual "soon"',
        "  pipelines/lab.yaml:5:8   source.url         Expected a non empty string, actual <redacted>",
        "  pipelines/lab.yaml:6:15  source.batch_size  Expected a number between 1 and 10000, actual -5",
        "  pipelines/lab.yaml:7:3   source.tables      is unexpected, expected one of: type | url | batch_size | password",
        '  pipelines/lab.yaml:8:9   stages             Expected a list, actual "fingerprint"',
        '  pipelines/lab.yaml:10:9  sink.type          unknown sink type "stor" (valid values: store)'
      ].join("\n")
    )
  })

  it("a stage list without fingerprint is valid: the runtime fingerprints every event before the stages", () => {
    const withStages = (stages: ReadonlyArray<string>) =>
      yaml(["name: lab", "schedule: { every: 30s }", "source: { type: mysql_slow_log_table, url: x }", ...stages])
    expect(specOf(withStages(["stages:", "  - type: explain"])).stages.map((stage) => stage.plugin.type)).toEqual(["explain"])
    expect(specOf(withStages(["stages: []"])).stages).toEqual([])
    // A misspelt fingerprint is one problem, not two.
    expect(problemsOf(withStages(["stages:", "  - type: fingerprnt"]))).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:5:11  stages.0.type  unknown stage type "fingerprnt" (valid values: explain)'
      ].join("\n")
    )
  })

  it("a legacy fingerprint stage's options are checked, and may not repeat the fingerprint block", () => {
    expect(
      problemsOf(
        yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source: { type: mysql_slow_log_table, url: x }",
          "fingerprint: { match_embedded_numbers: false }",
          "stages:",
          "  - type: fingerprint",
          "    match_embedded_numbers: true",
          "  - type: fingerprint",
          "    match_embeded_numbers: true"
        ])
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (2 problems)",
        "  pipelines/lab.yaml:4:16  fingerprint.match_embedded_numbers  is also given by the deprecated fingerprint stage; keep only this one",
        "  pipelines/lab.yaml:9:5   stages.1.match_embeded_numbers      is unexpected, expected one of: type | match_embedded_numbers"
      ].join("\n")
    )
  })

  it("a source of a dialect slowq cannot fingerprint, whose plugin brings no fingerprinter, is refused where it is named", () => {
    const redis = defineSource({
      type: "redis_slowlog",
      description: "Reads SLOWLOG GET.",
      dialect: "redis",
      fingerprinter: Fingerprinting.own(() => {
        throw new Error("never called at load")
      }),
      config: Schema.Struct({ type: Schema.Literal("redis_slowlog") }),
      layer: () => Layer.succeed(SlowQuerySource, { read: () => Stream.empty })
    })
    // As a plugin written without the SDK's types would arrive: no fingerprinter, or a dialect that is no id.
    const withSources = (...sources: ReadonlyArray<SourcePlugin>) => ({ ...registry, sources: [...registry.sources, ...sources] })
    const text = yaml(["name: cache", "schedule: { every: 30s }", "source:", "  type: redis_slowlog"])
    const parseWith = (source: SourcePlugin) =>
      parsePipeline({ file, text, registry: withSources(source), env: {}, readSecretFile: noSecretFiles })
    const problems = (source: SourcePlugin) =>
      Either.match(parseWith(source), { onLeft: formatConfigError, onRight: (spec) => `unexpectedly valid: ${spec.name}` })
    expect(problems({ ...redis, fingerprinter: Option.none() })).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:4:9  source.type  source plugin redis_slowlog collects redis statements, which slowq's SQL engine cannot fingerprint (it knows mysql | postgres), and brings no fingerprinter: give its defineSource a fingerprinter (Fingerprinting.own or Fingerprinting.layer) in plugins/redis_slowlog/index.ts"
      ].join("\n")
    )
    expect(problems({ ...redis, dialect: "Redis 7" })).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:4:9  source.type  source plugin redis_slowlog declares dialect "Redis 7", which is not a dialect id (a-z first, then a-z, 0-9, _): fix its defineSource in plugins/redis_slowlog/index.ts'
      ].join("\n")
    )
    expect(Either.map(parseWith(redis), (spec) => [spec.source.plugin.dialect, spec.stages])).toEqual(Either.right(["redis", []]))
  })

  it("YAML syntax errors are located problems", () => {
    expect(
      problemsOf(yaml(["name: lab", "schedule:", "  every: 30s", "source:", "  type: mysql_slow_log_table", "   url: x", "name: again"]))
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (2 problems)",
        "  pipelines/lab.yaml:5:9    invalid YAML: Nested mappings are not allowed in compact mappings",
        "  pipelines/lab.yaml:7:1    invalid YAML: Map keys must be unique"
      ].join("\n")
    )
  })

  it("an unquoted ${VAR} inside a flow mapping gets a hint instead of a cascade of parser errors", () => {
    expect(
      problemsOf(yaml(["name: lab", "schedule: { every: 30s }", "source: { type: mysql_slow_log_table, url: ${URL} }"]))
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:3:45    invalid YAML: Unexpected flow-map-start at node end (quote a value that uses ${...} inside { } or [ ])"
      ].join("\n")
    )
  })

  it("a value matching no member of a union is one problem listing the members", () => {
    expect(
      problemsOf(
        yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source: { type: mysql_slow_log_table, url: x }",
          "stages:",
          "  - type: fingerprint",
          "  - type: explain",
          "    format: xml"
        ])
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:7:13  stages.1.format  Expected "traditional" | "json", actual "xml"'
      ].join("\n")
    )
  })

  it("a file that is not a mapping, or is empty, is a problem", () => {
    expect(problemsOf(yaml(["- name: lab"]))).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        '  pipelines/lab.yaml:1:1    Expected a mapping with keys: name | schedule | source | fingerprint | stages | sink, actual [{"name":"lab"}]'
      ].join("\n")
    )
    expect(problemsOf("# only a comment\n")).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:1:1    Expected a mapping with keys: name | schedule | source | fingerprint | stages | sink, but the file is empty"
      ].join("\n")
    )
  })

  it("an unreadable secret file is a problem naming its path, and password with password_file conflict", () => {
    expect(
      problemsOf(
        yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source:",
          "  type: mysql_slow_log_table",
          "  url_file: /run/secrets/url",
          "  password: x",
          "  password_file: /run/secrets/password"
        ]),
        {},
        (path) => (path === "/run/secrets/url" ? Either.left("permission denied") : Either.right("unused"))
      )
    ).toBe(
      [
        "pipelines/lab.yaml is invalid (2 problems)",
        "  pipelines/lab.yaml:5:13  source.url_file       cannot read secret file /run/secrets/url: permission denied",
        "  pipelines/lab.yaml:7:3   source.password_file  conflicts with password; give only one of: password | password_file"
      ].join("\n")
    )
  })
})

describe("parsePipeline: secrets never appear in a problem", () => {
  const envSecret = "env-S3cret-Value-123"
  const fileSecret = "file-S3cret-Value-456"

  it("a value from the environment or a secret file, in the wrong place, is shown as <redacted>", () => {
    const output = problemsOf(
      yaml([
        "name: lab",
        "schedule:",
        "  every: ${MYSQL_PASSWORD}",
        "source:",
        "  type: mysql_slow_log_table",
        "  url: mysql://root@db/test",
        "  batch_size_file: /run/secrets/password",
        "stages:",
        "  - type: ${MYSQL_PASSWORD}",
        "  - type: fingerprint"
      ]),
      { MYSQL_PASSWORD: envSecret },
      () => Either.right(`${fileSecret}\n`)
    )
    expect(output).toBe(
      [
        "pipelines/lab.yaml is invalid (3 problems)",
        "  pipelines/lab.yaml:3:10  schedule.every          Expected a positive duration such as 500ms, 30s, 5m, 1h or 1d, actual <redacted>",
        "  pipelines/lab.yaml:7:20  source.batch_size_file  Expected number, actual <redacted>",
        "  pipelines/lab.yaml:9:11  stages.0.type           unknown stage type <redacted> (valid values: explain)"
      ].join("\n")
    )
    expect(output).not.toContain(envSecret)
    expect(output).not.toContain(fileSecret)
  })

  it("a Redacted field's value is never echoed, even when written in the file", () => {
    const output = problemsOf(
      yaml([
        "name: lab",
        "schedule: { every: 30s }",
        "source:",
        "  type: mysql_slow_log_table",
        "  url: [mysql://root:Lit3ral-Pass@db/test]",
        "  password: 12345678"
      ])
    )
    expect(output).toBe(
      [
        "pipelines/lab.yaml is invalid (2 problems)",
        "  pipelines/lab.yaml:5:8   source.url       Expected string, actual <redacted>",
        "  pipelines/lab.yaml:6:13  source.password  Expected string, actual <redacted>"
      ].join("\n")
    )
    expect(output).not.toContain("Lit3ral-Pass")
    expect(output).not.toContain("12345678")
  })

  it("a value quoted inside a struct-level message is redacted too", () => {
    const output = problemsOf(
      yaml(["name: lab", "schedule: ${SCHEDULE}", "source: { type: mysql_slow_log_table, url: x }"]),
      { SCHEDULE: envSecret }
    )
    expect(output).toBe(
      [
        "pipelines/lab.yaml is invalid (1 problem)",
        "  pipelines/lab.yaml:2:11  schedule  Expected a mapping with keys: every | cron, actual <redacted>"
      ].join("\n")
    )
  })
})

const loaderLayer = PipelineLoader.layer.pipe(
  Layer.provide(Layer.succeed(Plugins, registry)),
  Layer.provideMerge(NodeFileSystem.layer)
)

const writeFiles = (files: Record<string, string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "slowq-loader-" })
    for (const [name, text] of Object.entries(files)) yield* fs.writeFileString(`${dir}/${name}`, text)
    return dir
  })

const named = (name: string) =>
  yaml([`name: ${name}`, "schedule: { every: 30s }", "source: { type: mysql_slow_log_table, url: mysql://db/test }"])

const summary = (results: ReadonlyArray<Either.Either<PipelineSpec, ConfigError>>, dir: string) =>
  results.map((result) =>
    Either.match(result, {
      onLeft: (error) => formatConfigError(error).replaceAll(dir, "DIR"),
      onRight: (spec) => `ok ${spec.file.replace(dir, "DIR")} ${spec.name}`
    })
  )

describe("PipelineLoader", () => {
  it.scoped("loads every *.yaml and *.yml of a directory in name order, and flags names used twice", () =>
    Effect.gen(function* () {
      const dir = yield* writeFiles({
        "b.yaml": named("lab"),
        "a.yml": named("lab"),
        "c.yaml": named("other"),
        "d.yaml": "name: [\n",
        "notes.txt": "not a pipeline",
        ".hidden.yaml": named("hidden")
      })
      const loader = yield* PipelineLoader
      const results = yield* loader.loadDirectory(dir)
      expect(summary(results, dir)).toEqual([
        [
          "DIR/a.yml is invalid (1 problem)",
          "  DIR/a.yml:1:7  name  is also the name of DIR/b.yaml; pipeline names must be unique"
        ].join("\n"),
        [
          "DIR/b.yaml is invalid (1 problem)",
          "  DIR/b.yaml:1:7  name  is also the name of DIR/a.yml; pipeline names must be unique"
        ].join("\n"),
        "ok DIR/c.yaml other",
        [
          "DIR/d.yaml is invalid (1 problem)",
          "  DIR/d.yaml:2:1    invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]"
        ].join("\n")
      ])
    }).pipe(Effect.provide(loaderLayer))
  )

  it.scoped("reads secret files through the FileSystem and reports unreadable pipeline files", () =>
    Effect.gen(function* () {
      const dir = yield* writeFiles({
        "lab.yaml": yaml([
          "name: lab",
          "schedule: { every: 30s }",
          "source:",
          "  type: mysql_slow_log_table",
          "  url: mysql://root@db/test",
          "  password_file: password.txt"
        ]),
        "password.txt": "from-a-file\n"
      })
      const loader = yield* PipelineLoader
      const results = yield* loader.loadFiles([`${dir}/lab.yaml`, `${dir}/missing.yaml`, `${dir}/lab.yaml`])
      expect(results.length).toBe(2)
      const first = Either.getOrThrow(results[0]!)
      expect(Redacted.value((first.source.config as { password: Redacted.Redacted<string> }).password)).toBe("from-a-file")
      expect(summary(results.slice(1), dir)).toEqual([
        [
          "DIR/missing.yaml is invalid (1 problem)",
          "  DIR/missing.yaml:1:1    cannot read the file: no such file or directory"
        ].join("\n")
      ])
    }).pipe(Effect.provide(loaderLayer))
  )

  it.scoped("fails when the directory is missing or holds no pipeline", () =>
    Effect.gen(function* () {
      const dir = yield* writeFiles({ "README.md": "none here" })
      const loader = yield* PipelineLoader
      const empty = yield* Effect.flip(loader.loadDirectory(dir))
      expect(formatConfigError(empty).replaceAll(dir, "DIR")).toBe(
        ["DIR is invalid (1 problem)", "  DIR:1:1    has no pipeline files (*.yaml, *.yml)"].join("\n")
      )
      const missing = yield* Effect.flip(loader.loadDirectory(`${dir}/nope`))
      expect(formatConfigError(missing).replaceAll(dir, "DIR")).toBe(
        [
          "DIR/nope is invalid (1 problem)",
          "  DIR/nope:1:1    cannot read the pipelines directory: no such file or directory"
        ].join("\n")
      )
    }).pipe(Effect.provide(loaderLayer))
  )
})
