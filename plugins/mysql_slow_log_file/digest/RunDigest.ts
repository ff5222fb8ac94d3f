import { createReadStream, statSync } from "node:fs"
import { open } from "node:fs/promises"
import type { Readable } from "node:stream"
import { createGunzip } from "node:zlib"
import { eventStartMicros } from "../EventTime.js"
import { SlowLogParser, type SlowLogProblem } from "../SlowLogParser.js"
import { DigestAggregator } from "./Aggregator.js"

/** A digest input that cannot be read, with a sentence to show the user. */
export class DigestInputError extends Error {
  constructor(
    message: string,
    readonly file: string,
    override readonly cause?: unknown
  ) {
    super(message)
  }
}

export interface DigestProgress {
  /** Bytes of input consumed so far (compressed bytes for a .gz file), over all files. */
  readonly bytesRead: number
  /** Total size of the input files when known (not for stdin). */
  readonly totalBytes: number | undefined
  readonly events: number
}

export interface DigestRunOptions {
  readonly files: ReadonlyArray<string>
  readonly fingerprint: (sql: string) => string
  readonly queryId: (fingerprint: string) => string
  /** Epoch microseconds; entries that started before are left out. */
  readonly sinceUs?: number | undefined
  /** Epoch microseconds; entries that started at or after are left out. */
  readonly untilUs?: number | undefined
  readonly localOffsetMinutes?: number
  readonly stdin?: Readable
  readonly onProgress?: (progress: DigestProgress) => void
  /** Called for each parse problem; the digest goes on. */
  readonly onProblem?: (file: string, problem: SlowLogProblem) => void
}

export interface FileSummary {
  readonly name: string
  readonly bytes: number
  readonly events: number
  readonly skippedBytes: number
  readonly problems: number
}

export interface DigestRun {
  readonly aggregator: DigestAggregator
  readonly files: ReadonlyArray<FileSummary>
  /** Entries parsed, including those outside --since/--until. */
  readonly eventsParsed: number
  /** Entries aggregated. */
  readonly events: number
  readonly bytes: number
}

const describe = (file: string, cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  if (code === "ENOENT") return `${file}: no such file`
  if (code === "EACCES" || code === "EPERM") return `${file}: permission denied (slow logs are often readable by the mysql or adm group only)`
  if (code === "EISDIR") return `${file} is a folder, not a slow log file`
  if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") return `${file}: not a valid gzip file (${cause instanceof Error ? cause.message : code})`
  return `${file}: ${cause instanceof Error ? cause.message : String(cause)}`
}

const isGzip = (chunk: Uint8Array) => chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b

async function* withFirst(first: Uint8Array, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first
  for (;;) {
    const next = await rest.next()
    if (next.done === true) return
    yield next.value
  }
}

/**
 * The decompressed bytes of one input, and a counter of raw bytes consumed for the progress bar. A file whose
 * name ends in .gz, or any input that starts with the gzip magic bytes (stdin), is decompressed as it streams.
 */
async function* inputChunks(file: string, stdin: Readable | undefined, consumed: { raw: number }): AsyncGenerator<Uint8Array> {
  if (file !== "-" && !file.endsWith(".gz")) {
    // A plain file is read into one reused buffer (the parser copies what it keeps): no garbage per chunk, so
    // memory stays flat. It is checked for the gzip magic bytes first, whatever its name.
    const handle = await open(file, "r")
    try {
      const buffer = Buffer.allocUnsafe(256 * 1024)
      let position = 0
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
        if (bytesRead === 0) return
        if (position === 0 && isGzip(buffer.subarray(0, bytesRead))) break
        position += bytesRead
        consumed.raw += bytesRead
        yield buffer.subarray(0, bytesRead)
      }
    } finally {
      await handle.close()
    }
  }
  const raw: Readable = file === "-" ? (stdin ?? process.stdin) : createReadStream(file, { highWaterMark: 1 << 20 })
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>
  const first = await iterator.next()
  if (first.done === true) return
  const counted = async function* (source: AsyncIterable<Uint8Array>) {
    for await (const chunk of source) {
      consumed.raw += chunk.length
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
 * Reads every input once, in order, streaming: memory holds one chunk, the entry being parsed and the per-class
 * statistics, whatever the size of the input.
 */
export const runDigest = async (options: DigestRunOptions): Promise<DigestRun> => {
  const aggregator = new DigestAggregator(options.fingerprint, options.queryId)
  const localOffset = options.localOffsetMinutes ?? 0
  const since = options.sinceUs
  const until = options.untilUs
  let totalBytes: number | undefined = 0
  for (const file of options.files) {
    if (file === "-") {
      totalBytes = undefined
      break
    }
    try {
      totalBytes += statSync(file).size
    } catch (cause) {
      throw new DigestInputError(describe(file, cause), file, cause)
    }
  }
  const consumed = { raw: 0 }
  const summaries: Array<FileSummary> = []
  let eventsParsed = 0
  let events = 0
  let bytes = 0

  for (const file of options.files) {
    const name = file === "-" ? "(stdin)" : file
    const parser = new SlowLogParser({ light: true })
    const summary = { name, bytes: 0, events: 0, skippedBytes: 0, problems: 0 }
    const take = (out: ReturnType<SlowLogParser["push"]>) => {
      for (const problem of out.problems) {
        summary.problems++
        if (problem.kind !== "statement_truncated") summary.skippedBytes += problem.length
        options.onProblem?.(name, problem)
      }
      const parsed = out.events
      eventsParsed += parsed.length
      for (let i = 0; i < parsed.length; i++) {
        const entry = parsed[i]!
        // SET timestamp is there in practice; reading it directly spares a date parse per entry.
        const startUs =
          entry.timestamp !== undefined ? Math.round(entry.timestamp * 1e6) : eventStartMicros(entry, localOffset)
        if (since !== undefined && (startUs === undefined || startUs < since)) continue
        if (until !== undefined && (startUs === undefined || startUs >= until)) continue
        aggregator.add({ entry, startUs, file: name })
        summary.events++
        events++
      }
    }
    try {
      for await (const chunk of inputChunks(file, options.stdin, consumed)) {
        summary.bytes += chunk.length
        bytes += chunk.length
        take(parser.push(chunk))
        options.onProgress?.({ bytesRead: consumed.raw, totalBytes, events })
      }
    } catch (cause) {
      throw new DigestInputError(describe(name, cause), name, cause)
    }
    take(parser.finish())
    summaries.push(summary)
  }
  options.onProgress?.({ bytesRead: consumed.raw, totalBytes, events })
  return { aggregator, files: summaries, eventsParsed, events, bytes }
}
