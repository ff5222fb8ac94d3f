import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { runCli, startCli, waitForExit } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"

// test group: other
// (mysql:// is named only as a store URL that is refused: the pipelines read files.)

/** A port nothing listens on: one the system just gave out and took back. */
const closedPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-e2e-storeconnect-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A live process that is not slowq, killed when the scope closes. */
const foreignProcess = Effect.acquireRelease(
  Effect.sync(() => spawn("sleep", ["600"], { stdio: "ignore" })),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
)

describe("the store's connection errors, through the CLI", () => {
  it.live(
    "a refused port, a missing database, an unknown role and a garbage URL each name their cause",
    () =>
      Effect.gen(function* () {
        const password = `pw_${randomBytes(8).toString("hex")}`
        const suffix = randomBytes(4).toString("hex")
        const port = yield* closedPort
        // Local PostgreSQL trusts 127.0.0.1 (LAB.md): a wrong password is accepted there, so an unknown role stands for
        // the server's refusal of a login. Every URL carries a password that must never be printed.
        const cases = [
          [`postgres://slowq:${password}@127.0.0.1:${port}/slowq`, `ECONNREFUSED 127.0.0.1:${port}`],
          [`postgres://postgres:${password}@127.0.0.1:5432/nope_${suffix}`, `3D000 database "nope_${suffix}" does not exist`],
          [`postgres://nobody_${suffix}:${password}@127.0.0.1:5432/postgres`, `28000 role "nobody_${suffix}" does not exist`],
          [`garbage::${password}@`, "invalid URL (expected postgres://user:password@host:port/database)"],
          [`mysql://root:${password}@127.0.0.1:3306/test`, "invalid URL (expected postgres://user:password@host:port/database)"]
        ] as const
        for (const [url, cause] of cases) {
          const result = yield* runCli(["report"], { SLOWQ_STORE_URL: url })
          expect({ code: result.code, stderr: result.stderr, stdout: result.stdout }).toEqual({
            code: 1,
            stderr: `cannot connect to the store (SLOWQ_STORE_URL): ${cause}\n`,
            stdout: ""
          })
          expect(`${result.stdout}${result.stderr}`).not.toContain(password)
        }
      }),
    240_000
  )
})

describe("the embedded store's folder lock, through the CLI", () => {
  it.live("a folder locked by another live process: the store is in use, by that process", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const holder = yield* foreignProcess
      writeFileSync(join(dir, "slowq.lock"), `${holder.pid}\n`)
      const result = yield* runCli(["report"], { SLOWQ_STORE_DIR: dir })
      expect({ code: result.code, stderr: result.stderr }).toEqual({
        code: 1,
        stderr: `the embedded store in ${dir} is in use by process ${holder.pid}, which is not serving it yet: run one slowq daemon per store folder, or set SLOWQ_STORE_DIR to another folder (lock: ${join(dir, "slowq.lock")})\n`
      })
      expect(existsSync(join(dir, "data"))).toBe(false)
    }).pipe(Effect.scoped)
  )

  it.live(
    "two daemons started together on one folder: the second says the first holds it and exits 1; a crash's lock is taken over",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const store = join(dir, "store")
        const pipelines = yield* pipelinesDir({
          "idle.yaml": `name: idle\nschedule:\n  every: 1h\nsource:\n  type: mysql_slow_log_file\n  path: ${join(dir, "none-*.log")}\n`
        })
        const env = { SLOWQ_STORE_DIR: store }
        const first = startCli(["run", "--pipelines", pipelines], env)
        const second = startCli(["run", "--pipelines", pipelines], env)
        const logs = new Map([first, second].map((child) => [child, { text: "" }]))
        for (const [child, log] of logs) {
          child.stderr?.on("data", (chunk: Buffer) => {
            log.text += chunk.toString("utf8")
          })
        }
        const exits = yield* Effect.all([waitForExit(first), waitForExit(second)].map((exit) => Effect.fork(exit)))
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            first.kill("SIGKILL")
            second.kill("SIGKILL")
          })
        )
        // Whichever took the lock serves the store; the other must say so, not "[object Object]".
        const loser = yield* Effect.raceAll(
          [first, second].map((child, i) => Fiber.join(exits[i]!).pipe(Effect.map((result) => ({ child, result }))))
        )
        const winner = loser.child === first ? second : first
        expect({ code: loser.result.code, stderr: loser.result.stderr }).toEqual({
          code: 1,
          stderr: `the embedded store in ${store} is in use by process ${winner.pid}, which is not serving it yet: run one slowq daemon per store folder, or set SLOWQ_STORE_DIR to another folder (lock: ${join(store, "slowq.lock")})\n`
        })
        yield* eventually("the other daemon to start", Effect.sync(() => logs.get(winner)?.text.includes("slowq is running") === true), "180 seconds")
        expect(readFileSync(join(store, "slowq.lock"), "utf8")).toBe(`${winner.pid}\n`)

        // kill -9 leaves the lock behind; the next slowq finds its process gone and takes the folder.
        winner.kill("SIGKILL")
        yield* Fiber.join(exits[winner === first ? 0 : 1]!)
        expect(readFileSync(join(store, "slowq.lock"), "utf8")).toBe(`${winner.pid}\n`)
        const report = yield* runCli(["report"], env)
        expect({ code: report.code, stderr: report.stderr }).toEqual({ code: 0, stderr: "" })
        expect(existsSync(join(store, "slowq.lock"))).toBe(false)
      }).pipe(Effect.scoped),
    300_000
  )
})
