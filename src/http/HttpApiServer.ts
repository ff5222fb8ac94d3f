import * as Http from "node:http"
import {
  HttpApiBuilder,
  HttpApiError,
  HttpApiSwagger,
  HttpApp,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Clock, Data, Effect, Exit, Layer, Metric, Option, Scheduler } from "effect"
import * as PipelineMetrics from "../pipeline/PipelineMetrics.js"
import { Supervisor } from "../pipeline/Supervisor.js"
import { StoreClient } from "../store/StoreClient.js"
import { Plugins, registeredEnrichments } from "../plugin/Plugin.js"
import type { PipelineSpec } from "../pipeline/PipelineSpec.js"
import { makeSlowqApi, NotFoundError, type SlowqApi } from "./Api.js"
import { type HostPolicy, hostAllowed, hostCheckExempt } from "./HostCheck.js"
import { apiAuthLayer } from "./ApiAuth.js"
import { handlersLayer } from "./Handlers.js"
import type { HttpApiSettings } from "./HttpApiSettings.js"
import { httpRequestSeconds, httpRequestsTotal, touchPipelineCounters } from "./Prometheus.js"
import { AdmittingServer, maxRequestsInFlight, retryAfterSeconds } from "./Admission.js"
import { checkReadiness, serveReadiness } from "./Readiness.js"
import { webAssetsLayer } from "./WebAssets.js"

/** The HTTP API could not start (its address is taken, …); the message names the address and the cause. */
export class HttpApiStartError extends Data.TaggedError("HttpApiStartError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** No endpoint takes a body; anything announcing more than this is refused before it is read. */
export const maxBodyBytes = 64 * 1024
/** A handler still working after this answers 503; the store's reads are the only slow part. */
export const handlerTimeout = "15 seconds"
/** How long a stop waits for requests in flight before it closes their connections. */
const shutdownGraceMs = 3_000
/**
 * Connections the kernel may hold before slowq accepts them. Node asks for 511; when a burst of 1,000 clients
 * overflows that queue the kernel drops their SYNs and the clients retry after 1 s and 3 s, which is what a health
 * check then measures. Linux caps the value at net.core.somaxconn (4096 by default since 5.4).
 */
const listenBacklog = 4096

// Node's own limits: a client that trickles its headers or body is cut off (408) instead of holding a socket.
const makeNodeServer = (hosts: HostPolicy) =>
  new AdmittingServer(
    {
      headersTimeout: 10_000,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
      connectionsCheckingInterval: 1_000
    },
    hosts
  )

/**
 * Request fibers run their steps in batches after Node's I/O poll (setImmediate) instead of in microtasks. Node drains
 * the microtask queue after every I/O callback, so with Effect's default scheduler a busy API ran fiber steps after
 * each accepted connection and each read: new connections (a health check among them) waited seconds in the listen
 * queue while the fibers of the requests already accepted ran. Batched after the poll, I/O and fibers take turns.
 */
const requestScheduler = Scheduler.makeBatched((runBatch) => setImmediate(runBatch))

/**
 * Refusals are logged at once, then at most every 10 s with their count: a line each would add work to an overloaded
 * process.
 */
const overloadLogEveryMs = 10_000

const logOverload = (server: AdmittingServer) =>
  Effect.gen(function* () {
    let refused = 0
    let loggedAt = Number.NEGATIVE_INFINITY
    while (true) {
      yield* Effect.sleep("1 second")
      refused += server.takeShed()
      const now = yield* Clock.currentTimeMillis
      if (refused > 0 && now - loggedAt >= overloadLogEveryMs) {
        yield* Effect.logWarning("HTTP API overloaded: requests refused with 503, too many in flight").pipe(
          Effect.annotateLogs({ refused, max_in_flight: maxRequestsInFlight })
        )
        refused = 0
        loggedAt = now
      }
    }
  })

const jsonError = (status: number, tag: string, message: string) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })

/** `["limit"]` → `limit`; the message of a 400 names every parameter that is wrong. */
const readableDecodeError = (error: HttpApiError.HttpApiDecodeError) =>
  new HttpApiError.HttpApiDecodeError({
    issues: error.issues,
    message: error.issues
      .map((issue) => {
        const where = issue.path.map(String).join(".")
        return where === "" ? issue.message : `invalid parameter ${where}: ${issue.message}`
      })
      .join("; ")
  })

// Every response: no caching of API answers, no content sniffing; the docs page may only run its inline bundle
// and talk to this server (so it can never load anything from elsewhere); the dashboard's files (WebAssets.ts) bring
// their own caching and policy. Every 503 (overload, timeout, store unavailable) is transient: Retry-After tells
// clients when to come back instead of retrying at once.
const securityHeaders = HttpApp.appendPreResponseHandler((request, response) => {
  const headers: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "cache-control": response.headers["cache-control"] ?? "no-store"
  }
  if (response.status === 401) headers["www-authenticate"] = 'Bearer realm="slowq"'
  if (response.status === 503) headers["retry-after"] = String(retryAfterSeconds)
  if (request.url === "/docs" || request.url.startsWith("/docs?")) {
    headers["content-security-policy"] =
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
  }
  return Effect.succeed(HttpServerResponse.setHeaders(response, headers))
})

