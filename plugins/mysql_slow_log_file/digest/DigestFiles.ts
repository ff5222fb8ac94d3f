import { readFileSync, statSync } from "node:fs"
import { type FileHandle, open } from "node:fs/promises"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import type { Readable } from "node:stream"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import type { SlowLogProblem } from "../SlowLogParser.js"
import { type AggregatorData, DigestAggregator, INHERITED_DB } from "./Aggregator.js"
import {
  DigestInputError,
  describeInputError,
  digestPart,
  isGzip,
  type PartHooks,
  type PartSummary,
  type PartTask
} from "./DigestPart.js"

export { DigestInputError } from "./DigestPart.js"

/*
 * The digest of whole inputs, on worker threads for large files, with no Effect: `slowq digest` runs this without
 * loading Effect or @effect/cli (DigestCli.ts), which would be a fifth of its peak RSS. RunDigest.ts wraps it in
 * an Effect for the full CLI and the tests. Workers are owned by the part that starts them: whatever ends a file's
 * parts (all done, one failed, the caller's signal) terminates every worker still running, and the promise
 * settles only once they have exited.
 */

export interface DigestProgress {
  /** Bytes of input consumed so far (compressed bytes for a .gz file), over all files. */
  readonly bytesRead: number
  /** Total size of the input files when known (not for stdin). */
  readonly totalBytes: number | undefined
  readonly events: number
}

export interface DigestRunOptions {
  readonly files: ReadonlyArray<string>
  /** Epoch microseconds; entries that started before are left out. */
  readonly sinceUs?: number | undefined
  /** Epoch microseconds; entries that started at or after are left out. */
  readonly untilUs?: number | undefined
  readonly localOffsetMinutes?: number
  readonly stdin?: Readable
  readonly onProgress?: (progress: DigestProgress) => void
  /** Called for each parse problem (at most 100 per part read by another thread); the digest goes on. */
  readonly onProblem?: (file: string, problem: SlowLogProblem) => void
  /** Called when a part meant for another thread is read on this one (no worker could start). */
  readonly onWarning?: (message: string) => void
  /** Threads that read a large plain file in parts; default: the cores available, at most 4. 1 reads alone. */
  readonly threads?: number
  /** A plain file smaller than this is read by one thread (default 32 MiB). */
  readonly minBytesPerThread?: number
  /** Another worker script (tests use one that fails). */
  readonly workerScript?: URL
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
  /** Parts read by other threads; 0 when the whole input was read by one. */
  readonly workerParts: number
}

/** What a digest worker posts (see DigestWorker.ts). */
export type WorkerMessage =
  /** Input bytes read since the last report, and entries aggregated so far. */
  | { readonly _tag: "progress"; readonly bytes: number; readonly events: number }
  | {
      readonly _tag: "done"
      readonly summary: PartSummary
      readonly problems: ReadonlyArray<SlowLogProblem>
      readonly data: AggregatorData
    }
  | { readonly _tag: "failed"; readonly message: string; readonly input: boolean }

export const defaultThreads = (): number => Math.max(1, Math.min(availableParallelism(), 4))

const DEFAULT_MIN_BYTES_PER_THREAD = 32 * 1024 * 1024
/** How far past its share a part's start is looked for before the file is read in fewer parts. */
const MAX_BOUNDARY_SEARCH = 64 * 1024 * 1024
/**
 * Parts begin at a `# Time:` line: an entry starts there whatever came before (SlowLogParser's boundaries),
 * and the entry carries its own time, so no part needs the one before it for times. MySQL writes the line on
 * every entry, MariaDB at least once a second.
 */
const PART_START = Buffer.from("\n# Time:", "latin1")
/**
 * A log without `# Time:` lines (an older Percona Server format) is split at an entry's `# User@Host:` or
 * `# User:` line after the `;` that ends the statement before it: an entry starts there too, and such a log has
 * no time for a part to miss. The part begins after the `;\n`.
 */
const USER_STARTS = [Buffer.from(";\n# User@Host:", "latin1"), Buffer.from(";\n# User:", "latin1")]
const LONGEST_START = Math.max(PART_START.length, ...USER_STARTS.map((start) => start.length))

/**
 * The first of `patterns` in the file from `floor`, searching no further than MAX_BOUNDARY_SEARCH past `share`;
 * its offset plus `skip`, or -1.
 */
