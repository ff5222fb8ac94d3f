import { dirname, isAbsolute, join, normalize } from "node:path"
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import {
  Array as Arr,
  Context,
  Cron,
  Effect,
  Either,
  Layer,
  Option,
  ParseResult,
  Redacted,
  Schema,
  SchemaAST
} from "effect"
import { type Document, isAlias, isMap, isNode, isPair, isScalar, isSeq, LineCounter, type Pair, parseDocument, Scalar } from "yaml"
import { type PluginRegistry, Plugins, type SourcePlugin, type StagePlugin } from "../plugin/Plugin.js"
import { parseDuration } from "./Duration.js"
import { type Environment, interpolate } from "./Interpolate.js"
import { ConfigError, type ConfigProblem, type PipelineSchedule, type PipelineSpec } from "./PipelineSpec.js"

/** Reads a `*_file` secret: its content, or why it could not be read (never the content). */
export type ReadSecretFile = (path: string) => Either.Either<string, string>

export interface ParsePipelineInput {
  readonly file: string
  readonly text: string
  readonly registry: PluginRegistry
  readonly env: Environment
  readonly readSecretFile: ReadSecretFile
}

// ---------------------------------------------------------------------------------------------------------------------
// Paths and locations

type Segment = string | number
type Path = ReadonlyArray<Segment>

// JSON rather than a dotted join, so that the root and a key "" or "a.b" and ["a", "b"] never collide.
const pathId = (path: Path): string => JSON.stringify(path)
const showPath = (path: Path): string => path.join(".")
const startsWith = (path: Path, prefix: Path): boolean =>
  prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment)

interface Position {
  readonly line: number
  readonly column: number
}

interface Located {
  readonly key: Position | undefined
  readonly value: Position
}

/** Where a problem points: the key (an unknown key), the value (a bad value) or the enclosing map (a missing key). */
type Anchor = "key" | "value" | "parent"

interface PathProblem {
  readonly path: Path
  readonly anchor: Anchor
  readonly message: string
}

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Redacted.isRedacted(u)

