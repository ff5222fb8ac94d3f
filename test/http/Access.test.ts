import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PipelineList } from "../../src/http/Api.js"
import { runCli } from "../support/Cli.js"
import { mariadbPipeline, pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { type HttpDaemon, json, request, startHttpDaemon } from "./HttpDaemon.js"

// The daemon's pipelines here read a closed port: access is what is tested, not collection.
const downPipeline = { "down.yaml": mariadbPipeline("access_down", { every: "1h", url: "mysql://root@127.0.0.1:1/test" }) }
// An unreachable store: a refusal must come before any connection is tried.
const nowhere = "postgres://postgres@127.0.0.1:1/none"

const refused = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const dir = yield* pipelinesDir(downPipeline)
    const result = yield* runCli(["run", "--pipelines", dir], { SLOWQ_STORE_URL: nowhere, ...env })
    return { code: result.code, stdout: result.stdout, stderr: result.stderr }
  }).pipe(Effect.scoped)

const tempFile = (text: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "slowq-token-"))
      const file = join(dir, "token")
      writeFileSync(file, text)
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map(({ file }) => file))

describe("slowq run refuses an unsafe or broken HTTP setup, with a clear message", () => {
  it.live(
    "each refusal",
    () =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
          [
            { SLOWQ_HTTP_ADDR: "0.0.0.0:8080" },
            "refusing to serve the HTTP API on 0.0.0.0:8080 without a token: set SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE, set SLOWQ_DATA_DIR to have one generated there, or bind to a loopback address such as 127.0.0.1:8080"
          ],
          [{ SLOWQ_HTTP_ADDR: "[::]:9000" }, "refusing to serve the HTTP API on [::]:9000 without a token"],
          [
            { SLOWQ_HTTP_ADDR: "8080" },
            'SLOWQ_HTTP_ADDR="8080" is not an address: expected HOST:PORT such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080'
          ],
          [
            { SLOWQ_API_TOKEN: "short" },
            "the API token (SLOWQ_API_TOKEN) is shorter than 16 characters; use e.g. `openssl rand -hex 32`"
          ],
          [
            { SLOWQ_API_TOKEN: "a".repeat(20), SLOWQ_API_TOKEN_FILE: "/nonexistent" },
            "set SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE, not both"
          ],
          [
            { SLOWQ_API_TOKEN_FILE: "/nonexistent/slowq-token" },
            "cannot read SLOWQ_API_TOKEN_FILE /nonexistent/slowq-token: no such file"
          ],
          [{ SLOWQ_API_PUBLIC_READ: "maybe" }, 'SLOWQ_API_PUBLIC_READ="maybe": expected true or false']
        ]
        for (const [env, message] of cases) {
          const result = yield* refused(env)
          expect([env, result.code, result.stderr]).toEqual([env, 1, expect.stringContaining(message)])
          // Refused before the store was tried (it is unreachable here).
          expect(result.stderr).not.toContain("cannot connect to")
        }
      }),
    120_000
  )

  it.live(
    "an address in use is named, and the daemon exits",
    () =>
      Effect.gen(function* () {
        const store = yield* freshStoreDatabase
        const blocker = createServer()
        const port = yield* Effect.async<number>((resume) => {
          blocker.listen(0, "127.0.0.1", () => {
            const address = blocker.address()
            resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
          })
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => blocker.close()))
        const dir = yield* pipelinesDir(downPipeline)
        const result = yield* runCli(["run", "--pipelines", dir], {
          SLOWQ_STORE_URL: store.url,
          SLOWQ_HTTP_ADDR: `127.0.0.1:${port}`
        })
        expect(result.code).toBe(1)
        expect(result.stderr).toContain(
          `cannot serve the HTTP API on 127.0.0.1:${port} (SLOWQ_HTTP_ADDR): the address is in use (another slowq?); set SLOWQ_HTTP_ADDR to another port`
        )
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("access modes", () => {
  it.live(
    "without a token (loopback only): reads are open, control is disabled",
    () =>
      Effect.gen(function* () {
        const store = yield* freshStoreDatabase
        const daemon = yield* startHttpDaemon(downPipeline, { SLOWQ_STORE_URL: store.url })
        expect((yield* request(daemon, "GET", "/api/v1/pipelines")).status).toBe(200)
        expect((yield* request(daemon, "GET", "/api/v1/queries")).status).toBe(200)
        // Any token is as good as none: there is nothing to check it against, and control stays off.
        expect((yield* request(daemon, "GET", "/api/v1/queries", { token: "x".repeat(20) })).status).toBe(200)
        for (const path of ["/api/v1/pipelines/access_down/run", "/api/v1/pipelines/access_down/pause", "/api/v1/scheduler/pause"]) {
          for (const token of [undefined, "y".repeat(20)]) {
            const answer = yield* request(daemon, "POST", path, token === undefined ? {} : { token })
            expect([path, answer.status, JSON.parse(answer.text)]).toEqual([
              path,
              403,
              {
                _tag: "ForbiddenError",
                message: "control endpoints are disabled: start slowq with SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE"
              }
            ])
          }
        }
        const list = json(PipelineList, yield* request(daemon, "GET", "/api/v1/pipelines"))
        expect([list.scheduler_paused, list.pipelines.map((p) => p.state === "paused")]).toEqual([false, [false]])
        expect(daemon.log()).toContain('auth="none (loopback only; control disabled)"')
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "no token configured on every interface: one is generated into SLOWQ_DATA_DIR once, kept across restarts, and a configured one wins",
    () =>
      Effect.gen(function* () {
        const store = yield* freshStoreDatabase
        const dataDir = join(
          yield* Effect.acquireRelease(
            Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-data-"))),
            (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
          ),
          "data"
        )
        const tokenFile = join(dataDir, "api-token")
        const env = { SLOWQ_STORE_URL: store.url, SLOWQ_HTTP_ADDR: "0.0.0.0:0", SLOWQ_DATA_DIR: dataDir }
        const local = (daemon: HttpDaemon) => ({ ...daemon, base: daemon.base.replace("0.0.0.0", "127.0.0.1") })

        const first = yield* startHttpDaemon(downPipeline, env)
        const token = readFileSync(tokenFile, "utf8").trim()
        // 32 random bytes in hex, readable by the daemon's user only, in a folder of its own.
        expect([/^[0-9a-f]{64}$/.test(token), statSync(tokenFile).mode & 0o777, statSync(dataDir).mode & 0o777]).toEqual([true, 0o600, 0o700])
        expect(first.log()).toContain(
          `no API token configured: generated one into ${tokenFile}; read it with \`cat ${tokenFile}\` (under docker-compose: \`docker-compose exec slowq cat ${tokenFile}\`)`
        )
        expect(first.log()).not.toContain(token)
        expect((yield* request(local(first), "GET", "/api/v1/queries")).status).toBe(401)
        expect((yield* request(local(first), "GET", "/api/v1/queries", { token })).status).toBe(200)
        expect((yield* request(local(first), "POST", "/api/v1/scheduler/pause", { token })).status).toBe(200)
        yield* first.stop

        // Restarted: the same token, not a new one.
        const second = yield* startHttpDaemon(downPipeline, env)
        expect(readFileSync(tokenFile, "utf8").trim()).toBe(token)
        expect(second.log()).toContain(`no API token configured: using the one generated earlier in ${tokenFile}`)
        expect((yield* request(local(second), "GET", "/api/v1/queries", { token })).status).toBe(200)
        yield* second.stop

        // A configured token wins: the generated one opens nothing.
        const configured = randomBytes(16).toString("hex")
        const third = yield* startHttpDaemon(downPipeline, { ...env, SLOWQ_API_TOKEN: configured })
        expect((yield* request(local(third), "GET", "/api/v1/queries", { token })).status).toBe(403)
        expect((yield* request(local(third), "GET", "/api/v1/queries", { token: configured })).status).toBe(200)
        expect(third.log()).not.toContain("no API token configured")

        // A file that holds no token is named, not used.
        yield* third.stop
        writeFileSync(tokenFile, "short\n")
        const broken = yield* refused({ SLOWQ_HTTP_ADDR: "0.0.0.0:8080", SLOWQ_DATA_DIR: dataDir })
        expect([broken.code, broken.stderr]).toEqual([
          1,
          expect.stringContaining(
            `${tokenFile} holds no valid API token (shorter than 16 characters): delete it to have a new one generated, or set SLOWQ_API_TOKEN`
          )
        ])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a token from a file on every interface, with public reads: reads need no token, control needs the file's",
    () =>
      Effect.gen(function* () {
        const store = yield* freshStoreDatabase
        const token = randomBytes(16).toString("hex")
        const file = yield* tempFile(`${token}\n`)
        const daemon = yield* startHttpDaemon(downPipeline, {
          SLOWQ_STORE_URL: store.url,
          SLOWQ_HTTP_ADDR: "0.0.0.0:0",
          SLOWQ_API_TOKEN_FILE: file,
          SLOWQ_API_PUBLIC_READ: "true"
        })
        // Bound on every interface; reached here over loopback.
        expect(daemon.base.startsWith("http://0.0.0.0:")).toBe(true)
        const local = { ...daemon, base: daemon.base.replace("0.0.0.0", "127.0.0.1") }
        expect((yield* request(local, "GET", "/api/v1/pipelines")).status).toBe(200)
        expect((yield* request(local, "GET", "/api/v1/queries?limit=5")).status).toBe(200)
        expect((yield* request(local, "POST", "/api/v1/scheduler/pause")).status).toBe(401)
        expect((yield* request(local, "POST", "/api/v1/scheduler/pause", { token: `${token}0` })).status).toBe(403)
        const paused = yield* request(local, "POST", "/api/v1/scheduler/pause", { token })
        expect([paused.status, JSON.parse(paused.text)]).toEqual([200, { scheduler_paused: true }])
        const resumed = yield* request(local, "POST", "/api/v1/scheduler/resume", { token })
        expect([resumed.status, JSON.parse(resumed.text)]).toEqual([200, { scheduler_paused: false }])
        expect(daemon.log()).not.toContain(token)
      }).pipe(Effect.scoped),
    90_000
  )
})
