/**
 * node --import tsx test/http/ProbeClient.ts BASE_URL [EVERY_MS]
 *
 * Health probes in a process of their own, so that a load generator's work in another process cannot delay them:
 * probes /healthz and /readyz every EVERY_MS (default 100) both ways an orchestrator or agent does — a new
 * connection per probe (a container health check, a kubelet) and one kept-alive connection opened before the load
 * (a monitoring agent) — until its stdin closes, then prints one JSON line: per probe kind, the status and
 * milliseconds of each probe, and for new connections the milliseconds to the TCP handshake (a dropped SYN shows
 * there as 1 s or 3 s; time waiting in the listen queue or the server's event loop shows after it).
 */
import * as Http from "node:http"

const [base, every] = process.argv.slice(2)
const everyMs = Number(every ?? 100)
const timeoutMs = 30_000

export interface ProbeSample {
  readonly status: number
  readonly ms: number
  /** Milliseconds to the handshake; -1 on a reused connection or none made. */
  readonly connectMs: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const probe = (path: string, agent: Http.Agent | false) =>
  new Promise<ProbeSample>((resolve) => {
    const started = performance.now()
    let connectMs = -1
    let settled = false
    const done = (status: number) => {
      if (settled) return
      settled = true
      resolve({ status, ms: performance.now() - started, connectMs })
    }
    const request = Http.get(`${base}${path}`, { agent, timeout: timeoutMs }, (response) => {
      response.resume()
      response.on("end", () => done(response.statusCode ?? 0))
      response.on("error", () => done(0))
    })
    request.on("socket", (socket) => {
      if (!socket.connecting) return
      socket.once("connect", () => {
        connectMs = performance.now() - started
      })
    })
    request.on("timeout", () => request.destroy())
    request.on("error", () => done(0))
  })

let running = true
const kinds = ["/healthz new", "/healthz keep-alive", "/readyz new", "/readyz keep-alive"] as const
const samples: Record<string, Array<ProbeSample>> = Object.fromEntries(kinds.map((kind) => [kind, []]))

const loop = async (kind: (typeof kinds)[number]) => {
  const [path, mode] = kind.split(" ") as [string, string]
  const agent = mode === "new" ? false : new Http.Agent({ keepAlive: true, maxSockets: 1 })
  // The kept-alive connection is opened (and its first answer discarded) before the caller starts the load.
  if (agent !== false) await probe(path, agent)
  ready++
  if (ready === kinds.length) process.stderr.write("probing\n")
  while (running) {
    samples[kind]!.push(await probe(path, agent))
    await sleep(everyMs)
  }
  if (agent !== false) agent.destroy()
}

let ready = 0
const loops = kinds.map(loop)
process.stdin.resume()
process.stdin.on("end", async () => {
  running = false
  await Promise.all(loops)
  process.stdout.write(`${JSON.stringify(samples)}\n`)
})
