/**
 * A worker thread's side of a parallel digest: digests the part of a file it is given and posts back its
 * figures as plain data, its summary, and its first problems. Loaded by DigestFiles, from dist/digest-worker.mjs
 * in the compiled CLI and through tsx from the sources.
 */
import { parentPort, workerData } from "node:worker_threads"
import type { SlowLogProblem } from "../SlowLogParser.js"
import { DigestAggregator } from "./Aggregator.js"
import { DigestInputError, digestPart, type PartTask } from "./DigestPart.js"
import type { WorkerMessage } from "./DigestFiles.js"

/** Problems a part sends back; the command shows fewer, and every part's count is exact. */
const PROBLEMS_KEPT = 100
/** Progress is reported in steps of this many bytes. */
const PROGRESS_STEP = 8 * 1024 * 1024

const post = (message: WorkerMessage) => parentPort!.postMessage(message)

const task = workerData as PartTask
const aggregator = new DigestAggregator()
const problems: Array<SlowLogProblem> = []
let unreported = 0
try {
  const summary = await digestPart(task, aggregator, {
    onBytes: (bytes) => {
      unreported += bytes
      if (unreported >= PROGRESS_STEP) {
        post({ _tag: "progress", bytes: unreported, events: aggregator.entries })
        unreported = 0
      }
    },
    onProblem: (problem) => {
      if (problems.length < PROBLEMS_KEPT) problems.push(problem)
    }
  })
  if (unreported > 0) post({ _tag: "progress", bytes: unreported, events: aggregator.entries })
  post({ _tag: "done", summary, problems, data: aggregator.toData() })
} catch (cause) {
  post({ _tag: "failed", message: cause instanceof DigestInputError ? cause.message : String(cause), input: cause instanceof DigestInputError })
}
