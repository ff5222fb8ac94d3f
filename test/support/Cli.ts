import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

export const cliPath = fileURLToPath(new URL("../../src/bin/slowq.js", import.meta.url))
export const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Keeps everything the tests store: their logs are dated 2024, and a daemon would prune those events under the
 * default retention (7 days) while a test checks them. test/store/Retention.test.ts tests retention itself.
 */
const keepEverything = { SLOWQ_RETAIN_EVENTS: "36500d", SLOWQ_RETAIN_MINUTES: "36500d", SLOWQ_RETAIN_HOURS: "36500d" }

/** Starts `slowq ARGS…` as a user would, in its own process. */
export const startCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): ChildProcess =>
  spawn(process.execPath, [cliPath, ...args], {
    cwd: projectRoot,
    env: { ...process.env, SLOWQ_LOG_LEVEL: "info", SLOWQ_HTTP_ADDR: "127.0.0.1:0", ...keepEverything, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })

/** Collects a started process's output until it exits. */
export const waitForExit = (child: ChildProcess): Effect.Effect<CliResult> =>
  Effect.async<CliResult>((resume) => {
    let stdout = ""
    let stderr = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
  })

/** Runs `slowq ARGS…` to completion. */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.suspend(() => waitForExit(startCli(args, env)))

/** Waits until a started process has written `text` to stderr (where slowq logs), e.g. "slowq is running". */
export const waitForLog = (child: ChildProcess, text: string): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let seen = ""
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("utf8")
      if (seen.includes(text)) {
        child.stderr?.off("data", onData)
        resume(Effect.void)
      }
    }
    child.stderr?.on("data", onData)
    return Effect.sync(() => child.stderr?.off("data", onData))
  })
