import type { ChildProcess } from "node:child_process"
import { Duration, Effect, Fiber, Schedule, Schema } from "effect"
import { type CliResult, startCli, waitForExit } from "../support/Cli.js"
import { pipelinesDir } from "../support/Pipelines.js"

/** A `slowq run` started as a user would, serving its HTTP API on a port the system chose. */
export interface HttpDaemon {
  readonly base: string
  readonly child: ChildProcess
  /** Everything the daemon wrote to stderr (its log) so far. */
  readonly log: () => string
  /** SIGTERM (once), then its exit. */
  readonly stop: Effect.Effect<CliResult>
}

// logfmt quotes the message: the address is read up to the first character an address cannot hold.
const listening = /HTTP API listening on http:\/\/([\w.:[\]-]+)/

/**
 * Starts `slowq run` on the given pipeline files with `SLOWQ_HTTP_ADDR=127.0.0.1:0` (unless `env` says otherwise)
 * and waits for the address it logs. Stopped when the scope closes, if not before.
 */
export const startHttpDaemon = (files: Record<string, string>, env: Record<string, string>) =>
  Effect.flatMap(pipelinesDir(files), (dir) => startHttpDaemonAt(dir, env))

/** As startHttpDaemon, on the pipelines folder `dir` (replicas share one). */
export const startHttpDaemonAt = (dir: string, env: Record<string, string>) =>
  Effect.gen(function* () {
    const child = startCli(["run", "--pipelines", dir], { SLOWQ_HTTP_ADDR: "127.0.0.1:0", ...env })
    let stderr = ""
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    // Scoped, not a child of this fiber: the daemon outlives the layer or effect that started it.
    const exited = yield* Effect.forkScoped(waitForExit(child))
    const stop = Effect.suspend(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      return Fiber.join(exited)
    }).pipe(Effect.cached)
    const stopOnce = yield* stop
    // Cleanup is bounded even if the daemon ignores SIGTERM (a failed test must not hang the file).
    yield* Effect.addFinalizer(() =>
      stopOnce.pipe(
        Effect.timeout("15 seconds"),
        Effect.catchAll(() => Effect.sync(() => child.kill("SIGKILL")).pipe(Effect.zipRight(Fiber.join(exited)))),
        Effect.asVoid
      )
    )
    const base = yield* Effect.suspend(() => {
      const match = listening.exec(stderr)
      if (match !== null) return Effect.succeed(`http://${match[1]!}`)
      if (child.exitCode !== null) return Effect.die(new Error(`slowq run exited ${child.exitCode}:\n${stderr}`))
      return Effect.fail("not yet" as const)
    }).pipe(
      Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (e) => e === "not yet" }),
      Effect.timeoutFail({
        duration: Duration.seconds(60),
        onTimeout: () => new Error(`slowq run did not log its HTTP address within 60 s:\n${stderr}`)
      }),
      Effect.orDie
    )
    return { base, child, log: () => stderr, stop: stopOnce } satisfies HttpDaemon
  })

export interface HttpAnswer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** One request; `token` goes in `Authorization: Bearer …`. */
export const request = (
  daemon: HttpDaemon,
  method: string,
  path: string,
  options: { readonly token?: string; readonly headers?: Record<string, string>; readonly body?: string } = {}
) =>
  Effect.tryPromise({
    try: async (): Promise<HttpAnswer> => {
      const headers: Record<string, string> = { ...options.headers }
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
      const response = await fetch(`${daemon.base}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: options.body })
      })
      return { status: response.status, headers: response.headers, text: await response.text() }
    },
    catch: (cause) => new Error(`${method} ${path} got no answer: ${String(cause)}`)
  })

/** The JSON body of an answer, decoded with `schema`. */
export const json = <A, I>(schema: Schema.Schema<A, I>, answer: HttpAnswer) =>
  Schema.decodeUnknownSync(Schema.parseJson(schema))(answer.text)
