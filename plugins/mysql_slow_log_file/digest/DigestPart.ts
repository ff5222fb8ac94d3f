import { createReadStream } from "node:fs"
import { open } from "node:fs/promises"
import type { Readable } from "node:stream"
import { createGunzip } from "node:zlib"
import { eventStartMicros } from "../EventTime.js"
import { type SlowLogEntryView, SlowLogParser, type SlowLogProblem } from "../SlowLogParser.js"
import type { DigestAggregator } from "./Aggregator.js"

/** One input, or a byte range of a plain file, to digest; plain data, so that a worker thread can take it. */
export interface PartTask {
  /** A path, or `-` for stdin. */
  readonly file: string
  /** The name reports and messages use. */
  readonly name: string
  /** Where the part begins: 0, or the start of an entry. */
  readonly start: number
  /** Where the next part begins; undefined: to the end of the input, whatever its kind (gzip, stdin). */
  readonly end: number | undefined
  /** The database in effect at `start` (`INHERITED_DB` when the part before is read elsewhere). */
  readonly initialDb: string | undefined
  /** Epoch microseconds; entries that started before are left out. */
  readonly sinceUs: number | undefined
  /** Epoch microseconds; entries that started at or after are left out. */
  readonly untilUs: number | undefined
  readonly localOffsetMinutes: number
}

export interface PartSummary {
  /** Bytes parsed (decompressed bytes for gzip input). */
  readonly bytes: number
  /** Entries parsed, including those outside --since/--until. */
  readonly eventsParsed: number
  /** Entries aggregated. */
  readonly events: number
  readonly skippedBytes: number
  readonly problems: number
  /** The database in effect where the part ends, for the part after it. */
  readonly finalDb: string | undefined
}

export interface PartHooks {
  readonly stdin?: Readable | undefined
  /** Raw input bytes consumed since the last call (compressed bytes for gzip input). */
  readonly onBytes?: (bytes: number) => void
  readonly onProblem?: (problem: SlowLogProblem) => void
  /** Stops the read at the next chunk (an interrupted digest). */
  readonly signal?: AbortSignal | undefined
}

/**
 * A digest input that cannot be read, with a sentence to show the user. A plain Error with a `_tag`, so that
 * Effect's `catchTag` knows it while worker threads, which throw it too, do not load Effect.
 */
export class DigestInputError extends Error {
  readonly _tag = "DigestInputError"
  constructor(
    message: string,
    readonly file: string,
    override readonly cause?: unknown
  ) {
    super(message)
  }
}

export const describeInputError = (file: string, cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  if (code === "ENOENT") return `${file}: no such file`
  if (code === "EACCES" || code === "EPERM") return `${file}: permission denied (slow logs are often readable by the mysql or adm group only)`
  if (code === "EISDIR") return `${file} is a folder, not a slow log file`
  if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") return `${file}: not a valid gzip file (${cause instanceof Error ? cause.message : code})`
  return `${file}: ${cause instanceof Error ? cause.message : String(cause)}`
}

export const isGzip = (chunk: Uint8Array) => chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b

const CHUNK_BYTES = 256 * 1024

/**
 * The bytes [start, end) of a plain file, in two reused buffers: no garbage per chunk, and the next chunk is
 * read while the caller parses this one (waiting for each read in turn left the thread idle a tenth of the time).
 */
async function* rangeChunks(file: string, start: number, end: number): AsyncGenerator<Uint8Array> {
  const handle = await open(file, "r")
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)] as const
  let position = start
  let which = 0
  const readInto = (buffer: Buffer) =>
    position < end ? handle.read(buffer, 0, Math.min(buffer.length, end - position), position) : Promise.resolve({ bytesRead: 0 })
  let next = readInto(buffers[0])
  try {
    for (;;) {
      const { bytesRead } = await next
      if (bytesRead === 0) return
      const chunk = buffers[which]!.subarray(0, bytesRead)
      position += bytesRead
      which ^= 1
      next = readInto(buffers[which]!)
      yield chunk
    }
  } finally {
    // A read still in flight must end before its file is closed.
    await next.catch(() => undefined)
    await handle.close()
  }
}

async function* withFirst(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first
  for (;;) {
    const next = await rest.next()
    if (next.done === true) return
    yield next.value
  }
}

