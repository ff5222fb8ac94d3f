import * as Http from "node:http"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { AdmittingServer } from "../../src/http/Admission.js"

// The probes Node answers before the API (Admission.ts): which requests, with what, and which readiness result a
// probe gets. The API behind is a listener that answers 299, so that a request passed on to it shows.

interface Answer {
  readonly status: number
  readonly body: string
  readonly headers: Http.IncomingHttpHeaders
}

const serve = Effect.acquireRelease(
  Effect.async<{ readonly server: AdmittingServer; readonly port: number }>((resume) => {
    const server = new AdmittingServer({}, { _tag: "Listed", names: [] })
    server.on("request", (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
      response.writeHead(299).end("api")
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({ server, port: typeof address === "object" && address !== null ? address.port : 0 }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const send = (port: number, path: string, options: { readonly method?: string; readonly host?: string } = {}) =>
  Effect.async<Answer>((resume) => {
    const request = Http.request(
      { host: "127.0.0.1", port, path, method: options.method ?? "GET", agent: false, headers: options.host === undefined ? {} : { host: options.host } },
      (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          body += chunk
        })
        response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body, headers: response.headers })))
      }
    )
    request.on("error", (error) => resume(Effect.die(error)))
    request.end()
  })

/**
 * A readiness checker driven by the test: it records each check asked for and runs `onAsk`, synchronously as the
 * probe arrives (so no timer of the server's can run in between).
 */
const attachChecker = (server: AdmittingServer, onAsk: (probe: number) => void = () => undefined) => {
  const asked: Array<number> = []
  server.attachReadiness((probe) => {
    asked.push(probe)
    onAsk(probe)
  })
  return asked
}

const ready = { status: 200, body: '{"status":"ready","store":true,"pipelines":1}' }
const readOnly = { status: 503, body: '{"_tag":"NotReadyError","message":"store is read-only","store":false,"pipelines":1}' }

describe("probes answered by Node", () => {
  it.live("GET /healthz is answered with the API's body and headers, whatever the Host; other requests reach the API", () =>
    Effect.gen(function* () {
      const { port } = yield* serve
      const health = yield* send(port, "/healthz", { host: "attacker.example" })
      expect([health.status, health.body, health.headers["content-type"], health.headers["cache-control"], health.headers["x-content-type-options"]]).toEqual([
        200,
        '{"status":"ok"}',
        "application/json",
        "no-store",
        "nosniff"
      ])
      const passedOn = yield* Effect.all([
        send(port, "/healthz?verbose=1"),
        send(port, "/healthz", { method: "POST" }),
        send(port, "/healthz/"),
        // No readiness checker attached: the API answers.
        send(port, "/readyz")
      ])
      expect(passedOn.map((answer) => [answer.status, answer.body])).toEqual(Array.from({ length: 4 }, () => [299, "api"]))
    }).pipe(Effect.scoped)
  )

  it.live("a probe gets the check that starts after it arrived, not one already running", () =>
    Effect.gen(function* () {
      const { server, port } = yield* serve
      const asked = attachChecker(server, (probe) => {
        if (probe === 1) server.publishReadiness(ready, 1)
        if (probe === 2) {
          // Check 1's result, published after probe 2 arrived, does not answer it; check 2's does.
          server.publishReadiness(ready, 1)
          server.publishReadiness(readOnly, 2)
        }
      })
      const first = yield* send(port, "/readyz")
      expect([first.status, first.body]).toEqual([200, ready.body])
      const second = yield* send(port, "/readyz")
      expect([second.status, second.body, second.headers["retry-after"]]).toEqual([503, readOnly.body, "1"])
      expect(asked).toEqual([1, 2])
    }).pipe(Effect.scoped)
  )

  it.live("a probe whose check does not report in time gets the last result; with none recent, a 503", () =>
    Effect.gen(function* () {
      const { server, port } = yield* serve
      const asked = attachChecker(server)
      // No result yet: the probe waits for its check, then gives up.
      const none = yield* send(port, "/readyz")
      expect([none.status, none.body]).toEqual([503, '{"_tag":"NotReadyError","message":"the readiness check did not finish"}'])
      server.publishReadiness(readOnly, 1)
      // Check 2 never reports: the probe gets check 1's result.
      const stale = yield* send(port, "/readyz")
      expect([stale.status, stale.body, asked]).toEqual([503, readOnly.body, [1, 2]])
    }).pipe(Effect.scoped)
  )

  it.live("probes waiting when the API stops are told it stops; then the API answers /readyz", () =>
    Effect.gen(function* () {
      const { server, port } = yield* serve
      const asked = attachChecker(server, () => server.detachReadiness())
      const answer = yield* send(port, "/readyz")
      expect([answer.status, answer.body, asked]).toEqual([503, '{"_tag":"NotReadyError","message":"slowq is stopping its HTTP API"}', [1]])
      expect((yield* send(port, "/readyz")).status).toBe(299)
    }).pipe(Effect.scoped)
  )
})