/** A value as problems quote it (the way effect's messages do), with anything Redacted shown as `<redacted>`. */
const showValue = (u: unknown): string => {
  if (Redacted.isRedacted(u)) return "<redacted>"
  if (typeof u === "string") return JSON.stringify(u)
  if (Array.isArray(u)) return `[${u.map(showValue).join(",")}]`
  if (isRecord(u)) return `{${Object.entries(u).map(([key, value]) => `${JSON.stringify(key)}:${showValue(value)}`).join(",")}}`
  return String(u)
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading the YAML: one walk over the document builds the plain value to decode, interpolating every string scalar,
// and records where each path sits in the file and which values came from the environment.

interface Tree {
  readonly root: unknown
  readonly locations: ReadonlyMap<string, Located>
  /** Paths whose value came from the environment: never echoed. */
  readonly secrets: ReadonlyArray<Path>
  /** The values themselves, for the last scrub of every message. */
  readonly secretValues: ReadonlyArray<string>
  /** Paths whose interpolation failed: a later problem there repeats the one already reported. */
  readonly broken: ReadonlyArray<Path>
  /** Unquoted scalars that were interpolated: typed by the schema that reads them, as compose does. */
  readonly retypable: ReadonlySet<string>
  readonly problems: ReadonlyArray<PathProblem>
}

// Bounds the walk of a document whose aliases expand exponentially ("billion laughs").
const maxNodes = 100_000

/**
 * The keys that repeat an earlier key of the same mapping, as yaml words it. yaml's own check (`uniqueKeys`) compares
 * each key with every earlier one, so 64k keys took 36 s; a set per mapping makes it linear.
 */
const duplicateKeys = (doc: Document.Parsed): Array<{ readonly pos: readonly [number]; readonly message: string }> => {
  const found: Array<{ readonly pos: readonly [number]; readonly message: string }> = []
  // A stack rather than recursion: nesting depth is the file's to choose.
  const pending: Array<unknown> = [doc.contents]
  while (pending.length > 0) {
    const node = pending.pop()
    if (isMap(node)) {
      const seen = new Set<unknown>()
      for (const pair of node.items) {
        const key = pair.key
        // yaml compares scalar keys by value (`===`, so NaN never repeats) and other keys by identity.
        const id = isScalar(key) ? key.value : key
        if (typeof id === "number" && Number.isNaN(id)) continue
        if (seen.has(id) && isNode(key) && key.range) found.push({ pos: [key.range[0]], message: "Map keys must be unique" })
        seen.add(id)
        pending.push(pair.key, pair.value)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) pending.push(item)
    } else if (isPair(node)) {
      pending.push(node.key, node.value)
    }
  }
  return found
}

const readDocument = (
  file: string,
  text: string,
  env: Environment
): Either.Either<Tree, ReadonlyArray<ConfigProblem>> => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false })
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const errors = [...doc.errors, ...duplicateKeys(doc)].sort((a, b) => a.pos[0] - b.pos[0])
  // After a mistake the parser reports the rest of the line as a cascade of errors; the first one says it best.
  const syntax = new Map<number, ConfigProblem>()
  for (const error of [...errors, ...doc.warnings]) {
    const offset = error.pos[0]
    const position = at(offset)
    // In a flow collection `{`, `}` and `,` are syntax, so `{url: ${URL}}` breaks unless the value is quoted.
    const hint = text[offset] === "{" && text[offset - 1] === "$" ? ` (quote a value that uses \${...} inside { } or [ ])` : ""
    if (!syntax.has(position.line)) {
      syntax.set(position.line, { file, ...position, path: "", message: `invalid YAML: ${error.message}${hint}` })
    }
  }
  if (syntax.size > 0) return Either.left([...syntax.values()].sort((a, b) => a.line - b.line || a.column - b.column))

  const locations = new Map<string, Located>()
  const secrets: Array<Path> = []
  const secretValues: Array<string> = []
  const broken: Array<Path> = []
  const retypable = new Set<string>()
  const problems: Array<PathProblem> = []
  let nodes = 0

  const positionOf = (node: unknown): Position | undefined =>
    typeof node === "object" && node !== null && "range" in node && Array.isArray(node.range)
      ? at(Number(node.range[0]))
      : undefined

  const readPairs = (pairs: ReadonlyArray<Pair<unknown, unknown>>, path: Path): Record<string, unknown> => {
    const entries: Array<[string, unknown]> = []
    for (const pair of pairs) {
      const keyNode = pair.key
      const keyPosition = positionOf(keyNode)
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === "object") {
        problems.push({ path, anchor: "value", message: "has a key that is not a plain name" })
        continue
      }
      const key = String(keyNode.value)
      const childPath = [...path, key]
      const valuePosition = positionOf(pair.value) ?? keyPosition ?? { line: 1, column: 1 }
      locations.set(pathId(childPath), { key: keyPosition, value: valuePosition })
      entries.push([key, readNode(pair.value, childPath)])
    }
    // fromEntries defines own properties, so a key named __proto__ stays data.
    return Object.fromEntries(entries)
  }

  const readNode = (node: unknown, path: Path): unknown => {
    if (++nodes > maxNodes) {
      if (nodes === maxNodes + 1) problems.push({ path, anchor: "value", message: "expands to too many values (aliases?)" })
      return null
    }
    if (isAlias(node)) return readNode(node.resolve(doc), path)
    if (isMap(node)) return readPairs(node.items, path)
    if (isPair(node)) return readPairs([node], path)
    if (isSeq(node)) {
      return node.items.map((item, index) => {
        const itemPath = [...path, index]
        const value = positionOf(item) ?? locations.get(pathId(path))?.value ?? { line: 1, column: 1 }
        locations.set(pathId(itemPath), { key: undefined, value })
        return readNode(item, itemPath)
      })
    }
    if (!isScalar(node)) return null
    const raw = node.value
    if (typeof raw !== "string") return raw
    return Either.match(interpolate(raw, env), {
      onLeft: (messages) => {
        for (const message of messages) problems.push({ path, anchor: "value", message })
        broken.push(path)
        return raw
      },
      onRight: ({ fromEnvironment, substituted, value }) => {
        if (fromEnvironment) {
          secrets.push(path)
          secretValues.push(value)
        }
        if (substituted && node.type === Scalar.PLAIN && node.tag === undefined) retypable.add(pathId(path))
        return value
      }
    })
  }

  locations.set(pathId([]), { key: undefined, value: positionOf(doc.contents) ?? { line: 1, column: 1 } })
  const root = readNode(doc.contents, [])
  return Either.right({ root, locations, secrets, secretValues, broken, retypable, problems })
}

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

const topLevelKeys = ["name", "schedule", "source", "stages", "sink"] as const

// source, stages and sink are checked against the registry after this, each with its plugin's own schema.
const TopLevel = Schema.Struct({
  name: Name,
  schedule: Schedule,
  source: Schema.Unknown,
  stages: Schema.optionalWith(Schema.Array(Schema.Unknown), { exact: true }),
  sink: Schema.optionalWith(Schema.Unknown, { exact: true })
})

/** Something a block (`source`, a stage, `sink`) resolves to by its `type`. */
interface Component {
  readonly type: string
  readonly config: Schema.Schema.AnyNoContext
}

