/**
 * The entry points for pipeline files: reading them safely (regular files only, a size limit, the event loop let in
 * between files), then YamlTree, DecodePipeline and ConfigProblems turn each text into a spec or its problems, and
 * names are checked across files.
 */
import { join, normalize } from "node:path"
import * as FileSystem from "@effect/platform/FileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { Context, Effect, Either, Layer, Option, Schema } from "effect"
import { Plugins, type PluginRegistry } from "../plugin/Plugin.js"
import { ConfigError, unreadable } from "./ConfigProblems.js"
import { decodeTree, type Loaded, type ReadSecretFile, secretFilesOf } from "./DecodePipeline.js"
import type { Environment } from "./Interpolate.js"
import type { PipelineSpec } from "./PipelineSpec.js"
import { readTree } from "./YamlTree.js"

export interface ParsePipelineInput {
  readonly file: string
  readonly text: string
  readonly registry: PluginRegistry
  readonly env: Environment
  readonly readSecretFile: ReadSecretFile
}

const parseLocated = (input: ParsePipelineInput): Either.Either<Loaded, ConfigError> =>
  Either.flatMap(
    Either.mapLeft(readTree(input.file, input.text, input.env), (problems) => new ConfigError({ file: input.file, problems })),
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
    const tree = readTree(file, text.right, env)
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
