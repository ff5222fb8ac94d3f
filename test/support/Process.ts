import { spawn } from "node:child_process"
import { Effect } from "effect"

/** Runs a command with `input` on its stdin; its stdout, or a failure carrying its exit code and stderr. */
export const runCommand = (command: string, args: ReadonlyArray<string>, input: string | Buffer = "") =>
  Effect.async<string, Error>((resume) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("error", (cause) => resume(Effect.fail(new Error(`${command} did not start: ${cause.message}`))))
    child.on("close", (code) =>
      resume(code === 0 ? Effect.succeed(stdout) : Effect.fail(new Error(`${command} exited ${code}: ${stderr}`)))
    )
    child.stdin.end(input)
  })