const findStart = async (
  handle: FileHandle,
  window: Buffer,
  size: number,
  share: number,
  floor: number,
  patterns: ReadonlyArray<Buffer>,
  skip: number
): Promise<number> => {
  let from = Math.max(floor, share - 1)
  while (from < size && from - share < MAX_BOUNDARY_SEARCH) {
    const { bytesRead } = await handle.read(window, 0, window.length, from)
    if (bytesRead < LONGEST_START) return -1
    const read = window.subarray(0, bytesRead)
    let at = -1
    for (const pattern of patterns) {
      const found = read.indexOf(pattern)
      if (found >= 0 && (at < 0 || found < at)) at = found
    }
    if (at >= 0) return from + at + skip
    from += bytesRead - LONGEST_START + 1
  }
  return -1
}

/**
 * Where the parts of a plain file begin after the first: the starts of `# Time:` lines near even shares, or, in a
 * log without them, of `# User` lines after a statement.
 */
const partStarts = async (file: string, size: number, parts: number): Promise<Array<number>> => {
  const handle = await open(file, "r")
  try {
    const head = Buffer.alloc(2)
    if (isGzip(head.subarray(0, (await handle.read(head, 0, 2, 0)).bytesRead))) return []
    const window = Buffer.allocUnsafe(1 << 20)
    const starts: Array<number> = []
    let floor = 0
    for (let k = 1; k < parts; k++) {
      const share = Math.floor((size * k) / parts)
      let found = await findStart(handle, window, size, share, floor, [PART_START], 1)
      if (found < 0) found = await findStart(handle, window, size, share, floor, USER_STARTS, 2)
      if (found < 0) break
      starts.push(found)
      floor = found
    }
    return starts
  } finally {
    await handle.close()
  }
}

/**
 * A worker makes little garbage, so a small young generation (V8's default is 16 MB per semi-space) costs it no
 * time and saves about 15 MB of memory per thread; measured on 1M entries: 131 MB instead of 147 MB with two
 * threads, at the same speed. Since the parser reuses its entry object (about 200 bytes of garbage per entry,
 * was 500), 2 MB rather than 4 saves another 5 MB per worker at the same CPU time (1M entries, 4 threads: 157 →
 * 152 MB).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2 }

/** tsx's ESM API, where its manifest says it is: a worker of the TypeScript sources registers it first. */
const tsxEsmApi = (): string => {
  const manifest = createRequire(import.meta.url).resolve("tsx/package.json")
  const exports = (JSON.parse(readFileSync(manifest, "utf8")) as { exports: Record<string, { import: { default: string } }> }).exports
  return new URL(exports["./esm/api"]!.import.default, pathToFileURL(manifest)).href
}

/**
 * Starts a worker on `script`, or on the digest's own worker script: the compiled one next to the CLI bundle,
 * or, when slowq runs from its sources (tests, or a checkout edited since the last build), the TypeScript source
 * behind a small bootstrap that registers tsx in the new thread (hooks registered here do not reach it, and a
 * worker given `--import tsx` in its execArgv still failed on `.ts` files under Node 20.20).
 */
const startWorker = (task: PartTask, script: URL | undefined): Worker => {
  const options = { workerData: task, resourceLimits: WORKER_LIMITS }
  if (script !== undefined) return new Worker(script, options)
  if (!import.meta.url.endsWith(".ts")) return new Worker(new URL("../digest-worker.mjs", import.meta.url), options)
  const source = new URL("./DigestWorker.ts", import.meta.url).href
  const bootstrap = `import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}) })`
  return new Worker(bootstrap, { ...options, eval: true })
}

/** A part whose worker could not run (no thread, a missing script, a crash): this thread reads it instead. */
class NoWorker {
  readonly _tag = "NoWorker"
  constructor(readonly message: string) {}
}

type WorkerDone = Extract<WorkerMessage, { readonly _tag: "done" }>

/** A part read on this thread, straight into the run's aggregator. */
interface ReadHere {
  readonly _tag: "ReadHere"
  readonly summary: PartSummary
}

type PartOutcome = ReadHere | WorkerDone | NoWorker

const inputError = (name: string) => (cause: unknown) =>
  cause instanceof DigestInputError ? cause : new DigestInputError(describeInputError(name, cause), name, cause)

/**
 * Digests `task` on this thread into `aggregator`. Stopped by `signal`, the read ends at its next chunk, closing
 * the file; nobody waits for that chunk, which could wait forever on stdin.
 */