/** The path of a request, without its query string (which is never logged). */
const pathOf = (request: HttpServerRequest.HttpServerRequest) => request.url.split("?")[0] ?? ""

/**
 * The router's own failures are untyped where the API middleware sees them (RouteNotFound, the decode error), so
 * they are recognised by class: an unknown route becomes the API's 404, a decode error a 400 naming the parameters,
 * a defect a logged 500 that tells nothing of its cause. The API's typed errors pass through to be encoded.
 */
const toApiFailure =
  (request: HttpServerRequest.HttpServerRequest) =>
  (
    cause: Cause.Cause<never>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, NotFoundError | HttpApiError.HttpApiDecodeError> => {
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      const error: unknown = failure.value
      if (error instanceof HttpServerError.RouteNotFound) {
        return Effect.fail(new NotFoundError({ message: `no route ${request.method} ${pathOf(request)}` }))
      }
      if (error instanceof HttpApiError.HttpApiDecodeError) return Effect.fail(readableDecodeError(error))
      return Effect.failCause(cause)
    }
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    return Effect.logError("HTTP handler failed", cause).pipe(
      Effect.annotateLogs({ method: request.method, path: pathOf(request) }),
      Effect.as(jsonError(500, "InternalError", "internal error; see slowq's log"))
    )
  }

/** The local address of the request's socket: the address the client connected to. */
const localAddressOf = (request: HttpServerRequest.HttpServerRequest) =>
  request.source instanceof Http.IncomingMessage ? request.source.socket.localAddress : undefined

/**
 * Inside the API, before errors are encoded: the Host check, the body limit, the handler timeout, the security
 * headers and the failures above. Log lines carry method, path and status only: never headers (the token) nor query
 * strings.
 */
const apiMiddleware = (api: SlowqApi, hosts: HostPolicy) =>
  HttpApiBuilder.middleware(api, (app) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      yield* securityHeaders
      if (!hostCheckExempt(pathOf(request)) && !hostAllowed(hosts, request.headers.host, localAddressOf(request))) {
        // The header is not echoed: it is the attacker's text.
        return jsonError(
          421,
          "MisdirectedRequestError",
          "the Host header names neither this server's address nor localhost; to reach slowq by that name, add it to SLOWQ_HTTP_ALLOWED_HOSTS"
        )
      }
      const length = Number(request.headers["content-length"] ?? "0")
      if (!Number.isFinite(length) || length > maxBodyBytes) {
        return HttpServerResponse.setHeader(
          jsonError(413, "PayloadTooLargeError", `request bodies are limited to ${maxBodyBytes} bytes`),
          "connection",
          "close"
        )
      }
      return yield* app.pipe(
        Effect.timeoutTo({
          duration: handlerTimeout,
          onSuccess: Effect.succeed,
          onTimeout: () =>
            Effect.logWarning("HTTP request timed out").pipe(
              Effect.annotateLogs({ method: request.method, path: pathOf(request) }),
              Effect.as(jsonError(503, "TimeoutError", `the request took longer than ${handlerTimeout}`))
            )
        }),
        Effect.flatten,
        Effect.catchAllCause(toApiFailure(request))
      )
    })
  )

/** Whether the client closed its connection: NodeHttpServer then interrupts the request's fiber. */
const clientGone = (request: HttpServerRequest.HttpServerRequest) =>
  request.source instanceof Http.IncomingMessage && request.source.socket.destroyed

/**
 * The status a request ended with. A request whose client went away is 499, as in nginx: not a failure of slowq's
 * (before, these were counted as 500s, 985 of them under 1,000 connections). The interruption reaches the handler as
 * a 503 response raised as an error by the API's error handling; a stop interrupts with 503 too.
 */
const statusOf = (exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>, gone: boolean): number => {
  if (gone) return 499
  if (Exit.isSuccess(exit)) return exit.value.status
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && HttpServerResponse.isServerResponse(failure.value)) return failure.value.status
  return Cause.isInterruptedOnly(exit.cause) ? 503 : 500
}

/**
 * Outermost: counts and times every request, also one interrupted because its client went away (the fiber is
 * interrupted, so this runs as its finalizer).
 */
