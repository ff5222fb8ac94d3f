/**
 * A pipeline file's tree decoded into a PipelineSpec: its own keys here, each block resolved by `type` in the registry
 * and decoded with that plugin's schema, secret files read into the keys they stand for. Every problem is collected,
 * at its path in the file, so that one run of `slowq validate` lists them all.
 */
import { dirname, isAbsolute, join } from "node:path"
import { Cron, Either, Option, ParseResult, Redacted, Schema } from "effect"
import { SamplePolicy } from "../domain/SamplePolicy.js"
import { Dialect } from "../domain/SlowQueryEvent.js"
import type { FingerprintOptions } from "../fingerprint/Fingerprinter.js"
import type { PluginRegistry, SourcePlugin, StagePlugin } from "../plugin/Plugin.js"
import { type ConfigError, type ConfigProblem, invalidFile } from "./ConfigProblems.js"
import { decodeAt, inputKeys, isRecord, type Provenance, showAt, showValue } from "./DecodeIssues.js"
import { parseDuration } from "../domain/Duration.js"
import { isLegacyFingerprintStage, LegacyFingerprintStage, legacyNote } from "./LegacyFingerprintStage.js"
import type { PipelineSchedule, PipelineSpec } from "./PipelineSpec.js"
import { locate, type Path, type PathProblem, type Position, pathId, showPath, start, startsWith, type Tree } from "./YamlTree.js"

/** Reads a `*_file` secret: its content, or why it could not be read (never the content). */
export type ReadSecretFile = (path: string) => Either.Either<string, string>

// ---------------------------------------------------------------------------------------------------------------------
// The pipeline's own keys

const describeExpected = (description: string) => (issue: ParseResult.ParseIssue) => ({
  message: `Expected ${description}, actual ${showValue(issue.actual)}`,
  override: true
})

const Name = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]*$/),
  Schema.annotations({ message: describeExpected("a snake_case name such as lab_mariadb (a-z, 0-9, _)") })
)

const Every = Schema.transformOrFail(
  Schema.String,
  Schema.Struct({ text: Schema.String, duration: Schema.DurationFromSelf }),
  {
    strict: true,
    decode: (text, _, ast) =>
      Option.match(parseDuration(text), {
        onNone: () => ParseResult.fail(new ParseResult.Type(ast, text)),
        onSome: (duration) => ParseResult.succeed({ text, duration })
      }),
    encode: ({ text }) => ParseResult.succeed(text)
  }
).annotations({ message: describeExpected("a positive duration such as 500ms, 30s, 5m, 1h or 1d") })

const cronExample = `"*/5 * * * *"`
const cronReason = (actual: unknown): string => {
  const text = Redacted.isRedacted(actual) ? Redacted.value(actual) : actual
  if (typeof text !== "string") return ""
  // Cron's messages never quote the input, so the reason is safe to show even for a redacted value.
  return Either.match(Cron.parse(text), {
    onLeft: (error) => ` (${error.message.charAt(0).toLowerCase()}${error.message.slice(1)})`,
    onRight: () => ""
  })
}

const CronFromSelf = Schema.declare(Cron.isCron, { identifier: "Cron" })

const CronText = Schema.transformOrFail(
  Schema.String,
  Schema.Struct({ text: Schema.String, cron: CronFromSelf }),
  {
    strict: true,
    // Parsed now because Schedule.cron would only parse it when the pipeline first runs.
    decode: (text, _, ast) =>
      Either.match(Cron.parse(text), {
        onLeft: () => ParseResult.fail(new ParseResult.Type(ast, text)),
        onRight: (cron) => ParseResult.succeed({ text, cron })
      }),
    encode: ({ text }) => ParseResult.succeed(text)
  }
).annotations({
  message: (issue) => ({
    message: `Expected a cron expression such as ${cronExample}, actual ${showValue(issue.actual)}${cronReason(issue.actual)}`,
    override: true
  })
})

