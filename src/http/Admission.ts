import * as Http from "node:http"
import { MetricLabel } from "effect"
import { httpRequestsTotal, requestsRefusedTotal } from "./Prometheus.js"

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
 * A refusal is sent this late. Refused at once, a client that retries without waiting (a load generator, a retry
 * loop) comes straight back: 300 of them kept the event loop busy refusing 6,000 requests a second, and the probes
 * waited behind them. A timer per refused request costs no fiber and no store work.
 */
const shedDelayMs = 250

const shedBody = JSON.stringify({
  _tag: "OverloadedError",
  message: `too many requests in flight (${maxRequestsInFlight}); retry in ${retryAfterSeconds} s`
})

const startingBody = JSON.stringify({ _tag: "NotReadyError", message: "slowq is starting its HTTP API" })

const refuse = (request: Http.IncomingMessage, response: Http.ServerResponse, body: string) => {
  httpRequestsTotal.unsafeUpdate(1, [MetricLabel.make("method", request.method ?? ""), MetricLabel.make("status", "503")])
  response.writeHead(503, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "retry-after": String(retryAfterSeconds),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff"
  })
  response.end(body)
  return true
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
  /** Requests handed to the API and not yet answered. */
  private inFlight = 0
  /** Requests refused since `takeShed` was last called. */
  private shed = 0

  override emit(event: string, ...args: Array<unknown>): boolean {
    const [request, response] = args
    if (event !== "request" || !(request instanceof Http.IncomingMessage) || !(response instanceof Http.ServerResponse)) {
      return super.emit(event, ...args)
    }
    // The server listens before the API attaches its handler: a request in between would wait forever.
    if (this.listenerCount("request") === 0) return refuse(request, response, startingBody)
    if (alwaysAdmitted(request.url)) return super.emit(event, ...args)
    if (this.inFlight >= maxRequestsInFlight) {
      this.shed++
      requestsRefusedTotal.unsafeUpdate(1, [])
      setTimeout(() => refuse(request, response, shedBody), shedDelayMs)
      return true
    }
    this.inFlight++
    // 'close' comes once for every response: sent, or its connection gone first.
    response.once("close", () => {
      this.inFlight--
    })
    return super.emit(event, ...args)
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
