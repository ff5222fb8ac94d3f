import { createHash } from "node:crypto"
import { type BigIntStats, constants, type Stats } from "node:fs"
import { type FileHandle, open, readdir, stat } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import type { SlowQueryEvent } from "../domain/SlowQueryEvent.js"
import { type SourceBatch, SourceError } from "./SlowQuerySource.js"

/**
 * Tailing log files for a source: which files a path or glob names, each file's identity and position (the
 * checkpoint), rotation by renaming and by truncation in place, reading from a position to the file's end in chunks
 * and batching what the format's parser makes of them. A log source brings its parser and its messages; this module
 * knows nothing of what is in the files.
 */

// ---------------------------------------------------------------------------------------------------------------------
// Config

/** `*`, `?` and `[…]` are wildcards; they are allowed in the file name only, so that rotation stays in one folder. */
export const hasWildcard = (text: string): boolean => /[*?[]/.test(text)

/** A file path, or a glob whose wildcards are in the file name only. */
export const LogPath = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter(
    (text) => {
      const slash = text.lastIndexOf("/")
      return !hasWildcard(slash < 0 ? "" : text.slice(0, slash))
    },
    { message: () => "Expected a file path whose folder part has no wildcard (*, ? and [ ] may appear in the file name only)" }
  )
)

/** What the tailing needs of a log source's config. */
export interface TailConfig {
  readonly path: string
  readonly batch_size: number
  readonly start_at: "beginning" | "end"
  readonly settle_ms: number
}

// ---------------------------------------------------------------------------------------------------------------------
// The checkpoint

/**
 * One file's position. A file is known by its device and inode (a rename keeps them) and by a hash of its first
 * bytes (a truncation in place or a reused inode changes it); `key` names it in event keys for good.
 */
export const FileCheckpoint = Schema.Struct({
  path: Schema.String.annotations({ description: "Where the file was last seen; informational." }),
  dev: Schema.String,
  ino: Schema.String,
  head_bytes: Schema.Int.pipe(Schema.between(1, 1024)),
  head: Schema.String,
  key: Schema.String,
  offset: Schema.Int.pipe(Schema.nonNegative()).annotations({
    description: "Byte offset where the next unread entry starts; everything before it is stored or skipped."
  }),
  // Named `db` because the first format that needed it was MySQL's slow log (`use db;` only when it changes), whose
  // stored checkpoints keep that name.
  db: Schema.NullOr(Schema.String).annotations({
    description: "What the format carries over to `offset` from earlier entries (its parser's `carried`); null when none."
  })
})
export interface FileCheckpoint extends Schema.Schema.Type<typeof FileCheckpoint> {}

export const Checkpoint = Schema.Struct({ files: Schema.Array(FileCheckpoint) })
export interface Checkpoint extends Schema.Schema.Type<typeof Checkpoint> {}
const decodeCheckpoint = Schema.decodeUnknownEither(Checkpoint)

const HEAD_BYTES = 1024
const READ_BYTES = 1024 * 1024
/** Problems logged one by one per file and run; the rest are summed up. */
const PROBLEMS_LOGGED = 10

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex")

// ---------------------------------------------------------------------------------------------------------------------
// What a format brings

/** Something wrong in a file; `not_an_event` and `incomplete_event` count as bytes skipped. */
export interface LogProblem {
  readonly kind: string
  /** Byte offset of the first byte concerned. */
  readonly offset: number
  /** Bytes concerned. */
  readonly length: number
  readonly message: string
}

/** An event, and where to resume after it: `resume` is a file offset, `carried` the parser's state there. */
export interface LogItem {
  readonly event: SlowQueryEvent
  readonly resume: number
  readonly carried: string | null
}

export interface LogParseOutput {
  readonly items: ReadonlyArray<LogItem>
  readonly problems: ReadonlyArray<LogProblem>
}

