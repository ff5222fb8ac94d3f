import { spawn } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { cliPath, projectRoot } from "../support/Cli.js"

// `slowq fingerprint` as other tools call it: JSON lines in, JSON lines out, one for one, in order.

interface Run {
  readonly code: number | null
  readonly lines: ReadonlyArray<unknown>
  readonly stderr: string
}

const fingerprintCli = (args: ReadonlyArray<string>, input: string): Effect.Effect<Run> =>
  Effect.async<Run>((resume) => {
    const child = spawn(process.execPath, [cliPath, "fingerprint", ...args], {
      cwd: projectRoot,
      stdio: ["pipe", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("close", (code) => {
      const lines = stdout.split("\n")
      resume(Effect.succeed({ code, stderr, lines: lines.slice(0, -1).map((l) => JSON.parse(l)) }))
    })
    child.stdin.end(input)
  })

describe("slowq fingerprint", () => {
  it.effect("writes one line per input line, in order, with an error for what it cannot read", () =>
    Effect.gen(function* () {
      const input = [
        JSON.stringify({ sql: "SELECT * FROM t WHERE id = 5" }),
        "not json",
        "",
        JSON.stringify({ sql: 42 }),
        JSON.stringify({ sql: "select a from shop.b where c in (1,2,3)", other: "ignored" }),
        JSON.stringify({ sql: "" })
      ].join("\n")
      const run = yield* fingerprintCli([], input)
      expect(run.code).toBe(0)
      expect(run.lines).toEqual([
        {
          fingerprint: "select * from t where id = ?",
          id: "86A4FD498C70095E35FC3906162972DA",
          type: "select",
          tables: ["t"]
        },
        { fingerprint: null, id: null, type: null, tables: [], error: "not valid JSON" },
        { fingerprint: null, id: null, type: null, tables: [], error: 'expected an object with a string field "sql"' },
        {
          fingerprint: "select a from shop.b where c in(?+)",
          id: "F8D4B1B1B0AC1FA7BE40EC72040D1813",
          type: "select",
          tables: ["shop.b"]
        },
        { fingerprint: "", id: "D41D8CD98F00B204E9800998ECF8427E", type: "other", tables: [] }
      ])
    }), 60_000)

  it.effect("reads PostgreSQL with --dialect postgres: a literal statement and its $n form share the id", () =>
    Effect.gen(function* () {
      const input = [
        JSON.stringify({ sql: "SELECT * FROM users WHERE id = 5 AND name = 'bob'" }),
        JSON.stringify({ sql: "select * from users where id = $1 and name = $2" }),
        JSON.stringify({ sql: "SELECT * FROM users WHERE name = 'cut" })
      ].join("\n")
      const run = yield* fingerprintCli(["--dialect", "postgres"], input)
      expect(run.code).toBe(0)
      expect(run.lines).toEqual([
        {
          fingerprint: "SELECT * FROM users WHERE id = $1 AND name = $2",
          id: "eb6afdd7040bea4c",
          type: "select",
          tables: ["users"]
        },
        {
          fingerprint: "select * from users where id = $1 and name = $2",
          id: "eb6afdd7040bea4c",
          type: "select",
          tables: ["users"]
        },
        { fingerprint: "select * from users where name = ?", id: "9e31877208e96d63", type: "select", tables: ["users"] }
      ])
    }), 60_000)

  it.effect("keeps embedded numbers with --match-embedded-numbers", () =>
    Effect.gen(function* () {
      const run = yield* fingerprintCli(["--match-embedded-numbers"], JSON.stringify({ sql: "SELECT * FROM users_2009" }))
      expect(run.lines).toEqual([
        {
          fingerprint: "select * from users_2009",
          id: "33F502FC7C0EC76906784C3DA2BA4AE8",
          type: "select",
          tables: ["users_2009"]
        }
      ])
    }), 60_000)

  it.effect("streams: 50,000 lines come out one for one and in order", () =>
    Effect.gen(function* () {
      // Table names of letters only, so that every line has its own fingerprint (pt's rule would turn a
      // digit in a name into ?).
      const table = (i: number): string => {
        let out = ""
        for (let k = 0; k < 5; k++, i = Math.floor(i / 14)) out += "ghijkmopqsvwyz"[i % 14]
        return out
      }
      const input = Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ sql: `SELECT * FROM ${table(i)} WHERE id = ${i}` }))
      const run = yield* fingerprintCli([], input.join("\n"))
      expect(run.code).toBe(0)
      expect((run.lines as ReadonlyArray<{ fingerprint: string }>).map((l) => l.fingerprint)).toEqual(
        Array.from({ length: 50_000 }, (_, i) => `select * from ${table(i)} where id = ?`)
      )
    }), 120_000)

  it.effect("answers a line before stdin ends", () =>
    Effect.async<string>((resume) => {
      const child = spawn(process.execPath, [cliPath, "fingerprint"], { cwd: projectRoot, stdio: ["pipe", "pipe", "pipe"] })
      let stdout = ""
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
        if (stdout.includes("\n")) {
          // The first answer arrived while stdin is still open: the command streams.
          child.stdin.end()
        }
      })
      child.on("close", () => resume(Effect.succeed(stdout)))
      child.stdin.write(`${JSON.stringify({ sql: "SELECT 1" })}\n`)
    }).pipe(
      Effect.map((stdout) => expect(JSON.parse(stdout.trim())).toMatchObject({ fingerprint: "select ?", type: "select" }))
    ), 60_000)
})