const Schedule = Schema.transformOrFail(
  Schema.Struct({
    every: Schema.optionalWith(Every, { exact: true }),
    cron: Schema.optionalWith(CronText, { exact: true })
  }),
  Schema.Union(
    Schema.TaggedStruct("Every", { every: Schema.DurationFromSelf, text: Schema.String }),
    Schema.TaggedStruct("Cron", { cron: CronFromSelf, text: Schema.String })
  ),
  {
    strict: true,
    decode: ({ cron, every }, _, ast) => {
      if (every !== undefined && cron === undefined) {
        return ParseResult.succeed({ _tag: "Every" as const, every: every.duration, text: every.text })
      }
      if (cron !== undefined && every === undefined) {
        return ParseResult.succeed({ _tag: "Cron" as const, cron: cron.cron, text: cron.text })
      }
      const message =
        every === undefined
          ? `needs one of: every (a duration such as 30s) | cron (such as ${cronExample})`
          : "has both every and cron; give exactly one"
      return ParseResult.fail(new ParseResult.Type(ast, { cron, every }, message))
    },
    encode: (schedule) =>
      ParseResult.succeed(
        schedule._tag === "Every"
          ? { every: { text: schedule.text, duration: schedule.every } }
          : { cron: { text: schedule.text, cron: schedule.cron } }
      )
  }
)

const topLevelKeys = ["name", "schedule", "source", "fingerprint", "stages", "sink"] as const

/** Options of slowq's SQL engine, which fingerprints every event of a `mysql` or `postgres` source before the stages. */
const FingerprintBlock = Schema.Struct({
  // The description goes on the inner schema: on the optional wrapper it would not reach the JSON schema.
  match_embedded_numbers: Schema.optionalWith(
    Schema.Boolean.annotations({
      description:
        "MySQL/MariaDB only: keep numbers inside identifiers, so that users_2009 and users_2010 stay two groups (pt-query-digest's --preserve-embedded-numbers). Off by default, like pt-query-digest, whose Query IDs slowq's ids then equal."
    }),
    { exact: true }
  )
})

// source, stages and sink are checked against the registry after this, each with its plugin's own schema.
const TopLevel = Schema.Struct({
  name: Name,
  schedule: Schedule,
  source: Schema.Unknown,
  fingerprint: Schema.optionalWith(FingerprintBlock, { exact: true }),
  stages: Schema.optionalWith(Schema.Array(Schema.Unknown), { exact: true }),
  sink: Schema.optionalWith(Schema.Unknown, { exact: true })
})

/** Something a block (`source`, a stage, `sink`) resolves to by its `type`. */
interface Component {
  readonly type: string
  readonly config: Schema.Schema.AnyNoContext
}

const StoreSinkConfig = Schema.Struct({
  type: Schema.Literal("store"),
  samples: Schema.optionalWith(SamplePolicy, { exact: true, default: () => "raw" as const })
})
const storeSink = { type: "store", config: StoreSinkConfig } as const
const isStoreSinkConfig = Schema.is(StoreSinkConfig)
const sinks: ReadonlyArray<Component> = [storeSink]

// ---------------------------------------------------------------------------------------------------------------------
// Secret files: `password_file: /run/secrets/pw` supplies `password` when the plugin's schema has `password`.

interface SecretReference {
  readonly key: string
  readonly target: string
}

const secretReferences = (block: Readonly<Record<string, unknown>>, component: Component): Array<SecretReference> => {
  const keys = inputKeys(component.config.ast)
  if (keys === undefined) return []
  return Object.keys(block).flatMap((key) => {
    const target = key.slice(0, -"_file".length)
    // `type` picks the plugin, so it is never a secret.
    const applies = key.endsWith("_file") && target !== "" && target !== "type" && keys.includes(target) && !keys.includes(key)
    return applies ? [{ key, target }] : []
  })
}

const secretPath = (pipelineFile: string, written: string): string =>
  isAbsolute(written) ? written : join(dirname(pipelineFile), written)

// Files often end with a newline that is not part of the secret.
const trimTrailingNewlines = (content: string): string => {
  let end = content.length
  while (end > 0 && (content[end - 1] === "\n" || content[end - 1] === "\r")) end--
  return content.slice(0, end)
}

const lookupComponent = (components: ReadonlyArray<Component>, block: unknown): Component | undefined =>
  isRecord(block) ? components.find((component) => component.type === block.type) : undefined