/**
 * The decompressed bytes of a whole input, reporting raw bytes consumed. A file whose name ends in .gz, or any
 * input that starts with the gzip magic bytes (stdin), is decompressed as it streams.
 */
async function* inputChunks(file: string, stdin: Readable | undefined, onBytes: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  if (file !== "-" && !file.endsWith(".gz")) {
    // A plain file is read into one reused buffer (the parser copies what it keeps). It is checked for the
    // gzip magic bytes first, whatever its name.
    const handle = await open(file, "r")
    const head = Buffer.alloc(2)
    let gzip: boolean
    try {
      gzip = isGzip(head.subarray(0, (await handle.read(head, 0, 2, 0)).bytesRead))
    } finally {
      await handle.close()
    }
    if (!gzip) {
      for await (const chunk of rangeChunks(file, 0, Number.POSITIVE_INFINITY)) {
        onBytes(chunk.length)
        yield chunk
      }
      return
    }
  }
  const raw: Readable = file === "-" ? (stdin ?? process.stdin) : createReadStream(file, { highWaterMark: 1 << 20 })
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  const first = await iterator.next()
  if (first.done === true) return
  const counted = async function* (source: AsyncIterable<Uint8Array>) {
    for await (const chunk of source) {
      onBytes(chunk.length)
      yield chunk
    }
  }
  const rawChunks = counted(withFirst(first.value, iterator))
  if (!isGzip(first.value)) {
    yield* rawChunks
    return
  }
  const gunzip = createGunzip({ chunkSize: 1 << 20 })
  const feeding = (async () => {
    try {
      for await (const chunk of rawChunks) {
        if (!gunzip.write(chunk)) await new Promise<void>((resolve) => gunzip.once("drain", resolve))
      }
      gunzip.end()
    } catch (error) {
      gunzip.destroy(error instanceof Error ? error : new Error(String(error)))
    }
  })()
  for await (const chunk of gunzip as AsyncIterable<Uint8Array>) yield chunk
  await feeding
}

/**
 * Parses one part of the input into `aggregator`, streaming: memory holds one chunk, the entry being parsed and
 * the per-class statistics, whatever the size of the input. Throws DigestInputError when it cannot be read.
 */
export const digestPart = async (task: PartTask, aggregator: DigestAggregator, hooks: PartHooks = {}): Promise<PartSummary> => {
  const since = task.sinceUs
  const until = task.untilUs
  const localOffset = task.localOffsetMinutes
  const name = task.name
  let eventsParsed = 0
  let events = 0
  let bytes = 0
  let skippedBytes = 0
  let problems = 0
  const onEntry = (entry: SlowLogEntryView) => {
    eventsParsed++
    // SET timestamp is there in practice; reading it directly spares a date parse per entry.
    const startUs = entry.timestamp !== undefined ? Math.round(entry.timestamp * 1e6) : eventStartMicros(entry, localOffset)
    if (since !== undefined && (startUs === undefined || startUs < since)) return
    if (until !== undefined && (startUs === undefined || startUs >= until)) return
    aggregator.add(entry, startUs, name)
    events++
  }
  const parser = new SlowLogParser({ light: true, startOffset: task.start, initialDb: task.initialDb, onEntry })
  const take = (found: ReadonlyArray<SlowLogProblem>) => {
    for (const problem of found) {
      problems++
      if (problem.kind !== "statement_truncated") skippedBytes += problem.length
      hooks.onProblem?.(problem)
    }
  }
  const onBytes = hooks.onBytes ?? (() => {})
  const chunks =
    task.end === undefined
      ? inputChunks(task.file, hooks.stdin, onBytes)
      : (async function* () {
          for await (const chunk of rangeChunks(task.file, task.start, task.end!)) {
            onBytes(chunk.length)
            yield chunk
          }
        })()
  try {
    for await (const chunk of chunks) {
      // Leaving the loop closes the file (rangeChunks' finally).
      hooks.signal?.throwIfAborted()
      bytes += chunk.length
      take(parser.push(chunk).problems)
    }
  } catch (cause) {
    throw new DigestInputError(describeInputError(name, cause), name, cause)
  }
  take(parser.finish().problems)
  return { bytes, eventsParsed, events, skippedBytes, problems, finalDb: parser.currentDb }
}