/** An incremental parser of one file, fed chunks in order from `startOffset`. */
export interface LogFileParser {
  push(chunk: Uint8Array): LogParseOutput
  /** The input ends here (the file has settled): complete what is pending. */
  finish(): LogParseOutput
  /** Something read is not emitted yet (an entry whose end has not been seen). */
  readonly hasPendingEvent: boolean
  /** Where to start again to see everything not emitted yet. */
  readonly resumeOffset: number
  /** Absolute offset after the last byte pushed. */
  readonly bytesSeen: number
  /** The state that goes with `resumeOffset`, handed to the next parser of the file. */
  readonly carried: string | null
}

/** The messages a DBA reads, in the words of the format. */
export interface LogFileMessages {
  /** `path` names something that is no regular file (`kind`: "a directory", "a FIFO"…). */
  readonly notAFile: (path: string, kind: string) => string
  /** Reading `path` was refused; `what` is the verb ("read", "open", "list the folder"). */
  readonly permissionDenied: (what: string, path: string) => string
  /** Nothing regular matches the pattern; `others` lists what does (`x is a directory, …`). */
  readonly noRegularFile: (pattern: string, others: string) => string
  /** Nothing matches the pattern. */
  readonly noFile: (pattern: string) => string
  /** A file read from its start held no entry in `skippedBytes`. */
  readonly notThisFormat: (path: string, skippedBytes: number) => string
}

export interface LogFormat {
  /** The plugin's type, for errors. */
  readonly plugin: string
  /** The span of a read. */
  readonly span: string
  readonly messages: LogFileMessages
  /** A parser of the file `fileKey` from `startOffset`, with the state `carried` there. */
  readonly parser: (options: { readonly fileKey: string; readonly startOffset: number; readonly carried: string | null }) => LogFileParser
}

// ---------------------------------------------------------------------------------------------------------------------
// Pure parts, exported for the tests

/** `*`, `?`, `[…]` of a file name pattern as a regular expression over file names. */
export const globRegExp = (pattern: string): RegExp => {
  let source = ""
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "*") source += "[^/]*"
    else if (c === "?") source += "[^/]"
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2)
      if (close < 0) source += "\\["
      else {
        let set = pattern.slice(i + 1, close)
        if (set.startsWith("!")) set = `^${set.slice(1)}`
        source += `[${set.replaceAll("\\", "\\\\")}]`
        i = close
      }
    } else source += c.replace(/[.+^${}()|\\]/g, "\\$&")
  }
  return new RegExp(`^${source}$`)
}

const COMPRESSED = /\.(?:gz|bz2|xz|zst|zip|lz4)$/

// ---------------------------------------------------------------------------------------------------------------------
// Files

interface FoundFile {
  readonly path: string
  readonly dev: string
  readonly ino: string
  readonly size: number
  readonly mtimeMs: number
  readonly birthtimeNs: string
}

/** A file this run reads, from `offset` on, under the identity `checkpoint`. */
interface PlannedFile {
  readonly file: FoundFile
  readonly checkpoint: FileCheckpoint
  /** It no longer matches `path`: a rotated file being finished. */
  readonly rotated: boolean
}

const isErrno = (cause: unknown, code: string): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause && cause.code === code

/** What a path that is no regular file is, in the words of a message. */
const kindOf = (stats: Stats | BigIntStats): string =>
  stats.isDirectory()
    ? "a directory"
    : stats.isFIFO()
      ? "a FIFO"
      : stats.isSocket()
        ? "a socket"
        : stats.isCharacterDevice()
          ? "a character device"
          : stats.isBlockDevice()
            ? "a block device"
            : "not a regular file"

/** A path that exists but is no regular file: slowq never opens it (a FIFO would block the read for good). */
class NotAFile extends Error {
  constructor(
    readonly path: string,
    readonly kind: string
  ) {
    super(`${path} is ${kind}`)
  }
}

/**
 * Opens a file to read only when it is a regular file. O_NONBLOCK: should the path have become a FIFO since it
 * was listed, opening it does not wait for a writer (forever), and the check after opening refuses it.
 */