/** The secret files a document refers to, so that an effectful caller can read them before decoding. */
export const secretFilesOf = (file: string, tree: Tree, registry: PluginRegistry): ReadonlyArray<string> => {
  if (!isRecord(tree.root)) return []
  const stages: ReadonlyArray<unknown> = Array.isArray(tree.root.stages) ? tree.root.stages : []
  const blocks: Array<[unknown, Path, ReadonlyArray<Component>]> = [
    [tree.root.source, ["source"], registry.sources],
    ...stages.map((stage, index): [unknown, Path, ReadonlyArray<Component>] => [stage, ["stages", index], registry.stages])
  ]
  return blocks.flatMap(([block, path, components]) => {
    const component = lookupComponent(components, block)
    if (component === undefined || !isRecord(block)) return []
    return secretReferences(block, component).flatMap(({ key, target }) => {
      const written = block[key]
      const interpolated = !tree.broken.some((broken) => startsWith([...path, key], broken))
      return typeof written === "string" && written !== "" && interpolated && !Object.hasOwn(block, target)
        ? [secretPath(file, written)]
        : []
    })
  })
}

// ---------------------------------------------------------------------------------------------------------------------
// Decoding

export interface Loaded {
  readonly spec: PipelineSpec
  /** Where the name is written, for the check across files that names must be unique. */
  readonly nameAt: Position
}

/** What decoding one file has found so far: the steps below add to it, `finish` turns it into the result. */
interface Decoding extends Provenance {
  readonly file: string
  readonly tree: Tree
  readonly readSecretFile: ReadSecretFile
  readonly problems: Array<PathProblem>
  /** Deprecations: the file is valid, but should change. */
  readonly notes: Array<PathProblem>
  // Secret files add to what the tree found: the values they supply are secrets, retyped as the schema reads them.
  readonly secrets: Array<Path>
  readonly secretValues: Array<string>
  readonly broken: Array<Path>
  readonly retypable: Set<string>
  /** A value read from `X_file` is reported at `X_file`, where the user wrote something. */
  readonly aliases: Array<readonly [target: Path, alias: Path]>
}

const decodeWith = <S extends Schema.Schema.AnyNoContext>(
  decoding: Decoding,
  schema: S,
  value: unknown,
  path: Path
): Option.Option<Schema.Schema.Type<S>> =>
  Either.match(decodeAt(schema, value, path, decoding), {
    onLeft: (found) => {
      // One at a time: a spread of 64k problems would overflow the call's arguments.
      for (const problem of found) decoding.problems.push(problem)
      return Option.none()
    },
    onRight: Option.some
  })

const show = (decoding: Decoding, value: unknown, path: Path): string => showAt(value, path, decoding.secrets)

/** The block as its plugin's schema reads it: each `X_file` key replaced by `X`, holding the file's content. */
const withSecretFiles = (
  decoding: Decoding,
  block: Readonly<Record<string, unknown>>,
  component: Component,
  path: Path
): Record<string, unknown> => {
  const { aliases, broken, problems, retypable, secrets, secretValues } = decoding
  const input: Record<string, unknown> = { ...block }
  for (const { key, target } of secretReferences(block, component)) {
    const keyPath = [...path, key]
    const targetPath = [...path, target]
    const written = block[key]
    delete input[key]
    if (Object.hasOwn(block, target)) {
      problems.push({ path: keyPath, anchor: "key", message: `conflicts with ${target}; give only one of: ${target} | ${key}` })
      continue
    }
    aliases.push([targetPath, keyPath])
    if (broken.some((b) => startsWith(keyPath, b))) {
      broken.push(targetPath)
    } else if (typeof written !== "string" || written === "") {
      problems.push({ path: keyPath, anchor: "value", message: `Expected a file path, actual ${show(decoding, written, keyPath)}` })
      broken.push(targetPath)
    } else {
      const secretFile = secretPath(decoding.file, written)
      Either.match(decoding.readSecretFile(secretFile), {
        onLeft: (reason) => {
          problems.push({ path: keyPath, anchor: "value", message: `cannot read secret file ${secretFile}: ${reason}` })
          broken.push(targetPath)
        },
        onRight: (content) => {
          const secret = trimTrailingNewlines(content)
          input[target] = secret
          retypable.add(pathId(targetPath))
          secrets.push(targetPath)
          secretValues.push(secret)
        }
      })
    }
  }
  return input
}

