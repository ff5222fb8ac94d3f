import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Schema } from "effect"

/** The Perl harness that runs Percona Toolkit's own QueryRewriter::fingerprint in-process. */
export const harnessPath = fileURLToPath(new URL("../bench/pt-fingerprint-harness.pl", import.meta.url))

export interface HarnessOptions {
  /** Whose QueryRewriter to load: pt-query-digest (turns true/false into `?`) or pt-fingerprint (keeps them). */
  readonly tool?: "pt-query-digest" | "pt-fingerprint"
  readonly matchEmbeddedNumbers?: boolean
}

/** Frames statements as the harness reads them: byte length, newline, bytes. */
export const frame = (queries: ReadonlyArray<string>): Buffer =>
  Buffer.concat(queries.flatMap((q) => {
    const bytes = Buffer.from(q, "utf8")
    return [Buffer.from(`${bytes.length}\n`), bytes]
  }))

const unframe = (out: Buffer): Array<Buffer> => {
  const items: Array<Buffer> = []
  let at = 0
  while (at < out.length) {
    const nl = out.indexOf(10, at)
    if (nl < 0) throw new Error(`bad harness output at byte ${at}`)
    const len = Number(out.subarray(at, nl).toString("latin1"))
    items.push(out.subarray(nl + 1, nl + 1 + len))
    at = nl + 1 + len
  }
  return items
}

const run = (args: ReadonlyArray<string>, input: Buffer): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const child = spawn("perl", [harnessPath, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.on("error", reject)
    child.on("close", (status) => {
      if (status === 0) resolve(Buffer.concat(out))
      else reject(new Error(`perl harness exited with ${status}: ${Buffer.concat(err).toString()}`))
    })
    child.stdin.end(input)
  })

const toolArgs = (options: HarnessOptions): Array<string> => [
  "--tool",
  options.tool ?? "pt-query-digest",
  ...(options.matchEmbeddedNumbers === true ? ["--match-embedded-numbers"] : [])
]

/** Percona's fingerprints of `queries`, as UTF-8 bytes, in order (one process for all of them). */
export const ptFingerprints = async (
  queries: ReadonlyArray<string>,
  options: HarnessOptions = {}
): Promise<Array<Buffer>> => {
  const items = unframe(await run([...toolArgs(options), "fingerprint"], frame(queries)))
  if (items.length !== queries.length) throw new Error(`harness returned ${items.length} of ${queries.length}`)
  return items
}

const decodeBenchResult = Schema.decodeUnknownSync(
  Schema.parseJson(Schema.Struct({ statements: Schema.Number, seconds: Schema.Number, cpuSeconds: Schema.Number }))
)

/** Percona's own throughput on `queries`: fingerprints them in a loop for about `seconds`. */
export const ptBench = async (
  queries: ReadonlyArray<string>,
  seconds: number,
  options: HarnessOptions = {}
): Promise<{ readonly statements: number; readonly seconds: number; readonly cpuSeconds: number }> => {
  const out = await run([...toolArgs(options), "bench", String(seconds)], frame(queries))
  return decodeBenchResult(out.toString())
}