export const openRegular = async (path: string): Promise<FileHandle> => {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  const stats = await handle.stat().catch(async (cause: unknown) => {
    await handle.close()
    throw cause
  })
  if (stats.isFile()) return handle
  await handle.close()
  throw new NotAFile(path, kindOf(stats))
}

/** Reads what a source's config names, in the words of its format. */
const makeFiles = (format: LogFormat) => {
  const { messages } = format
  const describeIoError = (what: string, path: string, cause: unknown): string => {
    if (isErrno(cause, "EACCES") || isErrno(cause, "EPERM")) return messages.permissionDenied(what, path)
    if (isErrno(cause, "EISDIR")) return messages.notAFile(path, "a directory")
    if (cause instanceof NotAFile) return messages.notAFile(cause.path, cause.kind)
    const message = cause instanceof Error ? cause.message : String(cause)
    return `cannot ${what} ${path}: ${message}`
  }

  const ioError = (what: string, path: string, operation: "connect" | "poll" = "poll") => (cause: unknown) =>
    new SourceError({ plugin: format.plugin, operation, message: describeIoError(what, path, cause), cause })

  /** A regular file, what else is at `path` (a directory, a FIFO, …), or undefined when nothing is. */
  const statPath = (path: string): Effect.Effect<FoundFile | NotAFile | undefined, SourceError> =>
    Effect.tryPromise({
      try: () => stat(path, { bigint: true }),
      catch: (cause) => cause
    }).pipe(
      Effect.map((stats: BigIntStats): FoundFile | NotAFile =>
        stats.isFile()
          ? {
              path,
              dev: stats.dev.toString(),
              ino: stats.ino.toString(),
              size: Number(stats.size),
              mtimeMs: Number(stats.mtimeMs),
              birthtimeNs: stats.birthtimeNs.toString()
            }
          : new NotAFile(path, kindOf(stats))
      ),
      // Gone between listing and stat (a rotation in progress): not there, not an error.
      Effect.catchIf(
        (cause) => isErrno(cause, "ENOENT"),
        () => Effect.succeed(undefined)
      ),
      Effect.mapError(ioError("read", path, "connect"))
    )

  /** The regular file at `path`, or undefined. */
  const statFile = (path: string): Effect.Effect<FoundFile | undefined, SourceError> =>
    Effect.map(statPath(path), (found) => (found instanceof NotAFile ? undefined : found))

  const listDirectory = (dir: string): Effect.Effect<ReadonlyArray<string>, SourceError> =>
    Effect.tryPromise({ try: () => readdir(dir), catch: (cause) => cause }).pipe(
      Effect.catchIf(
        (cause) => isErrno(cause, "ENOENT"),
        () => Effect.succeed<ReadonlyArray<string>>([])
      ),
      Effect.mapError(ioError("list the folder", dir, "connect"))
    )

  /** The regular, uncompressed files `pattern` names now, sorted by name, and what it names that is not one. */
  const matchingFiles = (pattern: string) =>
    Effect.gen(function* () {
      const name = basename(pattern)
      const paths = hasWildcard(name)
        ? (yield* listDirectory(dirname(pattern)))
            .filter((entry) => globRegExp(name).test(entry))
            .sort()
            .map((entry) => join(dirname(pattern), entry))
        : [pattern]
      const found = yield* Effect.forEach(paths.filter((path) => !COMPRESSED.test(path)), statPath)
      return {
        files: found.filter((file): file is FoundFile => file !== undefined && !(file instanceof NotAFile)),
        others: found.filter((file): file is NotAFile => file instanceof NotAFile)
      }
    })

  const readBytes = (path: string, position: number, length: number): Effect.Effect<Buffer, SourceError> =>
    Effect.acquireUseRelease(
      Effect.tryPromise({ try: () => openRegular(path), catch: ioError("open", path) }),
      (handle) =>
        Effect.tryPromise({
          try: async () => {
            const buffer = Buffer.alloc(length)
            const { bytesRead } = await handle.read(buffer, 0, length, position)
            return buffer.subarray(0, bytesRead)
          },
          catch: ioError("read", path)
        }),
      (handle) => Effect.promise(() => handle.close())
    )

  return { ioError, statFile, listDirectory, matchingFiles, readBytes }
}