const storeSink = { type: "store", config: Schema.Struct({ type: Schema.Literal("store") }) } as const
const sinks: ReadonlyArray<Component> = [storeSink]

// ---------------------------------------------------------------------------------------------------------------------
// Schema introspection

const isRedactedDeclaration = (ast: SchemaAST.AST): boolean =>
  SchemaAST.isDeclaration(ast) &&
  Option.exists(SchemaAST.getTypeConstructorAnnotation(ast), (annotation) => annotation._tag === "effect/Redacted")

const isRedactedSchema = (ast: SchemaAST.AST): boolean =>
  isRedactedDeclaration(ast) || (SchemaAST.isTransformation(ast) && isRedactedDeclaration(ast.to))

/** The keys a struct-like schema accepts as input, in declaration order. */
const inputKeys = (ast: SchemaAST.AST): ReadonlyArray<string> | undefined => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.map((signature) => String(signature.name))
    case "Transformation":
      return inputKeys(ast.from)
    case "Refinement":
      return inputKeys(ast.from)
    case "Suspend":
      return inputKeys(ast.f())
    default:
      return undefined
  }
}

/** The schema of a key or index inside a struct-, tuple- or union-shaped schema, as its input is read. */
const schemaAt = (ast: SchemaAST.AST | undefined, segment: Segment): SchemaAST.AST | undefined => {
  switch (ast?._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.find((signature) => signature.name === segment)?.type
    case "TupleType":
      return typeof segment === "number" ? (ast.elements[segment]?.type ?? ast.rest[0]?.type) : undefined
    case "Transformation":
    case "Refinement":
      return schemaAt(ast.from, segment)
    case "Suspend":
      return schemaAt(ast.f(), segment)
    case "Union":
      return ast.types.map((member) => schemaAt(member, segment)).find((found) => found !== undefined)
    default:
      return undefined
  }
}

/** Whether a schema takes input of this JavaScript type. */
const accepts = (ast: SchemaAST.AST, kind: "string" | "number" | "boolean"): boolean => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return kind === "string"
    case "NumberKeyword":
      return kind === "number"
    case "BooleanKeyword":
      return kind === "boolean"
    case "Literal":
      return typeof ast.literal === kind
    case "Transformation":
    case "Refinement":
      return accepts(ast.from, kind)
    case "Suspend":
      return accepts(ast.f(), kind)
    case "Union":
      return ast.types.some((member) => accepts(member, kind))
    default:
      return false
  }
}

// YAML 1.2 core schema forms: `batch_size: ${BATCH:-500}` is the number 500, `password: ${PW}` stays text.
const numberPattern = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/
const retype = (ast: SchemaAST.AST | undefined, text: string): unknown => {
  if (ast === undefined || accepts(ast, "string")) return text
  if (accepts(ast, "number") && numberPattern.test(text)) return Number(text)
  if (accepts(ast, "boolean") && (text === "true" || text === "false")) return text === "true"
  return text
}