const observe = (app: HttpApp.Default) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = yield* Clock.currentTimeMillis
    return yield* app.pipe(
      Effect.onExit((exit) =>
        Effect.gen(function* () {
          const status = statusOf(exit, clientGone(request))
          const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
          const annotations = { method: request.method, path: pathOf(request), status, ms: Math.round(seconds * 1000) }
          yield* Metric.increment(
            Metric.tagged(Metric.tagged(httpRequestsTotal, "method", request.method), "status", String(status))
          )
          yield* Metric.update(httpRequestSeconds, seconds)
          // The API's own 5xx are logged where they happen, with their cause; a failure that got this far is not.
          if (status === 500 && Exit.isFailure(exit)) {
            yield* Effect.logError("HTTP request failed", exit.cause).pipe(Effect.annotateLogs(annotations))
          } else {
            yield* Effect.logDebug("HTTP request").pipe(Effect.annotateLogs(annotations))
          }
        })
      )
    )
  })

const describeListenError = (settings: HttpApiSettings, cause: unknown) => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  const address = `${settings.host.includes(":") ? `[${settings.host}]` : settings.host}:${settings.port}`
  const reason =
    code === "EADDRINUSE"
      ? "the address is in use (another slowq?); set SLOWQ_HTTP_ADDR to another port"
      : code === "EADDRNOTAVAIL"
        ? "no interface of this machine has that address"
        : code === "EACCES"
          ? "permission denied (ports below 1024 need privileges)"
          : cause instanceof Error
            ? cause.message
            : String(cause)
  return `cannot serve the HTTP API on ${address} (SLOWQ_HTTP_ADDR): ${reason}`
}

/**
 * Serves the API until the caller's scope closes; then stops accepting, lets requests in flight finish for a
 * moment and closes the connections. Needs the daemon's store services and Supervisor, and the plugins (their
 * enrichments add fields to the API); call it once the pipelines are loaded.
 */
export const startHttpApi = Effect.fn("HttpApi.start")(function* (
  settings: HttpApiSettings,
  specs: ReadonlyArray<PipelineSpec>
) {
  // Before anything listens: an enrichment field that collides with another is a start error, not a served API.
  const definition = yield* makeSlowqApi(registeredEnrichments(yield* Plugins)).pipe(
    Effect.mapError((error) => new HttpApiStartError({ message: `cannot serve the HTTP API: ${error.message}`, cause: error }))
  )
  const server = makeNodeServer(settings.hosts)
  const api = HttpApiBuilder.api(definition).pipe(
    Layer.provide(handlersLayer(definition, specs.length)),
    Layer.provide(apiAuthLayer(settings))
  )
  const serving = HttpApiBuilder.serve(observe).pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(webAssetsLayer),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(apiMiddleware(definition, settings.hosts)),
    Layer.provide(api),
    Layer.provide(NodeHttpServer.layer(() => server, { host: settings.host, port: settings.port, backlog: listenBacklog }))
  )
  yield* touchPipelineCounters(
    [PipelineMetrics.runsTotal, PipelineMetrics.failuresTotal, PipelineMetrics.eventsTotal, PipelineMetrics.rowsWrittenTotal, PipelineMetrics.eventsDroppedTotal],
    specs.map((spec) => spec.name)
  )
  yield* Layer.build(serving).pipe(
    Effect.withScheduler(requestScheduler),
    Effect.catchTag("ServeError", (error) =>
      Effect.fail(new HttpApiStartError({ message: describeListenError(settings, error.cause), cause: error.cause }))
    )
  )
  yield* Effect.forkScoped(logOverload(server))
  const { readiness } = yield* StoreClient
  const supervisor = yield* Supervisor
  yield* serveReadiness(
    server,
    checkReadiness(readiness, Effect.map(supervisor.statuses, (statuses) => statuses.length), specs.length)
  )
  // Runs before the server layer's own finalizer (finalizers run in reverse), which then finds it closed.
  yield* Effect.addFinalizer(() =>
    Effect.async<void>((resume) => {
      const force = setTimeout(() => server.closeAllConnections(), shutdownGraceMs)
      server.close(() => {
        clearTimeout(force)
        resume(Effect.void)
      })
      server.closeIdleConnections()
    }).pipe(Effect.zipRight(Effect.logInfo("HTTP API stopped")))
  )
  const bound = Option.fromNullable(server.address()).pipe(
    Option.flatMap((address) => (typeof address === "string" ? Option.none() : Option.some(address)))
  )
  const address = Option.match(bound, {
    onNone: () => `${settings.host}:${settings.port}`,
    onSome: (a) => (a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`)
  })
  yield* Effect.logInfo(`HTTP API listening on http://${address}`).pipe(
    Effect.annotateLogs({
      http_address: address,
      auth: Option.isSome(settings.token) ? "token" : "none (loopback only; control disabled)",
      public_read: settings.publicRead,
      allowed_hosts:
        settings.hosts._tag === "Any" ? "any" : ["localhost", "the address connected to", ...settings.hosts.names].join(", ")
    })
  )
  return address
})