const readHere = (task: PartTask, aggregator: DigestAggregator, hooks: PartHooks): Promise<ReadHere> =>
  digestPart(task, aggregator, hooks).then(
    (summary) => ({ _tag: "ReadHere", summary }) as const,
    (cause) => Promise.reject(inputError(task.name)(cause))
  )

/**
 * Digests `task` on a worker thread; a worker that cannot run at all gives NoWorker. The handlers are attached as
 * the worker is made, before any of its events can be delivered; its outcome is the first of them that settles
 * it. The worker is terminated once it settled, and as soon as `signal` is aborted; `exited` is added to
 * `exits`, which the caller awaits so that no thread outlives the digest.
 */
const readOnWorker = (
  task: PartTask,
  script: URL | undefined,
  onProgress: (bytes: number, events: number) => void,
  signal: AbortSignal,
  exits: Array<Promise<unknown>>
): Promise<WorkerDone | NoWorker> =>
  new Promise<WorkerDone | NoWorker>((resolve, reject) => {
    let worker: Worker
    try {
      worker = startWorker(task, script)
    } catch (cause) {
      resolve(new NoWorker(String(cause)))
      return
    }
    let settled = false
    let stopped = false
    const stop = () => {
      if (stopped) return
      stopped = true
      signal.removeEventListener("abort", stop)
      exits.push(worker.terminate())
    }
    const settle = (outcome: WorkerDone | NoWorker | DigestInputError) => {
      if (settled) return
      settled = true
      stop()
      if (outcome instanceof DigestInputError) reject(outcome)
      else resolve(outcome)
    }
    worker.on("message", (message: WorkerMessage) => {
      if (message._tag === "progress") onProgress(message.bytes, message.events)
      else if (message._tag === "done") settle(message)
      else if (message.input) settle(new DigestInputError(message.message, task.name))
      else settle(new NoWorker(message.message))
    })
    worker.on("error", (error) => settle(new NoWorker(String(error))))
    worker.on("exit", (code) => settle(new NoWorker(`the worker exited with code ${code}`)))
    if (signal.aborted) stop()
    else signal.addEventListener("abort", stop)
  })

/**
 * Runs `parts` at once and gives their outcomes in order, or rejects with the first failure, or with `signal`'s
 * reason when it is aborted first; either way the parts still running are stopped (their signal is aborted) and
 * every worker thread they started has exited before it settles.
 */
const allParts = async <A>(
  parts: ReadonlyArray<(signal: AbortSignal, exits: Array<Promise<unknown>>) => Promise<A>>,
  signal: AbortSignal | undefined
): Promise<Array<A>> => {
  const stop = new AbortController()
  const exits: Array<Promise<unknown>> = []
  const stopped = new Promise<never>((_, reject) => {
    const onAbort = () => reject(stop.signal.reason)
    stop.signal.addEventListener("abort", onAbort, { once: true })
  })
  const onCallerAbort = () => stop.abort(signal?.reason)
  signal?.addEventListener("abort", onCallerAbort, { once: true })
  if (signal?.aborted === true) onCallerAbort()
  try {
    const all = Promise.all(
      parts.map((part) =>
        part(stop.signal, exits).catch((cause: unknown) => {
          stop.abort(cause)
          throw cause
        })
      )
    )
    return await Promise.race([all, stopped])
  } finally {
    signal?.removeEventListener("abort", onCallerAbort)
    // Nothing is left to wait for on success; after a failure this stops the other parts.
    stop.abort()
    stopped.catch(() => undefined)
    await Promise.all(exits)
  }
}

/**
 * Reads every input once, in order. A large plain file is read in parts by several threads, each part from the
 * start of an entry, and their figures are merged in file order: the result is exactly the one reading alone
 * gives (sums are whole numbers, see Stat). Rejects with the first part that cannot be read (a
 * DigestInputError), or with `signal`'s reason when it is aborted; either way every worker thread it started has
 * exited before it settles.
 */