const identify = (file: FoundFile, head: Buffer): FileCheckpoint => {
  const headHash = sha256(head).slice(0, 16)
  return {
    path: file.path,
    dev: file.dev,
    ino: file.ino,
    head_bytes: head.length,
    head: headHash,
    // Birth time tells a reused inode apart even when the new file begins with the same bytes.
    key: sha256(`${file.dev}:${file.ino}:${file.birthtimeNs}:${headHash}`).slice(0, 16),
    offset: 0,
    db: null
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading

/** An event, or only progress (skipped bytes, a file's end); `offset` is where to resume in `fileKey` after it. */
interface Item {
  readonly event: SlowQueryEvent | undefined
  readonly fileKey: string
  readonly offset: number
  readonly db: string | null
}

interface ReadState {
  readonly position: number
}

const problemLog = (file: string, problem: LogProblem) =>
  Effect.logWarning(`${file}: ${problem.message}`).pipe(
    Effect.annotateLogs({ file, offset: problem.offset, bytes: problem.length, problem: problem.kind })
  )

/**
 * One pass over the files `config.path` names, from `checkpoint` to their current ends: batches of at most
 * `batch_size` events, each with the positions it reaches. Event keys are the parser's (by convention
 * `<file key>:<byte offset>`, which `locate` reads back).
 */
export const tailLogFiles = (
  format: LogFormat,
  config: TailConfig,
  stored: Option.Option<unknown>
): Stream.Stream<SourceBatch, SourceError> => {
  const files = makeFiles(format)
  const { ioError, statFile, listDirectory, matchingFiles, readBytes } = files

  /**
   * Which files to read this run and from where: the checkpointed files that still exist (under `path` or, once
   * rotated by renaming, elsewhere in its folder), then the new ones. A checkpointed file whose first bytes changed,
   * or that is now shorter than its offset, was truncated in place (copytruncate) or replaced: read from 0.
   */
  const plan = (previous: Checkpoint | undefined) =>
    Effect.gen(function* () {
      const { files: matches, others } = yield* matchingFiles(config.path)
      const known = previous?.files ?? []
      const byInode = (found: ReadonlyArray<FoundFile>, entry: FileCheckpoint) =>
        found.find((file) => file.dev === entry.dev && file.ino === entry.ino)

      // Files rotated out of the pattern keep their inode in the same folder (slow.log → slow.log.1).
      let folder: ReadonlyArray<FoundFile> | undefined
      const rotatedFiles: Array<FoundFile> = []
      for (const entry of known) {
        if (byInode(matches, entry) !== undefined) continue
        if (folder === undefined) {
          const dir = dirname(config.path)
          const names = yield* listDirectory(dir)
          const found = yield* Effect.forEach(
            names.filter((name) => !COMPRESSED.test(name)),
            (name) => statFile(join(dir, name))
          )
          folder = found.filter((file): file is FoundFile => file !== undefined)
        }
        const file = byInode(folder, entry)
        if (file !== undefined && !rotatedFiles.includes(file)) rotatedFiles.push(file)
        else if (file === undefined) {
          yield* Effect.logWarning(
            `${entry.path} is gone (rotated away and deleted or compressed before slowq finished it); whatever was written to it after byte ${entry.offset} was not read`
          ).pipe(Effect.annotateLogs({ file: entry.path, offset: entry.offset }))
        }
      }

      const planned: Array<PlannedFile> = []
      const firstRun = previous === undefined
      for (const file of [...rotatedFiles, ...matches]) {
        const rotated = rotatedFiles.includes(file)
        if (file.size === 0) continue
        const entry = known.find((candidate) => candidate.dev === file.dev && candidate.ino === file.ino)
        if (entry !== undefined) {
          const head = yield* readBytes(file.path, 0, entry.head_bytes)
          const same = head.length === entry.head_bytes && sha256(head).slice(0, 16) === entry.head
          if (same && file.size >= entry.offset) {
            let checkpoint: FileCheckpoint = { ...entry, path: file.path }
            if (entry.head_bytes < HEAD_BYTES && file.size > entry.head_bytes) {
              // The file was small when first seen: widen the identity now that more of it exists; `key` stays.
              const wider = yield* readBytes(file.path, 0, HEAD_BYTES)
              checkpoint = { ...checkpoint, head_bytes: wider.length, head: sha256(wider).slice(0, 16) }
            }
            planned.push({ file, checkpoint, rotated })
            continue
          }
          yield* Effect.logInfo(
            `${file.path} was ${file.size < entry.offset ? "truncated (copytruncate rotation)" : "replaced"}; reading it again from its start`
          ).pipe(Effect.annotateLogs({ file: file.path, previous_offset: entry.offset, size: file.size }))
        }
        const head = yield* readBytes(file.path, 0, HEAD_BYTES)
        if (head.length === 0) continue
        const fresh = identify(file, head)
        planned.push({
          file,
          checkpoint: firstRun && config.start_at === "end" ? { ...fresh, offset: file.size } : fresh,
          rotated
        })
      }
      // Rotated files first (they hold the older entries), then the rest from the least recently written.
      planned.sort(
        (a, b) =>
          Number(b.rotated) - Number(a.rotated) || a.file.mtimeMs - b.file.mtimeMs || a.file.path.localeCompare(b.file.path)
      )
      return { planned, matched: matches.length, others }
    })

  /** The entries of one file from its checkpoint offset to its current end, as items. */
  const readFile = (planned: PlannedFile): Stream.Stream<Item, SourceError> => {
    const { file, checkpoint } = planned
    const path = file.path
    const parser = format.parser({ fileKey: checkpoint.key, startOffset: checkpoint.offset, carried: checkpoint.db })
    const counts = { events: 0, problems: 0, skippedBytes: 0 }
    const buffer = Buffer.allocUnsafe(READ_BYTES)

    const items = (output: LogParseOutput) =>
      Effect.gen(function* () {
        for (const problem of output.problems) {
          counts.problems += 1
          if (problem.kind === "not_an_event" || problem.kind === "incomplete_event") counts.skippedBytes += problem.length
          if (counts.problems <= PROBLEMS_LOGGED) yield* problemLog(path, problem)
        }
        counts.events += output.items.length
        return Chunk.fromIterable(
          output.items.map((item): Item => ({
            event: item.event,
            fileKey: checkpoint.key,
            offset: item.resume,
            db: item.carried
          }))
        )
      })

    const atEnd = Effect.gen(function* () {
      let out: Chunk.Chunk<Item> = Chunk.empty()
      if (parser.hasPendingEvent || parser.resumeOffset < parser.bytesSeen) {
        // The last entry has no next one to show it is complete: take it once the file has stopped changing.
        const now = yield* statFile(path)
        const settled = now !== undefined && now.size === parser.bytesSeen && Date.now() - now.mtimeMs >= config.settle_ms
        if (settled) out = yield* items(parser.finish())
      }
      if (counts.problems > PROBLEMS_LOGGED) {
        yield* Effect.logWarning(`${path}: ${counts.problems - PROBLEMS_LOGGED} more problems not logged one by one`).pipe(
          Effect.annotateLogs({ file: path, problems: counts.problems })
        )
      }
      if (counts.events === 0 && counts.skippedBytes > 0 && checkpoint.offset === 0) {
        yield* Effect.logWarning(format.messages.notThisFormat(path, counts.skippedBytes)).pipe(
          Effect.annotateLogs({ file: path })
        )
      }
      const end: Item = { event: undefined, fileKey: checkpoint.key, offset: parser.resumeOffset, db: parser.carried }
      return Chunk.append(out, end)
    })

    const step = (handle: FileHandle) => (state: ReadState) =>
      Effect.gen(function* () {
        const { bytesRead } = yield* Effect.tryPromise({
          try: () => handle.read(buffer, 0, READ_BYTES, state.position),
          catch: ioError("read", path)
        })
        if (bytesRead === 0) {
          return [yield* atEnd, Option.none<ReadState>()] as const
        }
        const chunk = yield* items(parser.push(buffer.subarray(0, bytesRead)))
        return [chunk, Option.some<ReadState>({ position: state.position + bytesRead })] as const
      })

    const opened = Effect.tryPromise({ try: () => openRegular(path), catch: (cause) => cause }).pipe(
      Effect.map(Option.some),
      // Rotated away and deleted since the plan was made: nothing to read this run; the next run notices.
      Effect.catchIf(
        (cause) => isErrno(cause, "ENOENT"),
        () => Effect.succeed(Option.none<FileHandle>())
      ),
      Effect.mapError(ioError("open", path))
    )
    return Stream.acquireRelease(opened, (handle) =>
      Option.match(handle, { onNone: () => Effect.void, onSome: (h) => Effect.promise(() => h.close()) })
    ).pipe(
      Stream.flatMap(
        Option.match({
          onNone: () => Stream.empty,
          onSome: (handle) =>
            Stream.paginateChunkEffect<ReadState, Item, SourceError, never>({ position: checkpoint.offset }, step(handle))
        })
      )
    )
  }

  const open = Effect.gen(function* () {
    let previous: Checkpoint | undefined
    if (Option.isSome(stored)) {
      const decoded = decodeCheckpoint(stored.value)
      if (Either.isRight(decoded)) previous = decoded.right
      else {
        // Starting over is safe: event keys depend only on the files, so what is read again is ignored as stored.
        yield* Effect.logWarning(
          "the stored checkpoint is not one this source wrote; reading the files from their start (events already stored are not stored again)"
        )
      }
    }
    const { planned, matched, others } = yield* plan(previous)
    if (matched === 0 && planned.length === 0) {
      const [other] = others
      return yield* new SourceError({
        plugin: format.plugin,
        operation: "connect",
        message:
          other !== undefined && others.length === 1 && other.path === config.path
            ? format.messages.notAFile(other.path, other.kind)
            : others.length > 0
              ? format.messages.noRegularFile(config.path, others.map((o) => `${o.path} is ${o.kind}`).join(", "))
              : format.messages.noFile(config.path)
      })
    }

    // The positions reached so far, in the order the checkpoint lists files; each batch stores all of them.
    const positions = new Map(planned.map((p) => [p.checkpoint.key, p.checkpoint]))
    let lastJson = JSON.stringify(previous ?? null)
    const snapshot = (): Checkpoint => ({ files: [...positions.values()] })
    // An event's key is `<file key>:<byte offset of its entry>`.
    const locate = (key: string): string | undefined => {
      const colon = key.lastIndexOf(":")
      const file = positions.get(key.slice(0, colon))
      return file === undefined ? undefined : `${file.path} byte ${key.slice(colon + 1)}`
    }

    const toBatch = (chunk: Chunk.Chunk<Item>): Option.Option<SourceBatch> => {
      const events: Array<SlowQueryEvent> = []
      for (const item of chunk) {
        if (item.event !== undefined) events.push(item.event)
        const current = positions.get(item.fileKey)
        if (current !== undefined && (current.offset !== item.offset || current.db !== item.db)) {
          positions.set(item.fileKey, { ...current, offset: item.offset, db: item.db })
        }
      }
      const checkpoint = snapshot()
      const json = JSON.stringify(checkpoint)
      // Progress without events (skipped bytes, a new identity) is worth one write; nothing new is not.
      if (events.length === 0 && json === lastJson) return Option.none()
      lastJson = json
      return Option.some({ events, checkpoint, locate })
    }

    return Stream.fromIterable(planned).pipe(
      Stream.flatMap(readFile),
      Stream.grouped(config.batch_size),
      Stream.filterMap(toBatch)
    )
  })

  return Stream.unwrap(open).pipe(Stream.withSpan(format.span))
}
