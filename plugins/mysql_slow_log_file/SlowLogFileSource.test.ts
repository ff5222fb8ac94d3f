import { execFileSync } from "node:child_process"
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import type { SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { Config, type ConfigInput } from "./config.js"
import { Checkpoint, globRegExp, make, openRegular } from "./SlowLogFileSource.js"

/** A slow log entry as MariaDB writes it; `n` makes each one distinct. */
const entry = (n: number, sql = `SELECT ${n} FROM t`) =>
  `# Time: 240115 10:00:${String(n % 60).padStart(2, "0")}\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: shop  QC_hit: No\n# Query_time: 0.${String(n).padStart(6, "0")}  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\n# Rows_affected: 0  Bytes_sent: 10\nSET timestamp=${1705312800 + n};\n${sql};\n`
const entries = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => entry(from + i)).join("")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-slowlog-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const decodeConfig = Schema.decodeUnknownSync(Config)

/**
 * Plays the runtime: one `read` from the stored checkpoint, each batch "stored" (events by key, ignoring keys
 * already there, and the checkpoint) in order.
 */
const makeRuntime = (input: Omit<ConfigInput, "type">) => {
  const config = decodeConfig({ type: "mysql_slow_log_file", settle_ms: 0, ...input })
  const store = new Map<string, SlowQueryEvent>()
  let checkpoint: Option.Option<unknown> = Option.none()
  const run = Effect.gen(function* () {
    const source = yield* make(config)
    const batches = yield* Stream.runCollect(source.read(checkpoint))
    const fresh: Array<SlowQueryEvent> = []
    for (const batch of batches) {
      for (const event of batch.events) {
        if (!store.has(event.key)) {
          store.set(event.key, event)
          fresh.push(event)
        }
      }
      // The store keeps JSON; a checkpoint must survive the round trip.
      checkpoint = Option.some(JSON.parse(JSON.stringify(batch.checkpoint)))
    }
    return { fresh, batches: Chunk.toReadonlyArray(batches) }
  })
  return {
    run,
    store,
    checkpoint: () => Option.map(checkpoint, (value) => Either.getOrThrow(Schema.decodeUnknownEither(Checkpoint)(value)))
  }
}

const sqls = (events: ReadonlyArray<SlowQueryEvent>) => events.map((e) => e.sqlText)
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `SELECT ${from + i} FROM t`)