/** Resolves a block by its `type` and decodes it with that component's schema. */
const decodeBlock = <C extends Component>(
  decoding: Decoding,
  kind: string,
  components: ReadonlyArray<C>,
  block: unknown,
  path: Path
): Option.Option<{ readonly component: C; readonly config: unknown }> => {
  const { problems } = decoding
  const valid =
    components.length === 0 ? `no ${kind} plugins are registered` : `valid values: ${components.map((c) => c.type).join(" | ")}`
  if (!isRecord(block)) {
    problems.push({
      path,
      anchor: "value",
      message: `Expected a mapping with a type (${valid}), actual ${show(decoding, block, path)}`
    })
    return Option.none()
  }
  const typePath = [...path, "type"]
  if (!Object.hasOwn(block, "type")) {
    problems.push({ path: typePath, anchor: "parent", message: `is missing (${valid})` })
    return Option.none()
  }
  const component = components.find((c) => c.type === block.type)
  if (component === undefined) {
    const message = `unknown ${kind} type ${show(decoding, block.type, typePath)} (${valid})`
    problems.push({ path: typePath, anchor: "value", message })
    return Option.none()
  }
  const input = withSecretFiles(decoding, block, component, path)
  return Option.map(decodeWith(decoding, component.config, input, path), (config) => ({ component, config }))
}

type Stages = ReadonlyArray<{ readonly plugin: StagePlugin; readonly config: unknown }>

interface DecodedStages {
  readonly stages: Stages
  /** `match_embedded_numbers` of a legacy `- type: fingerprint` entry, when it gives one. */
  readonly legacyMatchEmbeddedNumbers: Option.Option<boolean>
}

/** The stages as written (none when absent), a legacy fingerprint entry taken out with a note. */
const decodeStages = (decoding: Decoding, registry: PluginRegistry, written: unknown): Option.Option<DecodedStages> => {
  if (written === undefined) return Option.some({ stages: [], legacyMatchEmbeddedNumbers: Option.none() })
  // Anything but a list is reported by TopLevel.
  if (!Array.isArray(written)) return Option.none()
  let legacyMatchEmbeddedNumbers = Option.none<boolean>()
  const decoded: Array<Option.Option<Stages[number]>> = []
  written.forEach((stage: unknown, index) => {
    const path = ["stages", index]
    if (isLegacyFingerprintStage(stage)) {
      decoding.notes.push({ path: [...path, "type"], anchor: "value", message: legacyNote })
      const legacy = decodeWith(decoding, LegacyFingerprintStage, stage, path)
      if (Option.isSome(legacy) && legacy.value.match_embedded_numbers !== undefined) {
        legacyMatchEmbeddedNumbers = Option.some(legacy.value.match_embedded_numbers)
      }
      return
    }
    decoded.push(
      Option.map(decodeBlock<StagePlugin>(decoding, "stage", registry.stages, stage, path), ({ component, config }) => ({
        plugin: component,
        config
      }))
    )
  })
  return Option.map(Option.all(decoded), (stages) => ({ stages, legacyMatchEmbeddedNumbers }))
}

/** The SQL engine's options: the pipeline's fingerprint block, or what a legacy fingerprint stage gave. */
const fingerprintOptions = (
  decoding: Decoding,
  block: typeof FingerprintBlock.Type | undefined,
  legacy: Option.Option<boolean>
): FingerprintOptions | undefined => {
  if (Option.isSome(legacy) && block?.match_embedded_numbers !== undefined) {
    const message = "is also given by the deprecated fingerprint stage; keep only this one"
    decoding.problems.push({ path: ["fingerprint", "match_embedded_numbers"], anchor: "key", message })
  }
  const matchEmbeddedNumbers = block?.match_embedded_numbers ?? Option.getOrUndefined(legacy)
  return matchEmbeddedNumbers === undefined ? undefined : { matchEmbeddedNumbers }
}

/** A source slowq cannot fingerprint cannot run: its plugin must bring a fingerprinter for its dialect. */
const checkFingerprinter = (decoding: Decoding, plugin: SourcePlugin): void => {
  const where = `plugins/${plugin.type}/index.ts`
  if (!Schema.is(Dialect)(plugin.dialect)) {
    decoding.problems.push({
      path: ["source", "type"],
      anchor: "value",
      message: `source plugin ${plugin.type} declares dialect ${showValue(plugin.dialect)}, which is not a dialect id (a-z first, then a-z, 0-9, _): fix its defineSource in ${where}`
    })
  } else if (Option.isNone(plugin.fingerprinter)) {
    decoding.problems.push({
      path: ["source", "type"],
      anchor: "value",
      message: `source plugin ${plugin.type} collects ${plugin.dialect} statements, which slowq's SQL engine cannot fingerprint (it knows mysql | postgres), and brings no fingerprinter: give its defineSource a fingerprinter (Fingerprinting.own or Fingerprinting.layer) in ${where}`
    })
  }
}