export const digestFiles = async (options: DigestRunOptions, signal?: AbortSignal): Promise<DigestRun> => {
  const aggregator = new DigestAggregator()
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads()))
  const minBytesPerThread = options.minBytesPerThread ?? DEFAULT_MIN_BYTES_PER_THREAD
  const sizes = new Map<string, number>()
  let totalBytes: number | undefined = 0
  for (const file of options.files) {
    if (file === "-") {
      totalBytes = undefined
      continue
    }
    let size: number
    try {
      size = statSync(file).size
    } catch (cause) {
      throw inputError(file)(cause)
    }
    sizes.set(file, size)
    if (totalBytes !== undefined) totalBytes += size
  }
  let consumed = 0
  const summaries: Array<FileSummary> = []
  let eventsParsed = 0
  let events = 0
  let bytes = 0
  let workerParts = 0
  /** Entries aggregated by each worker whose figures are not merged yet. */
  const inFlight = new Map<number, number>()
  const progress = () => {
    if (options.onProgress === undefined) return
    let shown = aggregator.entries
    for (const count of inFlight.values()) shown += count
    options.onProgress({ bytesRead: consumed, totalBytes, events: shown })
  }
  const onBytes = (n: number) => {
    consumed += n
    progress()
  }
  let partIds = 0

  for (const file of options.files) {
    signal?.throwIfAborted()
    const name = file === "-" ? "(stdin)" : file
    const size = sizes.get(file) ?? 0
    const task = (start: number, end: number | undefined, initialDb: string | undefined): PartTask => ({
      file,
      name,
      start,
      end,
      initialDb,
      sinceUs: options.sinceUs,
      untilUs: options.untilUs,
      localOffsetMinutes: options.localOffsetMinutes ?? 0
    })
    const onProblem = (problem: SlowLogProblem) => options.onProblem?.(name, problem)
    const parts = file === "-" || file.endsWith(".gz") ? 1 : Math.min(threads, Math.floor(size / minBytesPerThread))
    const starts = parts > 1 ? await partStarts(file, size, parts).catch((cause: unknown) => Promise.reject(inputError(name)(cause))) : []
    const bounds = [0, ...starts, size]
    workerParts += starts.length
    // The first part is read here, meanwhile the others on workers; each later part's database is resolved
    // when it is merged, in order.
    const outcomes: ReadonlyArray<PartOutcome> = await allParts<PartOutcome>(
      bounds.slice(0, -1).map((start, k) => (partSignal, exits) => {
        if (k === 0) {
          return readHere(task(0, starts.length > 0 ? starts[0] : undefined, undefined), aggregator, {
            stdin: options.stdin,
            onBytes,
            onProblem,
            signal: partSignal
          })
        }
        const id = partIds + k
        return readOnWorker(
          task(start, bounds[k + 1], INHERITED_DB),
          options.workerScript,
          (n, count) => {
            inFlight.set(id, count)
            onBytes(n)
          },
          partSignal,
          exits
        )
      }),
      signal
    )
    const fileSummary = { name, bytes: 0, events: 0, skippedBytes: 0, problems: 0 }
    const add = (summary: PartSummary) => {
      fileSummary.bytes += summary.bytes
      fileSummary.events += summary.events
      fileSummary.skippedBytes += summary.skippedBytes
      fileSummary.problems += summary.problems
      eventsParsed += summary.eventsParsed
      events += summary.events
      bytes += summary.bytes
    }
    let db: string | undefined
    for (const [k, outcome] of outcomes.entries()) {
      inFlight.delete(partIds + k)
      switch (outcome._tag) {
        case "ReadHere": {
          add(outcome.summary)
          db = outcome.summary.finalDb
          break
        }
        case "done": {
          aggregator.merge(outcome.data, db)
          for (const problem of outcome.problems) onProblem(problem)
          add(outcome.summary)
          if (outcome.summary.finalDb !== INHERITED_DB) db = outcome.summary.finalDb
          break
        }
        case "NoWorker": {
          options.onWarning?.(`${name}: reading bytes ${bounds[k]} to ${bounds[k + 1]} on the main thread: no worker thread (${outcome.message})`)
          // No worker (a platform without threads, a missing script): this thread reads the part itself, now
          // that every part before it is merged and its database known.
          const { summary } = await allParts([(partSignal) => readHere(task(bounds[k]!, bounds[k + 1], db), aggregator, { onProblem, signal: partSignal })], signal).then(
            ([read]) => read!
          )
          add(summary)
          db = summary.finalDb
          break
        }
      }
    }
    partIds += bounds.length - 1
    summaries.push(fileSummary)
  }
  progress()
  return { aggregator, files: summaries, eventsParsed, events, bytes, workerParts }
}