describe("mysql_slow_log_file source", () => {
  it.scoped("reads a file into events keyed by file identity and offset, then only what was appended", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, entries(1, 4))
      const runtime = makeRuntime({ path, batch_size: 2 })
      const first = yield* runtime.run
      expect(sqls(first.fresh)).toEqual(range(1, 4))
      expect(first.batches.map((b) => b.events.length)).toEqual([2, 1])
      const [event] = first.fresh
      const key = Option.getOrThrow(runtime.checkpoint()).files[0]!.key
      expect(event).toEqual({
        key: `${key}:0`,
        startTimeUs: 1705312801000000,
        intervalStartUs: null,
        calls: 1,
        queryTimeMs: 0.001,
        lockTimeMs: 0.001,
        rowsSent: 1,
        rowsExamined: 1,
        rowsAffected: 0,
        db: "shop",
        user: "app[app] @ localhost []",
        threadId: 7,
        sqlText: "SELECT 1 FROM t",
        metrics: {},
        attributes: { QC_hit: false, Bytes_sent: 10 }
      })
      expect(first.fresh.map((e) => e.key)).toEqual([`${key}:0`, `${key}:${entry(1).length}`, `${key}:${entry(1).length * 2}`])
      expect(Option.getOrThrow(runtime.checkpoint()).files).toEqual([
        {
          path,
          dev: expect.any(String),
          ino: expect.any(String),
          head_bytes: entries(1, 4).length,
          head: expect.any(String),
          key,
          offset: entries(1, 4).length,
          db: "shop"
        }
      ])

      expect((yield* runtime.run).fresh).toEqual([])
      appendFileSync(path, entries(4, 6))
      const next = yield* runtime.run
      expect(sqls(next.fresh)).toEqual(range(4, 6))
      expect(runtime.store.size).toBe(5)
      // The identity was widened to the first KiB as the file grew; its key stayed.
      expect(Option.getOrThrow(runtime.checkpoint()).files[0]).toMatchObject({ key, head_bytes: 1024 })
    })
  )

  it.scoped("leaves the last entry for later while the file may still be written, and loses nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      const full = entries(1, 4)
      const cut = full.length - 20
      writeFileSync(path, full.slice(0, cut))
      const busy = makeRuntime({ path, settle_ms: 60_000 })
      // The file changed just now: the cut entry is not complete, nor is the one before it known to be.
      expect(sqls((yield* busy.run).fresh)).toEqual(range(1, 3))
      expect(Option.getOrThrow(busy.checkpoint()).files[0]!.offset).toBe(entry(1).length * 2)
      appendFileSync(path, full.slice(cut))
      expect(sqls((yield* busy.run).fresh)).toEqual([])
      appendFileSync(path, entry(4))
      expect(sqls((yield* busy.run).fresh)).toEqual(range(3, 4))

      // Settled (settle_ms 0): the last entry is complete as it is.
      const settled = makeRuntime({ path })
      expect(sqls((yield* settled.run).fresh)).toEqual(range(1, 5))
    })
  )

  it.scoped("rename rotation: finishes the renamed file, then reads the new one", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, entries(1, 4))
      const runtime = makeRuntime({ path })
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(1, 4))
      appendFileSync(path, entries(4, 6))
      renameSync(path, join(dir, "slow.log.1"))
      writeFileSync(path, entries(6, 8))
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(4, 8))
      expect(Option.getOrThrow(runtime.checkpoint()).files.map((f) => f.path)).toEqual([join(dir, "slow.log.1"), path])
      // The rotated file is compressed away: forgotten, with a warning; the current one goes on.
      unlinkSync(join(dir, "slow.log.1"))
      appendFileSync(path, entry(8))
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(8, 9))
      expect(Option.getOrThrow(runtime.checkpoint()).files.map((f) => f.path)).toEqual([path])
      expect(runtime.store.size).toBe(8)
    })
  )

  it.scoped("copytruncate: a file that shrank is read again from its start, under a new key", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, entries(1, 4))
      const runtime = makeRuntime({ path })
      yield* runtime.run
      const before = Option.getOrThrow(runtime.checkpoint()).files[0]!
      appendFileSync(path, entry(4))
      copyFileSync(path, join(dir, "slow.log.1"))
      truncateSync(path, 0)
      appendFileSync(path, entries(5, 7))
      const after = yield* runtime.run
      // Entry 4 went to the copy after the last read: copytruncate loses it (for every tool), slowq loses no more.
      expect(sqls(after.fresh)).toEqual(range(5, 7))
      const file = Option.getOrThrow(runtime.checkpoint()).files[0]!
      expect(file.ino).toBe(before.ino)
      expect(file.key).not.toBe(before.key)
      expect(after.fresh[0]!.key).toBe(`${file.key}:0`)
    })
  )

  it.scoped("copytruncate that grew back past the old offset is noticed by the changed first bytes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, entries(1, 3))
      const runtime = makeRuntime({ path })
      yield* runtime.run
      truncateSync(path, 0)
      appendFileSync(path, entries(10, 16))
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(10, 16))
    })
  )

  it.scoped("a file replaced while slowq was stopped is read from its start", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, entries(1, 3))
      const runtime = makeRuntime({ path })
      yield* runtime.run
      unlinkSync(path)
      writeFileSync(path, entries(20, 22))
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(20, 22))
    })
  )

  it.scoped("a glob reads every matching file, least recently written first, and skips compressed ones", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      writeFileSync(join(dir, "a-slow.log"), entries(1, 3))
      writeFileSync(join(dir, "b-slow.log"), entries(3, 5))
      writeFileSync(join(dir, "c-slow.log.gz"), "not read")
      writeFileSync(join(dir, "other.log"), entries(9, 10))
      const runtime = makeRuntime({ path: join(dir, "*-slow.log*") })
      expect(sqls((yield* runtime.run).fresh).sort()).toEqual(range(1, 5))
      expect(Option.getOrThrow(runtime.checkpoint()).files.map((f) => f.path).sort()).toEqual([
        join(dir, "a-slow.log"),
        join(dir, "b-slow.log")
      ])
    })
  )

  it.scoped("start_at: end skips the history on the first run only", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, entries(1, 4))
      const runtime = makeRuntime({ path, start_at: "end" })
      expect((yield* runtime.run).fresh).toEqual([])
      appendFileSync(path, entries(4, 6))
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(4, 6))
    })
  )

  it.scoped("a file that is not a slow log yields no event, advances past it, and does not fail the run", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      const garbage = Buffer.alloc(3 * 1024 * 1024)
      for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 251
      writeFileSync(path, garbage)
      const runtime = makeRuntime({ path })
      const result = yield* runtime.run
      expect(result.fresh).toEqual([])
      expect(Option.getOrThrow(runtime.checkpoint()).files[0]!.offset).toBe(garbage.length)
      appendFileSync(path, `\n${entries(1, 3)}`)
      expect(sqls((yield* runtime.run).fresh)).toEqual(range(1, 3))
    })
  )

  it.scoped("a missing file fails the run with a message saying what to check", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const runtime = makeRuntime({ path: join(dir, "nope.log") })
      const error = yield* Effect.flip(runtime.run)
      expect(error._tag).toBe("SourceError")
      expect(error.message).toBe(
        `no file matches ${join(dir, "nope.log")}. Check the path (SELECT @@slow_query_log_file on the server), that the slow log is on (slow_query_log = ON, log_output including FILE) and that slowq may read the folder.`
      )
    })
  )

  it.scoped("a directory or a FIFO as source.path: a message that says what it is, and the FIFO never read", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const folder = join(dir, "mysql")
      mkdirSync(folder)
      const fifo = join(dir, "slow.log")
      execFileSync("mkfifo", [fifo])
      const advice = "source.path must name the slow log file (SELECT @@slow_query_log_file on the server) or a glob of files"
      const failure = (path: string) => Effect.map(Effect.flip(makeRuntime({ path }).run), (error) => [error._tag, error.operation, error.message])
      expect(yield* failure(folder)).toEqual(["SourceError", "connect", `${folder} is a directory, not a slow log file; ${advice}`])
      expect(yield* failure(fifo)).toEqual(["SourceError", "connect", `${fifo} is a FIFO, not a slow log file; ${advice}`])
      expect(yield* failure(join(dir, "*"))).toEqual([
        "SourceError",
        "connect",
        `no regular file matches ${join(dir, "*")} (${folder} is a directory, ${fifo} is a FIFO); ${advice}`
      ])
      // Next to a regular file, the FIFO is passed over: reading it would wait for a writer for ever.
      writeFileSync(join(dir, "slow.log.1"), entries(1, 3))
      expect(sqls((yield* makeRuntime({ path: join(dir, "slow.log*") }).run).fresh)).toEqual(range(1, 3))
      // Should a listed file turn into a FIFO before it is opened, opening it neither waits nor reads.
      const opened = yield* Effect.flip(Effect.tryPromise({ try: () => openRegular(fifo), catch: (cause) => cause }))
      expect(String(opened)).toBe(`Error: ${fifo} is a FIFO`)
    })
  )

  it.scoped("headers without @Host or # Time (issue 17): each event with its own statement, user, thread and schema", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = join(dir, "slow.log")
      writeFileSync(path, readFileSync(new URL("./testdata/percona-user-without-host.log", import.meta.url)))
      const runtime = makeRuntime({ path })
      const { fresh } = yield* runtime.run
      const key = Option.getOrThrow(runtime.checkpoint()).files[0]!.key
      const event = (n: number, offset: number) => ({
        key: `${key}:${offset}`,
        // The format has no time at all: neither # Time nor SET timestamp.
        startTimeUs: 0,
        intervalStartUs: null,
        calls: 1,
        queryTimeMs: n * 100,
        lockTimeMs: 0,
        rowsSent: 0,
        rowsExamined: 0,
        rowsAffected: 0,
        db: "db",
        user: "u[u] @ [1.2.3.4]",
        threadId: n,
        sqlText: `SELECT ${n} FROM foo`,
        metrics: {},
        attributes: {}
      })
      expect(fresh).toEqual([event(1, 0), event(2, 133)])
      expect(Option.getOrThrow(runtime.checkpoint()).files[0]).toMatchObject({ offset: 266, db: "db" })
    })
  )

  it("matches file names with *, ? and [...]", () => {
    expect(globRegExp("*-slow.log").test("db1-slow.log")).toBe(true)
    expect(globRegExp("*-slow.log").test("db1-slow.log.1")).toBe(false)
    expect(globRegExp("slow.log.?").test("slow.log.1")).toBe(true)
    expect(globRegExp("slow.log.[12]").test("slow.log.3")).toBe(false)
    expect(globRegExp("slow.log.[!12]").test("slow.log.3")).toBe(true)
    expect(globRegExp("a.b").test("axb")).toBe(false)
  })
})
