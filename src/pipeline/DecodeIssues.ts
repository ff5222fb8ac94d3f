/**
 * Decoding one value of a pipeline file with a Schema, its failure turned into problems at paths: one per leaf, each
 * where the user can fix it, worded for YAML (mapping, list), and never quoting a secret. Knows nothing of pipelines
 * or of lines: the caller says which paths hold secrets, and YamlTree places the paths.
 */
import { Array as Arr, Either, Option, ParseResult, Redacted, Schema, SchemaAST } from "effect"
import { type Anchor, type Path, type PathProblem, pathId, startsWith } from "./YamlTree.js"

/** What the file says about the values being decoded, beyond the values themselves. */
export interface Provenance {
  /** Paths whose value came from the environment or a secret file: never echoed. */
  readonly secrets: ReadonlyArray<Path>
  /** Unquoted scalars that were interpolated: typed by the schema that reads them, as compose does. */
  readonly retypable: ReadonlySet<string>
}

export const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u) && !Redacted.isRedacted(u)

/** A value as problems quote it (the way effect's messages do), with anything Redacted shown as `<redacted>`. */
export const showValue = (u: unknown): string => {
  if (Redacted.isRedacted(u)) return "<redacted>"
  if (typeof u === "string") return JSON.stringify(u)
  if (Array.isArray(u)) return `[${u.map(showValue).join(",")}]`
  if (isRecord(u)) return `{${Object.entries(u).map(([key, value]) => `${JSON.stringify(key)}:${showValue(value)}`).join(",")}}`
  return String(u)
}

// ---------------------------------------------------------------------------------------------------------------------
// Schema introspection

const isRedactedDeclaration = (ast: SchemaAST.AST): boolean =>
  SchemaAST.isDeclaration(ast) &&
  Option.exists(SchemaAST.getTypeConstructorAnnotation(ast), (annotation) => annotation._tag === "effect/Redacted")

const isRedactedSchema = (ast: SchemaAST.AST): boolean =>
  isRedactedDeclaration(ast) || (SchemaAST.isTransformation(ast) && isRedactedDeclaration(ast.to))

/** The keys a struct-like schema accepts as input, in declaration order. */
export const inputKeys = (ast: SchemaAST.AST): ReadonlyArray<string> | undefined => {
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
const schemaAt = (ast: SchemaAST.AST | undefined, segment: Path[number]): SchemaAST.AST | undefined => {
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

const retypeInterpolated = (
  ast: SchemaAST.AST | undefined,
  value: unknown,
  path: Path,
  retypable: ReadonlySet<string>
): unknown => {
  if (typeof value === "string") return retypable.has(pathId(path)) ? retype(ast, value) : value
  if (Array.isArray(value)) {
    return value.map((item, index) => retypeInterpolated(schemaAt(ast, index), item, [...path, index], retypable))
  }
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, retypeInterpolated(schemaAt(ast, key), item, [...path, key], retypable)])
    )
  }
  return value
}

// ---------------------------------------------------------------------------------------------------------------------
// Redaction: a problem may quote what it found, so every value that came from a secret is replaced before wording

const isSecret = (path: Path, secrets: ReadonlyArray<Path>): boolean =>
  secrets.some((secret) => pathId(secret) === pathId(path))

const hasSecretBelow = (path: Path, secrets: ReadonlyArray<Path>): boolean =>
  secrets.some((secret) => secret.length > path.length && startsWith(secret, path))

/** `value` as it may be shown: secrets, and anything a Redacted schema holds, become `<redacted>`. */
const redact = (value: unknown, path: Path, redacted: boolean, secrets: ReadonlyArray<Path>): unknown => {
  if (redacted || isSecret(path, secrets)) return Redacted.isRedacted(value) ? value : Redacted.make(value)
  if (!hasSecretBelow(path, secrets)) return value
  if (Array.isArray(value)) return value.map((item, index) => redact(item, [...path, index], false, secrets))
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redact(item, [...path, key], false, secrets)])
    )
  }
  return value
}

