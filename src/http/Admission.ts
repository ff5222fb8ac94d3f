import * as Http from "node:http"
import { MetricLabel } from "effect"
import { type HostPolicy, hostAllowed, hostCheckExempt } from "./HostCheck.js"
import { httpRequestSeconds, httpRequestsTotal, requestsRefusedTotal } from "./Prometheus.js"

/**
 * Requests the API works on at once (running, or waiting for one of the store's 2 read slots); a request beyond this
 * is answered 503 by Node itself, before any of the API's own work. Each slot serves a ranking in a few milliseconds,
 * so 30 waiting is well under a second of queue; ReadGate's own bound on waiting reads stays as a second guard.
 */
export const maxRequestsInFlight = 32

/** Seconds a refused client is asked to wait (the Retry-After header of every 503 of the API). */
export const retryAfterSeconds = 1

/** Probes and metrics are never refused: an orchestrator must see the process alive and ready while it sheds load. */
const alwaysAdmitted = (url: string | undefined) =>
  url === "/healthz" || url === "/readyz" || url === "/metrics" || url?.startsWith("/metrics?") === true

/**
 * A refusal is sent this late: after the Retry-After it announces. Refused at once, a client that retries without
 * waiting (a load generator, a retry loop) comes straight back: 300 of them kept the event loop busy refusing 6,000
 * requests a second, and the probes waited behind them. Held 250 ms, 1,000 of them still made 3,000 to 4,000
 * refusals a second, each a parsed request and an answer, and the garbage of both; held for the Retry-After, about
 * 900. A timer per refused request costs no fiber and no store work.
 */
const shedDelayMs = retryAfterSeconds * 1000

const shedBody = JSON.stringify({
  _tag: "OverloadedError",
  message: `too many requests in flight (${maxRequestsInFlight}); retry in ${retryAfterSeconds} s`
})

const startingBody = JSON.stringify({ _tag: "NotReadyError", message: "slowq is starting its HTTP API" })
const stoppingBody = JSON.stringify({ _tag: "NotReadyError", message: "slowq is stopping its HTTP API" })

/**
 * A JSON answer written by Node, with the headers the API's own answers carry (see HttpApiServer's
 * securityHeaders), counted and timed as the API counts its own.
 */
const answer = (request: Http.IncomingMessage, response: Http.ServerResponse, status: number, body: string, started: number) => {
  httpRequestsTotal.unsafeUpdate(1, [MetricLabel.make("method", request.method ?? ""), MetricLabel.make("status", String(status))])
  httpRequestSeconds.unsafeUpdate((performance.now() - started) / 1000, [])
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...(status === 503 ? { "retry-after": String(retryAfterSeconds) } : {}),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff"
  })
  response.end(body)
  return true
}

const refuse = (request: Http.IncomingMessage, response: Http.ServerResponse, body: string, started: number) =>
  answer(request, response, 503, body, started)

const healthBody = JSON.stringify({ status: "ok" })

/**
 * How long a readiness probe waits for the check it asked for before it is answered with the last check's result.
 * The check is a store round trip: idle, a few milliseconds; with the pool busy with the API's reads and the
 * pipelines' writes, longer than an orchestrator should wait for a probe.
 */
const readinessWaitMs = 80

/**
 * The last check's result is given instead of a fresh one only while it is this recent; an older one is not
 * evidence of anything, and the probe waits for its check (bounded by the check's own store timeout).
 */
const readinessMaxAgeMs = 10_000

/** A probe with no recent result to fall back on waits at most this for its check (which gives up after 2 s). */
const readinessGiveUpMs = 3_000

const uncheckedBody = JSON.stringify({ _tag: "NotReadyError", message: "the readiness check did not finish" })

/** What `/readyz` answers: a status and its JSON body, encoded by Readiness.ts. */
export interface ReadinessAnswer {
  readonly status: number
  readonly body: string
}

interface WaitingProbe {
  readonly request: Http.IncomingMessage
  readonly response: Http.ServerResponse
  readonly started: number
  /** The number of the check that answers it: the first one asked for after it arrived. */
  readonly probe: number
}

/**
 * An HTTP server that refuses what it cannot serve before the API sees it.
 *
 * Why here and not in an Effect middleware: each request the API takes on runs as fibers whose steps are
 * microtasks, and Node drains the microtask queue after every I/O callback, accepted connections included. With
 * 300 clients hammering the API, every accept waited for hundreds of fibers' steps: the listen queue held 200
 * connections for 7 s and a health check new to the server waited in it as long. Refused synchronously here, an
 * excess request costs a few microseconds and no fiber, so the event loop keeps accepting.
 */