const located = (decoding: Decoding, problem: PathProblem): ConfigProblem => {
  let path = problem.path
  for (const [target, alias] of decoding.aliases) {
    if (startsWith(path, target)) path = [...alias, ...path.slice(target.length)]
  }
  return { file: decoding.file, ...locate(decoding.tree, path, problem.anchor), path: showPath(path), message: problem.message }
}

const finish = (decoding: Decoding, loaded: Option.Option<Loaded>): Either.Either<Loaded, ConfigError> => {
  const { broken, problems, secretValues, tree } = decoding
  const reported = [...tree.problems, ...problems.filter((problem) => !broken.some((b) => startsWith(problem.path, b)))]
  // Last resort for a message that quotes a secret some other way; short values would mangle ordinary words.
  const scrub = (message: string): string =>
    secretValues.reduce((text, secret) => (secret.length >= 6 ? text.replaceAll(secret, "<redacted>") : text), message)
  const all = reported.map((problem) => located(decoding, problem)).map((problem) => ({ ...problem, message: scrub(problem.message) }))
  if (all.length > 0 || Option.isNone(loaded)) return Either.left(invalidFile(decoding.file, all))
  if (decoding.notes.length === 0) return Either.right(loaded.value)
  const notes = decoding.notes.map((note) => located(decoding, note))
  return Either.right({ ...loaded.value, spec: { ...loaded.value.spec, notes } })
}

export const decodeTree = (
  file: string,
  tree: Tree,
  registry: PluginRegistry,
  readSecretFile: ReadSecretFile
): Either.Either<Loaded, ConfigError> => {
  const decoding: Decoding = {
    file,
    tree,
    readSecretFile,
    problems: [],
    notes: [],
    secrets: [...tree.secrets],
    secretValues: [...tree.secretValues],
    broken: [...tree.broken],
    retypable: new Set(tree.retypable),
    aliases: []
  }
  const root = tree.root
  if (!isRecord(root)) {
    const found = root === null ? "but the file is empty" : `actual ${show(decoding, root, [])}`
    const message = `Expected a mapping with keys: ${topLevelKeys.join(" | ")}, ${found}`
    decoding.problems.push({ path: [], anchor: "value", message })
    return finish(decoding, Option.none())
  }

  const top = decodeWith(decoding, TopLevel, root, [])
  if (!Object.hasOwn(root, "source")) decoding.problems.push({ path: ["source"], anchor: "parent", message: "is missing" })
  const source = Object.hasOwn(root, "source")
    ? decodeBlock<SourcePlugin>(decoding, "source", registry.sources, root.source, ["source"])
    : Option.none()
  if (Option.isSome(source)) checkFingerprinter(decoding, source.value.component)
  const stages = decodeStages(decoding, registry, root.stages)
  const sink: Option.Option<PipelineSpec["sink"]> =
    root.sink === undefined
      ? Option.some({ type: "store", samples: "raw" })
      : Option.map(decodeBlock(decoding, "sink", sinks, root.sink, ["sink"]), ({ config }) => ({
          type: "store",
          samples: isStoreSinkConfig(config) ? config.samples : "raw"
        }))

  const loaded = Option.all({ top, source, stages, sink }).pipe(
    Option.map(({ top, source, stages, sink }): Loaded => {
      const schedule: PipelineSchedule = top.schedule
      const fingerprint = fingerprintOptions(decoding, top.fingerprint, stages.legacyMatchEmbeddedNumbers)
      return {
        spec: {
          name: top.name,
          file,
          schedule,
          source: { plugin: source.component, config: source.config },
          stages: stages.stages,
          sink,
          ...(fingerprint === undefined ? {} : { fingerprint })
        },
        nameAt: tree.locations.get(pathId(["name"]))?.value ?? start
      }
    })
  )
  return finish(decoding, loaded)
}