/** A value at `path` as a problem may quote it. */
export const showAt = (value: unknown, path: Path, secrets: ReadonlyArray<Path>): string =>
  showValue(redact(value, path, false, secrets))

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
const redactIssue = (
  issue: ParseResult.ParseIssue,
  path: Path,
  redacted: boolean,
  secrets: ReadonlyArray<Path>
): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type": {
      const shown = redact(issue.actual, path, redacted, secrets)
      return new ParseResult.Type(issue.ast, shown, scrubAuthored(issue.message, issue.actual, shown))
    }
    case "Forbidden": {
      const shown = redact(issue.actual, path, redacted, secrets)
      return new ParseResult.Forbidden(issue.ast, shown, scrubAuthored(issue.message, issue.actual, shown))
    }
    case "Unexpected":
      return new ParseResult.Unexpected(redact(issue.actual, path, redacted, secrets), issue.message)
    case "Missing":
      return issue
    case "Pointer":
      return new ParseResult.Pointer(
        issue.path,
        redact(issue.actual, path, redacted, secrets),
        redactIssue(issue.issue, [...path, ...segments(issue.path)], redacted, secrets)
      )
    case "Refinement":
      return new ParseResult.Refinement(
        issue.ast,
        redact(issue.actual, path, redacted, secrets),
        issue.kind,
        redactIssue(issue.issue, path, redacted, secrets)
      )
    case "Transformation": {
      const inner = redacted || isRedactedSchema(issue.ast)
      return new ParseResult.Transformation(
        issue.ast,
        redact(issue.actual, path, inner, secrets),
        issue.kind,
        redactIssue(issue.issue, path, inner, secrets)
      )
    }
    case "Composite": {
      const each = (inner: ParseResult.ParseIssue) => redactIssue(inner, path, redacted, secrets)
      const issues = "_tag" in issue.issues ? each(issue.issues) : Arr.map(issue.issues, each)
      return new ParseResult.Composite(issue.ast, redact(issue.actual, path, redacted, secrets), issues, issue.output)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Wording: a decode failure walked to its leaves, so that each problem gets its own path and anchor

const anchorOf = (tag: ParseResult.ParseIssue["_tag"]): Anchor =>
  tag === "Unexpected" ? "key" : tag === "Missing" ? "parent" : "value"

/** Lets effect's formatter word the issue, after redaction; the schema's own messages are kept. */
const formatted = (
  issue: ParseResult.ParseIssue,
  path: Path,
  redacted: boolean,
  secrets: ReadonlyArray<Path>
): Array<PathProblem> =>
  ParseResult.ArrayFormatter.formatIssueSync(redactIssue(issue, path, redacted, secrets)).map((entry) => ({
    path: [...path, ...segments(entry.path)],
    anchor: anchorOf(entry._tag),
    message: entry.message
  }))

const expectedContainer = (
  issue: ParseResult.Type,
  path: Path,
  redacted: boolean,
  secrets: ReadonlyArray<Path>
): string | undefined => {
  const shown = showValue(redact(issue.actual, path, redacted, secrets))
  if (SchemaAST.isTupleType(issue.ast)) return `Expected a list, actual ${shown}`
  const keys = SchemaAST.isTypeLiteral(issue.ast) ? inputKeys(issue.ast) : undefined
  return keys === undefined ? undefined : `Expected a mapping with keys: ${keys.join(" | ")}, actual ${shown}`
}

/** `keys` are those of the nearest enclosing struct, listed when a key is unexpected. */
const collect = (
  issue: ParseResult.ParseIssue,
  path: Path,
  keys: ReadonlyArray<string> | undefined,
  redacted: boolean,
  secrets: ReadonlyArray<Path>
): Array<PathProblem> => {
  if (issue._tag === "Pointer") {
    return collect(issue.issue, [...path, ...segments(issue.path)], keys, redacted, secrets)
  }
  if (issue._tag === "Unexpected") {
    const message = keys === undefined ? "is unexpected" : `is unexpected, expected one of: ${keys.join(" | ")}`
    return [{ path, anchor: "key", message }]
  }
  if (issue._tag === "Missing" || hasMessageAnnotation(issue.ast)) return formatted(issue, path, redacted, secrets)
  if (issue._tag === "Composite") {
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
      const actual = showValue(redact(issue.actual, path, redacted, secrets))
      return [{ path, anchor: "value", message: `Expected ${expected}, actual ${actual}` }]
    }
    return members.flatMap((each) => collect(each, path, inner, redacted, secrets))
  }
  if (issue._tag === "Refinement" && issue.kind === "From") return collect(issue.issue, path, keys, redacted, secrets)
  if (issue._tag === "Transformation" && issue.kind !== "Transformation") {
    return collect(issue.issue, path, keys, redacted || isRedactedSchema(issue.ast), secrets)
  }
  if (issue._tag === "Transformation") return formatted(issue, path, redacted || isRedactedSchema(issue.ast), secrets)
  const container = issue._tag === "Type" ? expectedContainer(issue, path, redacted, secrets) : undefined
  return container === undefined ? formatted(issue, path, redacted, secrets) : [{ path, anchor: "value", message: container }]
}

/**
 * Decodes the value found at `path` with every problem at once and no excess key let through; the problems' paths
 * are the file's, not the value's.
 */
export const decodeAt = <S extends Schema.Schema.AnyNoContext>(
  schema: S,
  value: unknown,
  path: Path,
  provenance: Provenance
): Either.Either<Schema.Schema.Type<S>, ReadonlyArray<PathProblem>> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })(
      retypeInterpolated(schema.ast, value, path, provenance.retypable)
    ),
    (error) => collect(error.issue, path, undefined, false, provenance.secrets)
  )
