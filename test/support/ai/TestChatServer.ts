import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"

/**
 * For the tests: a local HTTP server that speaks the chat-completions protocol as far as slowq uses it (no model
 * is reachable from the test machines). It records every request and answers as the test says.
 */

export interface ReceivedRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface ChatReply {
  readonly status: number
  readonly body: string
  /** Wait this long before answering. */
  readonly delayMs?: number
}

export interface ChatServer {
  /** `http://127.0.0.1:<port>/v1`: what a pipeline writes as `base_url`. */
  readonly baseUrl: string
  /** `127.0.0.1:<port>` */
  readonly host: string
  readonly received: ReadonlyArray<ReceivedRequest>
}

/** A chat-completions response body whose first choice's message says `content`. */
export const completion = (content: string): string =>
  JSON.stringify({
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1765080000,
    model: "test-model",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 }
  })

/** The server, for the scope; `reply` answers the n-th request (0-based). */
export const chatServer = (reply: (request: ReceivedRequest, index: number) => ChatReply) =>
  Effect.acquireRelease(
    Effect.async<{ server: ChatServer; close: (done: () => void) => void }>((resume) => {
      const received: Array<ReceivedRequest> = []
      const timers = new Set<NodeJS.Timeout>()
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const entry: ReceivedRequest = {
            method: request.method ?? "",
            url: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }
          const answer = reply(entry, received.length)
          received.push(entry)
          const send = () => {
            response.writeHead(answer.status, { "content-type": "application/json" })
            response.end(answer.body)
          }
          if (answer.delayMs === undefined) return send()
          const timer = setTimeout(() => {
            timers.delete(timer)
            send()
          }, answer.delayMs)
          timers.add(timer)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(
          Effect.succeed({
            server: { baseUrl: `http://127.0.0.1:${port}/v1`, host: `127.0.0.1:${port}`, received },
            close: (done) => {
              for (const timer of timers) clearTimeout(timer)
              server.closeAllConnections()
              server.close(() => done())
            }
          })
        )
      })
    }),
    ({ close }) => Effect.async<void>((resume) => close(() => resume(Effect.void)))
  ).pipe(Effect.map(({ server }) => server))