const hasMessageAnnotation = (ast: SchemaAST.AST): boolean => Option.isSome(SchemaAST.getMessageAnnotation(ast))

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
const secretFilesOf = (file: string, tree: Tree, registry: PluginRegistry): ReadonlyArray<string> => {
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

interface Loaded {
  readonly spec: PipelineSpec
  readonly nameAt: Position
}

const decodeTree = (
  file: string,
  tree: Tree,
  registry: PluginRegistry,
  readSecretFile: ReadSecretFile
): Either.Either<Loaded, ConfigError> => {
  const problems: Array<PathProblem> = []
  const secrets: Array<Path> = [...tree.secrets]
  const secretValues: Array<string> = [...tree.secretValues]
  const broken: Array<Path> = [...tree.broken]
  const retypable = new Set(tree.retypable)
  // A value read from `X_file` is reported at `X_file`, where the user wrote something.
  const aliases: Array<readonly [target: Path, alias: Path]> = []

  const isSecret = (path: Path): boolean => secrets.some((secret) => pathId(secret) === pathId(path))
  const hasSecretBelow = (path: Path): boolean =>
    secrets.some((secret) => secret.length > path.length && startsWith(secret, path))

  /** `value` as it may be shown: secrets, and anything a Redacted schema holds, become `<redacted>`. */
  const redact = (value: unknown, path: Path, redacted: boolean): unknown => {
    if (redacted || isSecret(path)) return Redacted.isRedacted(value) ? value : Redacted.make(value)
    if (!hasSecretBelow(path)) return value
    if (Array.isArray(value)) return value.map((item, index) => redact(item, [...path, index], false))
    if (isRecord(value)) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redact(item, [...path, key], false)]))
    }
    return value
  }

  // A message the schema's author wrote may quote the value; when that value is secret, cut it out.
  const scrubAuthored = (message: string | undefined, actual: unknown, shown: unknown): string | undefined =>
    message === undefined || shown === actual || typeof actual !== "string" || actual === ""
      ? message
      : message.replaceAll(JSON.stringify(actual), "<redacted>").replaceAll(actual, "<redacted>")

  const segments = (path: PropertyKey | ReadonlyArray<PropertyKey>): Path =>
    (Array.isArray(path) ? path : [path]).map((segment: PropertyKey) =>
      typeof segment === "number" ? segment : String(segment)
    )

  /** The same issue with every `actual` that must not be shown replaced by a Redacted, whose text is `<redacted>`. */
  const redactIssue = (issue: ParseResult.ParseIssue, path: Path, redacted: boolean): ParseResult.ParseIssue => {
    switch (issue._tag) {
      case "Type": {
        const shown = redact(issue.actual, path, redacted)
        return new ParseResult.Type(issue.ast, shown, scrubAuthored(issue.message, issue.actual, shown))
      }
      case "Forbidden": {
        const shown = redact(issue.actual, path, redacted)
        return new ParseResult.Forbidden(issue.ast, shown, scrubAuthored(issue.message, issue.actual, shown))
      }
      case "Unexpected":
        return new ParseResult.Unexpected(redact(issue.actual, path, redacted), issue.message)
      case "Missing":
        return issue
      case "Pointer":
        return new ParseResult.Pointer(
          issue.path,
          redact(issue.actual, path, redacted),
          redactIssue(issue.issue, [...path, ...segments(issue.path)], redacted)
        )
      case "Refinement":
        return new ParseResult.Refinement(
          issue.ast,
          redact(issue.actual, path, redacted),
          issue.kind,
          redactIssue(issue.issue, path, redacted)
        )
      case "Transformation": {
        const inner = redacted || isRedactedSchema(issue.ast)
        return new ParseResult.Transformation(
          issue.ast,
          redact(issue.actual, path, inner),
          issue.kind,
          redactIssue(issue.issue, path, inner)
        )
      }
      case "Composite": {
        const each = (inner: ParseResult.ParseIssue) => redactIssue(inner, path, redacted)
        const issues = "_tag" in issue.issues ? each(issue.issues) : Arr.map(issue.issues, each)
        return new ParseResult.Composite(issue.ast, redact(issue.actual, path, redacted), issues, issue.output)
      }
    }
  }

  const anchorOf = (tag: ParseResult.ParseIssue["_tag"]): Anchor =>
    tag === "Unexpected" ? "key" : tag === "Missing" ? "parent" : "value"

  /** Lets effect's formatter word the issue, after redaction; the schema's own messages are kept. */
  const formatted = (issue: ParseResult.ParseIssue, path: Path, redacted: boolean): void => {
    for (const entry of ParseResult.ArrayFormatter.formatIssueSync(redactIssue(issue, path, redacted))) {
      problems.push({ path: [...path, ...segments(entry.path)], anchor: anchorOf(entry._tag), message: entry.message })
    }
  }

  const expectedContainer = (issue: ParseResult.Type, path: Path, redacted: boolean): string | undefined => {
    const shown = showValue(redact(issue.actual, path, redacted))
    if (SchemaAST.isTupleType(issue.ast)) return `Expected a list, actual ${shown}`
    const keys = SchemaAST.isTypeLiteral(issue.ast) ? inputKeys(issue.ast) : undefined
    return keys === undefined ? undefined : `Expected a mapping with keys: ${keys.join(" | ")}, actual ${shown}`
  }

  /** Walks a decode failure to its leaves, so that each problem gets its own path and anchor. */
  const collect = (
    issue: ParseResult.ParseIssue,
    path: Path,
    keys: ReadonlyArray<string> | undefined,
    redacted: boolean
  ): void => {
    if (issue._tag === "Pointer") {
      collect(issue.issue, [...path, ...segments(issue.path)], keys, redacted)
    } else if (issue._tag === "Unexpected") {
      problems.push({
        path,
        anchor: "key",
        message: keys === undefined ? "is unexpected" : `is unexpected, expected one of: ${keys.join(" | ")}`
      })
    } else if (issue._tag === "Missing" || hasMessageAnnotation(issue.ast)) {
      formatted(issue, path, redacted)
    } else if (issue._tag === "Composite") {
      const inner = SchemaAST.isTypeLiteral(issue.ast) ? inputKeys(issue.ast) : keys
      const issues = "_tag" in issue.issues ? [issue.issues] : issue.issues
      // `Schema.optional(X)` is `X | undefined`: "Expected undefined" beside X's own problem is noise.
      const relevant = SchemaAST.isUnion(issue.ast)
        ? issues.filter((each) => !(each._tag === "Type" && SchemaAST.isUndefinedKeyword(each.ast)))
        : issues
      const members = relevant.length > 0 ? relevant : issues
      // A value that matches no member of a union of plain types is one problem, not one per member.
      const mismatches = members.flatMap((each) =>
        each._tag === "Type" && each.message === undefined && !hasMessageAnnotation(each.ast) ? [each] : []
      )
      if (SchemaAST.isUnion(issue.ast) && members.length > 1 && mismatches.length === members.length) {
        const expected = mismatches.map((each) => String(each.ast)).join(" | ")
        const actual = showValue(redact(issue.actual, path, redacted))
        problems.push({ path, anchor: "value", message: `Expected ${expected}, actual ${actual}` })
      } else {
        for (const each of members) collect(each, path, inner, redacted)
      }
    } else if (issue._tag === "Refinement" && issue.kind === "From") {
      collect(issue.issue, path, keys, redacted)
    } else if (issue._tag === "Transformation" && issue.kind !== "Transformation") {
      collect(issue.issue, path, keys, redacted || isRedactedSchema(issue.ast))
    } else if (issue._tag === "Transformation") {
      formatted(issue, path, redacted || isRedactedSchema(issue.ast))
    } else {
      const container = issue._tag === "Type" ? expectedContainer(issue, path, redacted) : undefined
      if (container === undefined) formatted(issue, path, redacted)
      else problems.push({ path, anchor: "value", message: container })
    }
  }

  const retypeInterpolated = (ast: SchemaAST.AST | undefined, value: unknown, path: Path): unknown => {
    if (typeof value === "string") return retypable.has(pathId(path)) ? retype(ast, value) : value
    if (Array.isArray(value)) return value.map((item, index) => retypeInterpolated(schemaAt(ast, index), item, [...path, index]))
    if (isRecord(value)) {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, retypeInterpolated(schemaAt(ast, key), item, [...path, key])])
      )
    }
    return value
  }

  const decodeWith = <S extends Schema.Schema.AnyNoContext>(
    schema: S,
    value: unknown,
    path: Path
  ): Option.Option<Schema.Schema.Type<S>> =>
    Either.match(
      Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(
        retypeInterpolated(schema.ast, value, path)
      ),
      {
      onLeft: (error) => {
        collect(error.issue, path, undefined, false)
        return Option.none()
      },
      onRight: Option.some
      }
    )

  const show = (value: unknown, path: Path): string => showValue(redact(value, path, false))

  /** Resolves a block by its `type` and decodes it with that component's schema. */
  const decodeBlock = <C extends Component>(
    kind: string,
    components: ReadonlyArray<C>,
    block: unknown,
    path: Path
  ): Option.Option<{ readonly component: C; readonly config: unknown }> => {
    const valid =
      components.length === 0 ? `no ${kind} plugins are registered` : `valid values: ${components.map((c) => c.type).join(" | ")}`
    if (!isRecord(block)) {
      problems.push({
        path,
        anchor: "value",
        message: `Expected a mapping with a type (${valid}), actual ${show(block, path)}`
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
      problems.push({ path: typePath, anchor: "value", message: `unknown ${kind} type ${show(block.type, typePath)} (${valid})` })
      return Option.none()
    }
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
        problems.push({ path: keyPath, anchor: "value", message: `Expected a file path, actual ${show(written, keyPath)}` })
        broken.push(targetPath)
      } else {
        const secretFile = secretPath(file, written)
        Either.match(readSecretFile(secretFile), {
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
    return Option.map(decodeWith(component.config, input, path), (config) => ({ component, config }))
  }

  const located = (problem: PathProblem): ConfigProblem => {
    let path = problem.path
    for (const [target, alias] of aliases) {
      if (startsWith(path, target)) path = [...alias, ...path.slice(target.length)]
    }
    const exact = tree.locations.get(pathId(problem.anchor === "parent" ? path.slice(0, -1) : path))
    let nearest = exact
    for (let up = path.length - 1; nearest === undefined && up >= 0; up--) {
      nearest = tree.locations.get(pathId(path.slice(0, up)))
    }
    const position =
      (problem.anchor === "key" && exact !== undefined ? exact.key : undefined) ??
      nearest?.value ?? { line: 1, column: 1 }
    return { file, ...position, path: showPath(path), message: problem.message }
  }

  const finish = (loaded: Option.Option<Loaded>): Either.Either<Loaded, ConfigError> => {
    const reported = [
      ...tree.problems,
      ...problems.filter((problem) => !broken.some((b) => startsWith(problem.path, b)))
    ]
    // Last resort for a message that quotes a secret some other way; short values would mangle ordinary words.
    const scrub = (message: string): string =>
      secretValues.reduce((text, secret) => (secret.length >= 6 ? text.replaceAll(secret, "<redacted>") : text), message)
    const seen = new Set<string>()
    const all = reported
      .map(located)
      .map((problem) => ({ ...problem, message: scrub(problem.message) }))
      .filter((problem) => {
        const id = `${problem.line}:${problem.column}:${problem.path}:${problem.message}`
        const first = !seen.has(id)
        seen.add(id)
        return first
      })
      .sort((a, b) => a.line - b.line || a.column - b.column)
    if (all.length > 0 || Option.isNone(loaded)) {
      const omitted = Math.max(0, all.length - maxProblemsShown)
      return Either.left(new ConfigError({ file, problems: all.slice(0, maxProblemsShown), ...(omitted > 0 ? { omitted } : {}) }))
    }
    return Either.right(loaded.value)
  }

  const root = tree.root
  if (!isRecord(root)) {
    const found = root === null ? "but the file is empty" : `actual ${show(root, [])}`
    problems.push({ path: [], anchor: "value", message: `Expected a mapping with keys: ${topLevelKeys.join(" | ")}, ${found}` })
    return finish(Option.none())
  }

  const top = decodeWith(TopLevel, root, [])
  if (!Object.hasOwn(root, "source")) problems.push({ path: ["source"], anchor: "parent", message: "is missing" })
  const source = Object.hasOwn(root, "source")
    ? decodeBlock<SourcePlugin>("source", registry.sources, root.source, ["source"])
    : Option.none()

  let stages: Option.Option<ReadonlyArray<{ readonly plugin: StagePlugin; readonly config: unknown }>> = Option.none()
  if (root.stages === undefined) {
    const fingerprint = registry.stages.find((stage) => stage.type === "fingerprint")
    if (fingerprint === undefined) {
      const message = "is missing, and no fingerprint stage is registered to default to"
      problems.push({ path: ["stages"], anchor: "parent", message })
    } else {
      stages = Option.map(decodeWith(fingerprint.config, { type: "fingerprint" }, ["stages", 0]), (config) => [
        { plugin: fingerprint, config }
      ])
    }
  } else if (Array.isArray(root.stages)) {
    const decoded = root.stages.map((stage: unknown, index) =>
      decodeBlock<StagePlugin>("stage", registry.stages, stage, ["stages", index])
    )
    const resolved = root.stages.every(
      (stage: unknown) => lookupComponent(registry.stages, stage) !== undefined
    )
    // Only once every type is known: a misspelt fingerprint is one problem, not two.
    if (resolved && !root.stages.some((stage: unknown) => isRecord(stage) && stage.type === "fingerprint")) {
      problems.push({
        path: ["stages"],
        anchor: "value",
        message: `needs a fingerprint stage (add "- type: fingerprint"): the store keys every event by its fingerprint`
      })
    }
    stages = Option.all(decoded).pipe(
      Option.map((all) => all.map(({ component, config }) => ({ plugin: component, config })))
    )
  }

  const sink =
    root.sink === undefined
      ? Option.some(storeSink)
      : Option.map(decodeBlock("sink", sinks, root.sink, ["sink"]), () => storeSink)

  const loaded = Option.all({ top, source, stages, sink }).pipe(
    Option.map(({ top, source, stages }): Loaded => {
      const schedule: PipelineSchedule = top.schedule
      return {
        spec: {
          name: top.name,
          file,
          schedule,
          source: { plugin: source.component, config: source.config },
          stages,
          sink: { type: "store" }
        },
        nameAt: tree.locations.get(pathId(["name"]))?.value ?? { line: 1, column: 1 }
      }
    })
  )
  return finish(loaded)
}

const parseLocated = (input: ParsePipelineInput): Either.Either<Loaded, ConfigError> =>
  Either.flatMap(
    Either.mapLeft(readDocument(input.file, input.text, input.env), (problems) => new ConfigError({ file: input.file, problems })),
    (tree) => decodeTree(input.file, tree, input.registry, input.readSecretFile)
  )

/** Pure: parses and validates one pipeline file's text, reporting every problem at once. */
export const parsePipeline = (input: ParsePipelineInput): Either.Either<PipelineSpec, ConfigError> =>
  Either.map(parseLocated(input), (loaded) => loaded.spec)

/** Pipeline names are the store's keys, so two files with one name are both invalid. */
const checkUniqueNames = (
  results: ReadonlyArray<Either.Either<Loaded, ConfigError>>
): ReadonlyArray<Either.Either<PipelineSpec, ConfigError>> => {
  const filesByName = new Map<string, Array<string>>()
  for (const result of results) {
    if (Either.isRight(result)) {
      const { name, file } = result.right.spec
      filesByName.set(name, [...(filesByName.get(name) ?? []), file])
    }
  }
  return results.map((result) =>
    Either.flatMap(result, ({ spec, nameAt }) => {
      const others = (filesByName.get(spec.name) ?? []).filter((file) => file !== spec.file)
      return others.length === 0
        ? Either.right(spec)
        : Either.left(
            new ConfigError({
              file: spec.file,
              problems: [
                {
                  file: spec.file,
                  ...nameAt,
                  path: "name",
                  // The name itself is not repeated: it may have come from the environment.
                  message: `is also the name of ${others.join(", ")}; pipeline names must be unique`
                }
              ]
            })
          )
    })
  )
}

// ---------------------------------------------------------------------------------------------------------------------
// The service

const isPipelineFile = (name: string): boolean => !name.startsWith(".") && (name.endsWith(".yaml") || name.endsWith(".yml"))

const describeFailure = (error: PlatformError): string => {
  if (error._tag === "BadArgument") return error.description ?? error.message
  switch (error.reason) {
    case "NotFound":
      return "no such file or directory"
    case "PermissionDenied":
      return "permission denied"
    default:
      return error.description ?? error.reason
  }
}

const unreadable = (file: string, message: string): ConfigError =>
  new ConfigError({ file, problems: [{ file, line: 1, column: 1, path: "", message }] })

/**
 * Files above this are refused before they are read: a pipeline is a few hundred bytes, while parsing a 60 MB value
 * took 2.2 GB and a long file keeps the process busy (and deaf to signals) while it is parsed.
 */
export const defaultMaxBytes = 1024 * 1024
const maxBytesVariable = "SLOWQ_PIPELINE_MAX_BYTES"
const decodeMaxBytes = Schema.decodeUnknownEither(Schema.NumberFromString.pipe(Schema.int(), Schema.positive()))

const maxBytesOf = (env: Environment): Either.Either<number, string> => {
  const written = env[maxBytesVariable]
  if (written === undefined || written.trim() === "") return Either.right(defaultMaxBytes)
  return Either.mapLeft(
    decodeMaxBytes(written.trim()),
    () => `${maxBytesVariable} is ${JSON.stringify(written)}, expected a whole number of bytes such as ${defaultMaxBytes}`
  )
}

const units = [
  ["GiB", 1024 ** 3],
  ["MiB", 1024 ** 2],
  ["KiB", 1024]
] as const

/** A size in the largest unit it reaches, to one decimal (`60.0 MiB`). */
const showSize = (bytes: number): string => {
  const unit = units.find(([, size]) => bytes >= size)
  return unit === undefined ? `${bytes} bytes` : `${(bytes / unit[1]).toFixed(1)} ${unit[0]}`
}

/** A limit as the user would have written it: `1 MiB`, or bytes when it is no whole number of a unit. */
const showLimit = (bytes: number): string => {
  const unit = units.find(([, size]) => bytes % size === 0)
  return unit === undefined ? `${bytes} bytes` : `${bytes / unit[1]} ${unit[0]}`
}

/** `is 60.0 MiB, larger than the 1 MiB limit (…)`; exact bytes when the rounded sizes would read the same. */
const tooLarge = (size: number | undefined, limit: number): string => {
  const same = size !== undefined && showSize(size) === showSize(limit)
  const what = size === undefined ? "is larger than" : same ? `is ${size} bytes, larger than` : `is ${showSize(size)}, larger than`
  return `${what} the ${same ? `${limit}-byte` : showLimit(limit)} limit (${maxBytesVariable})`
}

const kinds: Record<FileSystem.File.Type, string> = {
  File: "a regular file",
  Directory: "a directory",
  SymbolicLink: "a symbolic link",
  BlockDevice: "a block device",
  CharacterDevice: "a character device",
  FIFO: "a FIFO (named pipe)",
  Socket: "a socket",
  Unknown: "of an unknown kind"
}

// Parsing and decoding are synchronous: between the steps the event loop must run, or a SIGTERM waits for them all.
// setImmediate rather than Effect.yieldNow, which may resume on the microtask queue, before any signal is seen.
const letSignalsIn = Effect.async<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})

/** Problems shown per file: past this a listing only hides the first ones, and costs time to print. */
export const maxProblemsShown = 100

const make = Effect.gen(function* () {
  const registry = yield* Plugins
  const fs = yield* FileSystem.FileSystem

  const readSecret = (path: string) =>
    fs.readFileString(path).pipe(
      Effect.mapError(describeFailure),
      Effect.either,
      Effect.map((result) => [path, result] as const)
    )

  /** Why `file` is not a regular file, naming what a symbolic link points to. */
  const notRegular = (file: string, type: FileSystem.File.Type) =>
    fs.readLink(file).pipe(
      Effect.map((target) => `links to ${target}, ${kinds[type]}, not a regular file`),
      Effect.orElseSucceed(() => `is ${kinds[type]}, not a regular file`)
    )

  /**
   * The text of a regular file of at most `maxBytes`, never reading more than one byte past it, so that a file that
   * grows while it is read (a log written to by mistake) costs no more than the limit. A FIFO would block the read
   * and a device such as /dev/zero never ends: neither is opened.
   */
  const readPipelineFile = (file: string, maxBytes: number): Effect.Effect<string, string> =>
    Effect.gen(function* () {
      const info = yield* fs.stat(file)
      if (info.type !== "File") return yield* Effect.fail(yield* notRegular(file, info.type))
      if (Number(info.size) > maxBytes) return yield* Effect.fail(tooLarge(Number(info.size), maxBytes))
      const handle = yield* fs.open(file, { flag: "r" })
      const chunks: Array<Uint8Array> = []
      let total = 0
      while (total <= maxBytes) {
        const chunk = yield* handle.readAlloc(Math.min(64 * 1024, maxBytes + 1 - total))
        if (Option.isNone(chunk)) break
        chunks.push(chunk.value)
        total += chunk.value.length
      }
      if (total > maxBytes) return yield* Effect.fail(tooLarge(undefined, maxBytes))
      return Buffer.concat(chunks, total).toString("utf8")
    }).pipe(
      Effect.scoped,
      Effect.catchIf(
        (error): error is PlatformError => typeof error !== "string",
        (error) => Effect.fail(`cannot read the file: ${describeFailure(error)}`)
      )
    )

  const loadOne = Effect.fn("PipelineLoader.loadOne")(function* (file: string, env: Environment, maxBytes: number) {
    const text = yield* readPipelineFile(file, maxBytes).pipe(
      Effect.mapError((message) => unreadable(file, message)),
      Effect.either
    )
    if (Either.isLeft(text)) return Either.left(text.left)
    yield* Effect.logDebug("pipeline file read").pipe(Effect.annotateLogs({ file, characters: text.right.length }))
    yield* letSignalsIn
    const tree = readDocument(file, text.right, env)
    if (Either.isLeft(tree)) return Either.left(new ConfigError({ file, problems: tree.left }))
    yield* letSignalsIn
    const secrets = new Map(yield* Effect.forEach(secretFilesOf(file, tree.right, registry), readSecret))
    const result = decodeTree(file, tree.right, registry, (path) => secrets.get(path) ?? Either.left("not read"))
    yield* letSignalsIn
    return result
  })

  const loadFiles = Effect.fn("PipelineLoader.loadFiles")(function* (files: ReadonlyArray<string>) {
    const env = yield* Effect.sync((): Environment => ({ ...process.env }))
    const unique = [...new Set(files.map(normalize))]
    const maxBytes = maxBytesOf(env)
    const results = yield* Effect.forEach(unique, (file) =>
      Either.isLeft(maxBytes)
        ? Effect.succeed(Either.left(unreadable(file, `cannot read the file: ${maxBytes.left}`)))
        : loadOne(file, env, maxBytes.right)
    )
    return checkUniqueNames(results)
  })

  const loadDirectory = Effect.fn("PipelineLoader.loadDirectory")(function* (dir: string) {
    const entries = yield* fs
      .readDirectory(dir)
      .pipe(Effect.mapError((error) => unreadable(dir, `cannot read the pipelines directory: ${describeFailure(error)}`)))
    const files = entries.filter(isPipelineFile).sort().map((name) => join(dir, name))
    if (files.length === 0) return yield* Effect.fail(unreadable(dir, "has no pipeline files (*.yaml, *.yml)"))
    return yield* loadFiles(files)
  })

  return { loadFiles, loadDirectory } as const
})

/** Loads pipeline files: every file is checked and every problem reported, never just the first. */
export class PipelineLoader extends Context.Tag("slowq/pipeline/PipelineLoader")<
  PipelineLoader,
  Effect.Effect.Success<typeof make>
>() {
  static readonly layer = Layer.effect(this, make)
}