export class AdmittingServer extends Http.Server {
  /**
   * @param hosts whose Host headers are answered (see HostCheck.ts): the probes answered here are checked as the
   *   API checks its requests.
   */
  constructor(
    options: Http.ServerOptions,
    private readonly hosts: HostPolicy
  ) {
    super(options)
  }

  /** Requests handed to the API and not yet answered. */
  private inFlight = 0
  /** Requests refused since `takeShed` was last called. */
  private shed = 0

  /** Asks the readiness checker for a check, numbered; undefined while none is attached (then the API answers). */
  private askReadiness: ((probe: number) => void) | undefined
  private readinessProbes = 0
  private readiness: { readonly answer: ReadinessAnswer; readonly at: number } | undefined
  private waitingProbes: Array<WaitingProbe> = []

  override emit(event: string, ...args: Array<unknown>): boolean {
    const [request, response] = args
    if (event !== "request" || !(request instanceof Http.IncomingMessage) || !(response instanceof Http.ServerResponse)) {
      return super.emit(event, ...args)
    }
    const started = performance.now()
    // The server listens before the API attaches its handler: a request in between would wait forever.
    if (this.listenerCount("request") === 0) return refuse(request, response, startingBody, started)
    if (this.answeredHere(request)) {
      if (request.url === "/healthz") return answer(request, response, 200, healthBody, started)
      return this.readinessProbe(request, response, started)
    }
    if (alwaysAdmitted(request.url)) return super.emit(event, ...args)
    if (this.inFlight >= maxRequestsInFlight) {
      this.shed++
      requestsRefusedTotal.unsafeUpdate(1, [])
      setTimeout(() => refuse(request, response, shedBody, started), shedDelayMs)
      return true
    }
    this.inFlight++
    // 'close' comes once for every response: sent, or its connection gone first.
    response.once("close", () => {
      this.inFlight--
    })
    return super.emit(event, ...args)
  }

  /**
   * Probes are answered by Node itself, before the API, without a fiber: under a flood the API's requests wait for
   * the event loop in batches, and a liveness probe that waited with them measured that queue, not the process.
   * Only the exact paths, by GET, with a Host the API would accept; anything else goes to the API as before.
   */
  private answeredHere(request: Http.IncomingMessage): boolean {
    const path = request.url
    if (request.method !== "GET" || (path !== "/healthz" && path !== "/readyz")) return false
    if (path === "/readyz" && this.askReadiness === undefined) return false
    return hostCheckExempt(path) || hostAllowed(this.hosts, request.headers.host, request.socket.localAddress)
  }

  private readinessProbe(request: Http.IncomingMessage, response: Http.ServerResponse, started: number): boolean {
    const probe = ++this.readinessProbes
    this.waitingProbes.push({ request, response, started, probe })
    this.askReadiness?.(probe)
    const mine = (waiting: WaitingProbe) => waiting.response === response
    setTimeout(() => {
      const last = this.readiness
      if (last !== undefined && performance.now() - last.at <= readinessMaxAgeMs) return this.answerProbes(mine, last.answer)
      // The check times the store out itself; this only bounds a probe if the check never reports.
      setTimeout(() => this.answerProbes(mine, { status: 503, body: uncheckedBody }), readinessGiveUpMs).unref()
    }, readinessWaitMs).unref()
    return true
  }

  private answerProbes(which: (waiting: WaitingProbe) => boolean, result: ReadinessAnswer) {
    const answered = this.waitingProbes.filter(which)
    if (answered.length === 0) return
    this.waitingProbes = this.waitingProbes.filter((waiting) => !which(waiting))
    for (const waiting of answered) answer(waiting.request, waiting.response, result.status, result.body, waiting.started)
  }

  /** From now on `/readyz` is answered here with the checks `ask` starts (see Readiness.ts). */
  attachReadiness(ask: (probe: number) => void): void {
    this.askReadiness = ask
  }

  /** Back to the API's own `/readyz` (the API is stopping); probes still waiting are told so. */
  detachReadiness(): void {
    this.askReadiness = undefined
    this.answerProbes(() => true, { status: 503, body: stoppingBody })
  }

  /** The result of check number `probe`: the answer for every probe that arrived before it was asked for. */
  publishReadiness(result: ReadinessAnswer, probe: number): void {
    this.readiness = { answer: result, at: performance.now() }
    this.answerProbes((waiting) => waiting.probe <= probe, result)
  }

  /** Requests in flight now. */
  get requestsInFlight(): number {
    return this.inFlight
  }

  /** How many requests were refused since the last call. */
  takeShed(): number {
    const count = this.shed
    this.shed = 0
    return count
  }
}
