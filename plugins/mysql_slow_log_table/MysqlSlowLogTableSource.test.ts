import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createServer, type Server, type Socket } from "node:net"
import { describe, expect, it, layer } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, Either, Fiber, Layer, Option, Schedule, Schema, Stream } from "effect"
import * as Mysql from "mysql2"
import type { SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { isOwnStatement } from "../../src/plugin/OwnStatement.js"
import type { SourceBatch } from "../../src/plugin/SlowQuerySource.js"
import { Config } from "./config.js"
import {
  assignKey,
  type Checkpoint,
  epochMicros,
  initialKeyState,
  make,
  type SlowLogEntry,
  settingsProblem,
  toEntry
} from "./MysqlSlowLogTableSource.js"
import * as Queries from "./queries.js"

// ---------------------------------------------------------------------------------------------------------------------
// Pure parts

describe("mysql_slow_log_table rows", () => {
  it("converts decimal epoch seconds to microseconds exactly", () => {
    expect(epochMicros("1795903446.661405")).toBe(1795903446661405)
    expect(epochMicros("1700000000.000001")).toBe(1700000000000001)
    expect(epochMicros("1700000000.1")).toBe(1700000000100000)
    expect(epochMicros("1700000000")).toBe(1700000000000000)
    expect(epochMicros("-1.5")).toBeUndefined()
    expect(epochMicros("1.1234567")).toBeUndefined()
    expect(epochMicros("")).toBeUndefined()
  })

  const row = (sql: Uint8Array, overrides: Record<string, unknown> = {}) => ({
    start_s: "1700000000.123456",
    query_us: "2810",
    lock_us: "55",
    rows_sent: "2",
    rows_examined: "3",
    rows_affected: "0",
    db: Buffer.from("test"),
    user_host: Buffer.from("root[root] @  [127.0.0.1]"),
    thread_id: "42",
    server_id: "7",
    sql_text: sql,
    ...overrides
  })

  it("maps a row to an event with exact figures", () => {
    const entry = Either.getOrThrow(toEntry(row(Buffer.from("SELECT 1"), { db: Buffer.alloc(0) })))
    const [, event] = assignKey(initialKeyState, entry)
    expect(entry.endUs).toBe(1700000000126266)
    expect(event).toEqual({
      key: `${entry.natural}#0`,
      startTimeUs: 1700000000123456,
      intervalStartUs: null,
      calls: 1,
      queryTimeMs: 2.81,
      lockTimeMs: 0.055,
      rowsSent: 2,
      rowsExamined: 3,
      rowsAffected: 0,
      db: null,
      user: "root[root] @  [127.0.0.1]",
      threadId: 42,
      sqlText: "SELECT 1",
      metrics: {},
      attributes: { server_id: 7 }
    })
    expect(entry.natural).toMatch(/^1700000000123456:42:7:[0-9a-f]{16}$/)
  })

  it("replaces bytes that are not UTF-8 instead of failing (MySQL 8 logs sql_text as a BLOB)", () => {
    const entry = Either.getOrThrow(toEntry(row(Buffer.from([0x53, 0x45, 0x4c, 0x20, 0x27, 0x63, 0x61, 0x66, 0xe9, 0x27]))))
    expect(entry.event.sqlText).toBe("SEL 'caf\uFFFD'")
  })

  it("reports a row it cannot read instead of throwing", () => {
    expect(toEntry(row(Buffer.from("x"), { start_s: "yesterday" }))).toEqual(Either.left('unreadable start_time "yesterday"'))
    expect(Either.isLeft(toEntry({ ...row(Buffer.from("x")), thread_id: null }))).toBe(true)
  })

  it("numbers identical rows by ordinal and starts again at each end time", () => {
    const entry = (sql: string, start = "1700000000.123456") =>
      Either.getOrThrow(toEntry(row(Buffer.from(sql), { start_s: start })))
    const entries: ReadonlyArray<SlowLogEntry> = [
      entry("SELECT 1"),
      entry("SELECT 2"),
      entry("SELECT 1"),
      entry("SELECT 1"),
      entry("SELECT 1", "1700000000.123457")
    ]
    let state = initialKeyState
    const keys: Array<string> = []
    for (const e of entries) {
      const [next, event] = assignKey(state, e)
      state = next
      keys.push(event.key.slice(event.key.indexOf("#")))
    }
    expect(keys).toEqual(["#0", "#0", "#1", "#2", "#0"])
  })

  it("names the setting to fix when the slow log is off or not written to the table", () => {
    const where = "MySQL at db:3306"
    expect(settingsProblem({ slow_query_log: "0", log_output: "FILE,TABLE" }, where)).toBe(
      "the slow query log is off on MySQL at db:3306, so nothing reaches mysql.slow_log. Turn it on with SET GLOBAL slow_query_log = 1, and put slow_query_log = 1 in the server's config file so that it survives a restart."
    )
    expect(settingsProblem({ slow_query_log: "1", log_output: "FILE" }, where)).toBe(
      "the slow query log of MySQL at db:3306 goes to FILE, not to the table mysql.slow_log. Add TABLE with SET GLOBAL log_output = 'FILE,TABLE', and put log_output = FILE,TABLE in the server's config file so that it survives a restart."
    )
    expect(settingsProblem({ slow_query_log: "1", log_output: "NONE" }, where)).toContain("goes to NONE, not to")
    expect(settingsProblem({ slow_query_log: "1", log_output: "TABLE" }, where)).toBeUndefined()
    expect(settingsProblem({ slow_query_log: "ON", log_output: "FILE,TABLE" }, where)).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Against the local MariaDB (shared: our rows are found by a unique marker, nothing shared is truncated)

const URL_ROOT = "mysql://root@127.0.0.1:3306/test"
const WHERE = "MySQL at 127.0.0.1:3306"

/**
 * A connection of our own for running statements, as an application would: one thread id, statements as
 * server-side prepared statements. Closed with the test's scope.
 */
const openSession = (options: { readonly charset?: string } = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const connection = Mysql.createConnection({
        host: "127.0.0.1",
        port: 3306,
        user: "root",
        database: "test",
        ...(options.charset === undefined ? {} : { charset: options.charset })
      })
      connection.on("error", () => {})
      return connection
    }),
    (connection) => Effect.sync(() => connection.end())
  ).pipe(
    Effect.map((connection) => ({
      unsafe: <A = unknown>(sql: string, params: ReadonlyArray<string | number> = []) =>
        Effect.async<ReadonlyArray<A>, Mysql.QueryError>((resume) => {
          connection.execute(sql, [...params], (error: Mysql.QueryError | null, result: unknown) => {
            if (error !== null) resume(Effect.fail(error))
            // The test names the columns it selects.
            else resume(Effect.succeed(Array.isArray(result) ? (result as ReadonlyArray<A>) : []))
          })
        })
    }))
  )

type Session = Effect.Effect.Success<ReturnType<typeof openSession>>

const threadIdOf = (session: Session) =>
  session
    .unsafe<{ readonly id: string }>("SELECT CAST(CONNECTION_ID() AS CHAR) AS id")
    .pipe(Effect.map((rows) => Number(rows[0]!.id)))

/** The lab: the slow log on, to TABLE, everything logged; a root session for looking at mysql.slow_log. */
class Lab extends Context.Tag("test/mysql_slow_log_table/Lab")<
  Lab,
  { readonly admin: Session; readonly serverId: number }
>() {}

const LabLive = Layer.scoped(
  Lab,
  Effect.gen(function* () {
    const admin = yield* openSession()
    const [settings] = yield* admin.unsafe<{
      readonly slow: string
      readonly output: string
      readonly lqt: string
      readonly server_id: string
    }>(
      "SELECT CAST(@@global.slow_query_log AS CHAR) AS slow, CAST(@@global.log_output AS CHAR) AS output, CAST(@@global.long_query_time AS CHAR) AS lqt, CAST(@@server_id AS CHAR) AS server_id"
    )
    // Turned on, never off again: other engineers' tests rely on these. long_query_time reaches new connections
    // only, so every test opens its statement session after this.
    if (settings!.slow !== "1") yield* admin.unsafe("SET GLOBAL slow_query_log = 1")
    if (!settings!.output.split(",").includes("TABLE")) yield* admin.unsafe("SET GLOBAL log_output = 'FILE,TABLE'")
    if (Number(settings!.lqt) !== 0) yield* admin.unsafe("SET GLOBAL long_query_time = 0")
    return { admin, serverId: Number(settings!.server_id) }
  })
)

const newMarker = () => `mk${randomBytes(6).toString("hex")}`

/** The server's clock in epoch microseconds: a checkpoint that skips everything logged before now. */
const serverNowUs = Effect.flatMap(Lab, ({ admin }) =>
  admin
    .unsafe<{ readonly now_s: string }>("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) AS CHAR) AS now_s")
    .pipe(Effect.map((rows) => epochMicros(rows[0]!.now_s)!))
)

// The marker is split in the query text so that this query's own slow_log row never matches it.
const markerCondition = "LOCATE(CONCAT(?, ?), sql_text) > 0"
const markerParams = (marker: string) => [marker.slice(0, 2), marker.slice(2)]

/** Waits until `count` rows carrying `marker` are visible in mysql.slow_log. */
const waitForRows = (marker: string, count: number) =>
  Effect.flatMap(Lab, ({ admin }) =>
    admin
      .unsafe<{ readonly n: string }>(`SELECT CAST(COUNT(*) AS CHAR) AS n FROM mysql.slow_log WHERE ${markerCondition}`,
        markerParams(marker)
      )
      .pipe(
        Effect.flatMap((rows) =>
          Number(rows[0]!.n) >= count
            ? Effect.void
            : Effect.fail(`only ${rows[0]!.n} of ${count} rows with ${marker} in mysql.slow_log`)
        ),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 }),
        Effect.orDie
      )
  )

/** A user that may read mysql.slow_log and nothing else, dropped with the test's scope; its name is unique. */
const createReader = (prefix: string) =>
  Effect.gen(function* () {
    const { admin } = yield* Lab
    const user = `${prefix}_${randomBytes(4).toString("hex")}`
    yield* Effect.acquireRelease(admin.unsafe(`CREATE USER '${user}'@'%'`), () =>
      Effect.orDie(admin.unsafe(`DROP USER IF EXISTS '${user}'@'%'`))
    )
    yield* admin.unsafe(`GRANT SELECT ON mysql.slow_log TO '${user}'@'%'`)
    return user
  })

/** The server's threads of `user`: id, command, and whether it is running the source's read of mysql.slow_log. */
const threadsOf = (user: string) =>
  Effect.flatMap(Lab, ({ admin }) =>
    admin.unsafe<{ readonly id: string; readonly command: string; readonly reading: string }>(
      `SELECT CAST(ID AS CHAR) AS id, COMMAND AS command, CAST(IFNULL(INFO, '') LIKE '%FROM mysql.slow_log%' AS CHAR) AS reading
       FROM information_schema.PROCESSLIST WHERE USER = ? ORDER BY ID`,
      [user]
    )
  ).pipe(
    Effect.map((rows) => rows.map((row) => ({ id: Number(row.id), command: row.command, reading: row.reading === "1" })))
  )

/**
 * Enough rows that a read of the whole table outlasts the socket's buffers by far (on this machine a few
 * thousand rows fit in them), so that an interrupted read really leaves the server in the middle of its result.
 */
const ROWS_FOR_A_LONG_READ = 100_000

/** Logs statements through the mariadb client until mysql.slow_log holds `count` rows (a fresh server has few). */
const ensureSlowLogRows = (count: number) =>
  Effect.gen(function* () {
    const { admin } = yield* Lab
    const [row] = yield* admin.unsafe<{ readonly n: string }>("SELECT CAST(COUNT(*) AS CHAR) AS n FROM mysql.slow_log")
    const missing = count - Number(row!.n)
    if (missing <= 0) return
    // Letters only: the marker must survive fingerprinting unchanged, like a table name.
    const marker = `slowqfill${Array.from(randomBytes(8), (byte) => String.fromCharCode(97 + (byte % 26))).join("")}`
    const script = `SELECT /* ${marker} */ 1;\n`.repeat(missing)
    yield* Effect.async<void, string>((resume) => {
      const child = spawn("mariadb", ["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-c", "-s", "test"], {
        stdio: ["pipe", "ignore", "pipe"]
      })
      let stderr = ""
      child.stderr.on("data", (data: Buffer) => {
        stderr += data.toString()
      })
      child.on("error", (error) => resume(Effect.fail(`cannot run mariadb: ${error.message}`)))
      child.on("close", (code) => resume(code === 0 ? Effect.void : Effect.fail(`mariadb exited with ${code}: ${stderr}`)))
      child.stdin.end(script)
    })
    yield* waitForRows(marker, missing)
  })

const sourceConfig = (fields: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Config)({ type: "mysql_slow_log_table", url: URL_ROOT, ...fields })

const readBatches = (
  source: Effect.Effect.Success<ReturnType<typeof make>>,
  // unknown: a stored checkpoint is JSON, possibly written by an earlier version
  checkpoint: unknown
): Effect.Effect<ReadonlyArray<SourceBatch>, unknown> =>
  Stream.runCollect(source.read(Option.fromNullable(checkpoint))).pipe(Effect.map(Chunk.toReadonlyArray))

const eventsWith = (batches: ReadonlyArray<SourceBatch>, marker: string): ReadonlyArray<SlowQueryEvent> =>
  batches.flatMap((batch) => batch.events).filter((event) => event.sqlText.includes(marker))

const lastCheckpoint = (batches: ReadonlyArray<SourceBatch>) => batches.at(-1)?.checkpoint as Checkpoint

const endUsOf = (event: SlowQueryEvent) => event.startTimeUs + Math.round(event.queryTimeMs * 1000)

/** A past instant with a random microsecond part, for `SET timestamp`: its rows share that start_time. */
const fakeStart = () => {
  const seconds = 1_600_000_000 + Math.floor(Math.random() * 100_000_000)
  const micros = 100_001 + Math.floor(Math.random() * 899_998)
  return { sql: `${seconds}.${String(micros).padStart(6, "0")}`, us: seconds * 1_000_000 + micros }
}

layer(LabLive, { excludeTestServices: true })("mysql_slow_log_table on the local MariaDB", (it) => {
  it.scoped("reads known statements once, with exact fields", () =>
    Effect.gen(function* () {
      const { admin, serverId } = yield* Lab
      const marker = newMarker()
      const table = `slowq_src_${randomBytes(4).toString("hex")}`
      yield* Effect.acquireRelease(admin.unsafe(`CREATE TABLE test.${table} (id INT PRIMARY KEY, v VARCHAR(10))`), () =>
        Effect.orDie(admin.unsafe(`DROP TABLE IF EXISTS test.${table}`))
      )
      yield* admin.unsafe(`INSERT INTO test.${table} VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
      const from = yield* serverNowUs
      const session = yield* openSession()
      const threadId = yield* threadIdOf(session)
      const select = `SELECT /* ${marker} */ id, v FROM ${table} WHERE v <> 'b'`
      const update = `UPDATE /* ${marker} */ ${table} SET v = 'z' WHERE id = 3`
      expect(yield* session.unsafe(select)).toEqual([
        { id: 1, v: "a" },
        { id: 3, v: "c" }
      ])
      yield* session.unsafe(update)
      yield* waitForRows(marker, 2)

      // What the server holds, read another way: TIMESTAMPDIFF from the epoch instead of UNIX_TIMESTAMP
      // (equal on this UTC server), TIME_TO_SEC for the durations.
      const expected = yield* admin.unsafe<{ readonly start_us: string; readonly query_ms: string; readonly lock_ms: string }>(
        `SELECT CAST(TIMESTAMPDIFF(MICROSECOND, FROM_UNIXTIME(0), start_time) AS CHAR) AS start_us,
           CAST(TIME_TO_SEC(query_time) * 1000 AS CHAR) AS query_ms, CAST(TIME_TO_SEC(lock_time) * 1000 AS CHAR) AS lock_ms
         FROM mysql.slow_log WHERE ${markerCondition} ORDER BY start_time`,
        markerParams(marker)
      )

      const source = yield* make(sourceConfig())
      const events = eventsWith(yield* readBatches(source, { endUs: from }), marker)
      const common = {
        intervalStartUs: null,
        calls: 1,
        db: "test",
        user: "root[root] @  [127.0.0.1]",
        threadId,
        metrics: {},
        attributes: { server_id: serverId }
      }
      expect(events.map(({ key: _key, ...rest }) => rest)).toEqual([
        {
          ...common,
          sqlText: select,
          startTimeUs: Number(expected[0]!.start_us),
          queryTimeMs: Number(expected[0]!.query_ms),
          lockTimeMs: Number(expected[0]!.lock_ms),
          rowsSent: 2,
          rowsExamined: 3,
          rowsAffected: 0
        },
        {
          ...common,
          sqlText: update,
          startTimeUs: Number(expected[1]!.start_us),
          queryTimeMs: Number(expected[1]!.query_ms),
          lockTimeMs: Number(expected[1]!.lock_ms),
          rowsSent: 0,
          rowsExamined: 1,
          rowsAffected: 1
        }
      ])
      expect(events[0]!.key).toMatch(new RegExp(`^${events[0]!.startTimeUs}:${threadId}:${serverId}:[0-9a-f]{16}#0$`))
    })
  )

  it.scoped("keeps microseconds and keeps every row of a shared start_time, across batch boundaries", () =>
    Effect.gen(function* () {
      const marker = newMarker()
      const start = fakeStart()
      const session = yield* openSession()
      yield* session.unsafe(`SET timestamp = ${start.sql}`)
      const texts = [`SELECT /* ${marker} */ 1`, `SELECT /* ${marker} */ 2`, `SELECT /* ${marker} */ 'three'`]
      for (const text of texts) yield* session.unsafe(text)
      yield* waitForRows(marker, 3)

      const source = yield* make(sourceConfig({ batch_size: 1 }))
      const batches = yield* readBatches(source, { endUs: start.us })
      expect(batches.every((batch) => batch.events.length === 1)).toBe(true)
      const events = eventsWith(batches, marker)
      expect(events.map((event) => event.sqlText).sort()).toEqual([...texts].sort())
      expect(events.map((event) => event.startTimeUs)).toEqual([start.us, start.us, start.us])
      expect(new Set(events.map((event) => event.key)).size).toBe(3)

      const again = eventsWith(yield* readBatches(source, { endUs: start.us }), marker)
      expect(again.map((event) => event.key).sort()).toEqual(events.map((event) => event.key).sort())
    })
  )

  it.scoped("numbers fully identical rows #0, #1, … and gives them the same keys on a re-read", () =>
    Effect.gen(function* () {
      const { admin } = yield* Lab
      const marker = newMarker()
      const start = fakeStart()
      const session = yield* openSession()
      yield* session.unsafe(`SET timestamp = ${start.sql}`)
      const count = 200
      // Same thread, same start, same text: rows differ only where query_time (µs) differs, and many do not.
      for (let i = 0; i < count; i++) yield* session.unsafe(`SELECT /* ${marker} */ 1`)
      yield* waitForRows(marker, count)
      const groups = yield* admin.unsafe<{ readonly n: string }>(
        `SELECT CAST(COUNT(*) AS CHAR) AS n FROM mysql.slow_log WHERE ${markerCondition} GROUP BY query_time`,
        markerParams(marker)
      )
      const expectedSizes = groups.map((group) => Number(group.n)).sort((a, b) => a - b)
      expect(expectedSizes.at(-1)).toBeGreaterThan(1)

      const source = yield* make(sourceConfig({ batch_size: 7 }))
      const events = eventsWith(yield* readBatches(source, { endUs: start.us }), marker)
      expect(events.length).toBe(count)
      const keys = events.map((event) => event.key)
      expect(new Set(keys).size).toBe(count)
      const ordinals = new Map<string, Array<number>>()
      for (const key of keys) {
        const [natural, ordinal] = key.split("#")
        ordinals.set(natural!, [...(ordinals.get(natural!) ?? []), Number(ordinal)])
      }
      const sizes = [...ordinals.values()].map((list) => list.length).sort((a, b) => a - b)
      expect(sizes).toEqual(expectedSizes)
      for (const list of ordinals.values()) expect(list).toEqual(list.map((_, i) => i))

      const again = eventsWith(yield* readBatches(source, { endUs: start.us }), marker)
      expect(again.map((event) => event.key).sort()).toEqual([...keys].sort())
    })
  )

  it.scoped("resumes after a checkpoint: overlap 0 reads nothing older, overlap 60 s re-reads with the same keys", () =>
    Effect.gen(function* () {
      const marker = newMarker()
      const from = yield* serverNowUs
      const session = yield* openSession()
      for (let i = 0; i < 3; i++) yield* session.unsafe(`SELECT /* ${marker} first */ ${i}`)
      yield* waitForRows(`${marker} first`, 3)

      const strict = yield* make(sourceConfig({ overlap_seconds: 0, batch_size: 2 }))
      const first = yield* readBatches(strict, { endUs: from })
      const checkpoints = first.map((batch) => (batch.checkpoint as Checkpoint).endUs)
      expect(checkpoints).toEqual([...checkpoints].sort((a, b) => a - b))
      expect(checkpoints[0]).toBeGreaterThanOrEqual(from)
      const firstEvents = eventsWith(first, marker)
      expect(firstEvents.length).toBe(3)
      const checkpoint = lastCheckpoint(first)

      for (let i = 0; i < 2; i++) yield* session.unsafe(`SELECT /* ${marker} second */ ${i}`)
      yield* waitForRows(`${marker} second`, 2)

      const second = eventsWith(yield* readBatches(strict, checkpoint), marker)
      expect(second.filter((event) => event.sqlText.includes("second")).length).toBe(2)
      // Only a row ending exactly at the checkpoint may come again; nothing older does.
      const repeated = second.filter((event) => event.sqlText.includes("first"))
      expect(repeated.every((event) => endUsOf(event) === checkpoint.endUs)).toBe(true)
      expect(repeated.map((event) => event.key)).toEqual(
        firstEvents.filter((event) => endUsOf(event) === checkpoint.endUs).map((event) => event.key)
      )

      const overlapping = yield* make(sourceConfig({ overlap_seconds: 60 }))
      const third = eventsWith(yield* readBatches(overlapping, checkpoint), marker)
      expect(third.filter((event) => event.sqlText.includes("first")).map((event) => event.key)).toEqual(
        firstEvents.map((event) => event.key)
      )
      expect(third.filter((event) => event.sqlText.includes("second")).map((event) => event.key)).toEqual(
        second.filter((event) => event.sqlText.includes("second")).map((event) => event.key)
      )
    })
  )

  it.scoped("keeps texts the server could not store as UTF-8 readable, as the server wrote them", () =>
    Effect.gen(function* () {
      const marker = newMarker()
      const from = yield* serverNowUs
      // latin1: the server converts é to UTF-8. binary: bytes that are not UTF-8 reach the utf8mb3 column as '?'.
      // utf8mb4: a 4-byte character does not fit utf8mb3 and becomes '?'.
      const latin1 = yield* openSession({ charset: "latin1" })
      yield* latin1.unsafe(`SELECT /* ${marker} latin1 */ 'caf\u00e9'`)
      const binary = yield* openSession({ charset: "binary" })
      yield* binary.unsafe(`SELECT /* ${marker} binary */ 'caf\u00e9', _binary'caf\u00e9\u00ff'`)
      const utf8mb4 = yield* openSession()
      yield* utf8mb4.unsafe(`SELECT /* ${marker} utf8mb4 */ 'caf\u00e9 \u{1F600}'`)
      yield* waitForRows(marker, 3)

      const source = yield* make(sourceConfig())
      const events = eventsWith(yield* readBatches(source, { endUs: from }), marker)
      expect(events.map((event) => event.sqlText)).toEqual([
        `SELECT /* ${marker} latin1 */ 'caf\u00e9'`,
        `SELECT /* ${marker} binary */ 'caf?', _binary'caf??'`,
        `SELECT /* ${marker} utf8mb4 */ 'caf\u00e9 ?'`
      ])
    })
  )

  // The runtime drops slowq's own statements for every source (src/plugin/OwnStatement.ts); the source reads them
  // like any other row, so that they are filtered in one place.
  it.scoped("returns the statements tagged /* slowq */, its own polls included, verbatim for the runtime to drop", () =>
    Effect.gen(function* () {
      const marker = newMarker()
      const from = yield* serverNowUs
      const session = yield* openSession()
      yield* session.unsafe(`/* slowq */ SELECT '${marker}'`)
      yield* session.unsafe(`/* not slowq */ SELECT '${marker}'`)
      yield* waitForRows(marker, 2)

      const source = yield* make(sourceConfig())
      yield* readBatches(source, { endUs: from })
      const batches = yield* readBatches(source, { endUs: from })
      expect(eventsWith(batches, marker).map((event) => event.sqlText)).toEqual([
        `/* slowq */ SELECT '${marker}'`,
        `/* not slowq */ SELECT '${marker}'`
      ])
      expect(eventsWith(batches, marker).map((event) => isOwnStatement(event.sqlText))).toEqual([true, false])
      // The first read's own statements, as the slow log recorded them, with the marker first.
      const texts = batches.flatMap((batch) => batch.events).map((event) => event.sqlText)
      expect(texts).toContain(Queries.currentUser)
      expect(texts).toContain(Queries.settings)
    })
  )

  it.scoped("sends only statements tagged /* slowq */, keeps an application's SELECT 1, and takes an old checkpoint", () =>
    Effect.gen(function* () {
      const { admin } = yield* Lab
      const user = yield* createReader("slowq_tag")
      const from = yield* serverNowUs
      const source = yield* make(sourceConfig({ url: `mysql://${user}@127.0.0.1:3306` }))
      // Earlier versions stored the thread ids of their driver's untagged probe; such a checkpoint still reads.
      const first = yield* readBatches(source, { endUs: from, ownThreads: [1, 2, 3] })
      const session = yield* openSession()
      const userThread = yield* threadIdOf(session)
      yield* session.unsafe("SELECT 1")
      // Logged after the SELECT 1 of the same thread: once it is there, so is the SELECT 1.
      const marker = newMarker()
      yield* session.unsafe(`SELECT /* ${marker} */ 1`)
      yield* waitForRows(marker, 1)
      const second = yield* readBatches(source, lastCheckpoint(first))
      expect(Object.keys(lastCheckpoint(second))).toEqual(["endUs"])
      const probes = second
        .flatMap((batch) => batch.events)
        .filter((event) => event.sqlText === "SELECT 1" && event.threadId === userThread)
      expect(probes.length).toBe(1)

      // Everything the source's own connections sent: start at the login, 2 statements, then 3 per read.
      const own = yield* admin
        .unsafe<{ readonly sql_text: string }>(
          "SELECT CAST(sql_text AS CHAR) AS sql_text FROM mysql.slow_log WHERE user_host LIKE CONCAT(?, '[%') ORDER BY start_time",
          [user]
        )
        .pipe(
          Effect.filterOrFail((rows) => rows.length >= 8, () => "not yet logged"),
          Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 })
        )
      expect(own.filter((row) => !row.sql_text.startsWith("/* slowq */"))).toEqual([])
      expect(own.length).toBe(8)
    })
  )

  it.scoped("stops an interrupted read on the server at once, leaves no connection behind and reads again", () =>
    Effect.gen(function* () {
      const { admin } = yield* Lab
      yield* ensureSlowLogRows(ROWS_FOR_A_LONG_READ)
      const user = yield* createReader("slowq_intr")
      const source = yield* make(sourceConfig({ url: `mysql://${user}@127.0.0.1:3306`, batch_size: 500, max_connections: 1 }))
      const firstBatch = yield* Deferred.make<number>()
      // A slow consumer of the whole table: the server is left writing into a paused socket.
      const reading = yield* source.read(Option.none()).pipe(
        Stream.runForEach((batch) =>
          Deferred.succeed(firstBatch, batch.events.length).pipe(Effect.zipRight(Effect.sleep("200 millis")))
        ),
        Effect.fork
      )
      expect(yield* Deferred.await(firstBatch).pipe(Effect.timeout("30 seconds"))).toBe(500)
      const before = yield* threadsOf(user)
      expect(before.map(({ command, reading }) => ({ command, reading }))).toEqual([{ command: "Query", reading: true }])

      const started = Date.now()
      const exit = yield* Fiber.interrupt(reading).pipe(Effect.timeout("15 seconds"))
      const elapsedMs = Date.now() - started
      yield* Effect.log(`interrupting the read took ${elapsedMs} ms`)
      expect(exit._tag).toBe("Failure")
      expect(elapsedMs).toBeLessThan(3000)
      // The query was killed and its connection closed: the server has no thread of this user left, although
      // the source (and its pool) is still open.
      expect(yield* threadsOf(user).pipe(
        Effect.filterOrFail((threads) => threads.length === 0, () => "still there"),
        Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 20 }),
        Effect.orElseSucceed(() => "a thread of the interrupted read is still on the server")
      )).toEqual([])
      // Stopped by a KILL from another connection of the same user, not only by closing the socket.
      const kills = yield* admin
        .unsafe<{ readonly sql_text: string }>(
          `SELECT CAST(sql_text AS CHAR) AS sql_text FROM mysql.slow_log
           WHERE user_host LIKE CONCAT(?, '[%') AND sql_text LIKE '%KILL QUERY%'`,
          [user]
        )
        .pipe(
          Effect.filterOrFail((rows) => rows.length > 0, () => "not yet logged"),
          Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 100 })
        )
      expect(kills.map((row) => row.sql_text)).toEqual([`/* slowq */ KILL QUERY ${before[0]!.id}`])

      // The one pooled connection was not leaked: the same source reads again.
      const marker = newMarker()
      const from = yield* serverNowUs
      const session = yield* openSession()
      yield* session.unsafe(`SELECT /* ${marker} */ 1`)
      yield* waitForRows(marker, 1)
      const events = eventsWith(yield* readBatches(source, { endUs: from }).pipe(Effect.timeout("20 seconds")), marker)
      expect(events.map((event) => event.sqlText)).toEqual([`SELECT /* ${marker} */ 1`])
    })
  )

  it.scoped("reads start_time in the zone the rows were logged in, and never lets a future row push the checkpoint", () =>
    Effect.gen(function* () {
      const { admin } = yield* Lab
      const [zone] = yield* admin.unsafe<{ readonly offset_s: string }>(
        "SELECT CAST(TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW()) AS CHAR) AS offset_s"
      )
      // The CSV log table keeps wall-clock text in the logging session's zone: a session at +05:00 on a server
      // whose global zone is `globalOffset` writes start_time shifted by the difference.
      const shiftUs = (5 * 3600 - Math.round(Number(zone!.offset_s) / 60) * 60) * 1_000_000
      const marker = newMarker()
      const start = fakeStart()
      const session = yield* openSession()
      yield* session.unsafe("SET time_zone = '+05:00'")
      yield* session.unsafe(`SET timestamp = ${start.sql}`)
      yield* session.unsafe(`SELECT /* ${marker} past */ 1`)
      yield* waitForRows(marker, 1)

      // A server whose zone is +05:00 for everyone, or applications that all set +05:00: log_time_zone says so.
      const inZone = yield* make(sourceConfig({ log_time_zone: "+05:00" }))
      const zoned = eventsWith(yield* readBatches(inZone, { endUs: start.us }), marker)
      expect(zoned.map((event) => event.startTimeUs)).toEqual([start.us])

      // Read in the server's global zone, the same row is off by the zones' difference.
      const global = yield* make(sourceConfig())
      const shifted = eventsWith(yield* readBatches(global, { endUs: start.us + shiftUs }), marker)
      expect(shifted.map((event) => event.startTimeUs)).toEqual([start.us + shiftUs])

      // A row that seems to end in the future is read, but the checkpoint stops at the server's clock.
      if (shiftUs > 0) {
        const before = yield* serverNowUs
        yield* session.unsafe("SET timestamp = DEFAULT")
        yield* session.unsafe(`SELECT /* ${marker} future */ 1`)
        yield* waitForRows(`${marker} future`, 1)
        const batches = yield* readBatches(global, { endUs: before })
        const after = yield* serverNowUs
        expect(eventsWith(batches, `${marker} future`).length).toBe(1)
        expect(eventsWith(batches, `${marker} future`)[0]!.startTimeUs).toBeGreaterThan(after)
        expect(lastCheckpoint(batches).endUs).toBeLessThanOrEqual(after)
      }
    })
  )

  it.scoped("says the server is down when nothing listens on the port", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(make(sourceConfig({ url: "mysql://root@127.0.0.1:1/test" })))
      expect([error._tag, error.operation, error.message]).toEqual([
        "SourceError",
        "connect",
        "cannot connect to MySQL at 127.0.0.1:1: connection refused. Check that the server is running and that the host and port in source.url are right."
      ])
      expect(error.cause).toBeDefined()
    })
  )

  it.scoped("says the server gave no answer within connect_timeout_ms when it accepts but never speaks", () =>
    Effect.gen(function* () {
      // A listener on the loopback that accepts connections and never sends MySQL's greeting.
      const sockets = new Set<Socket>()
      const server = yield* Effect.acquireRelease(
        Effect.async<Server>((resume) => {
          const listener = createServer((socket) => {
            sockets.add(socket)
          })
          listener.listen(0, "127.0.0.1", () => resume(Effect.succeed(listener)))
        }),
        (listener) =>
          Effect.sync(() => {
            for (const socket of sockets) socket.destroy()
            listener.close()
          })
      )
      const address = server.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      const started = Date.now()
      const error = yield* Effect.flip(
        make(sourceConfig({ url: `mysql://root@127.0.0.1:${port}/test`, connect_timeout_ms: 300 }))
      )
      expect(Date.now() - started).toBeLessThan(3000)
      expect([error.operation, error.message]).toEqual([
        "connect",
        `cannot connect to MySQL at 127.0.0.1:${port}: no answer within 300 ms. Check that the server is up and that no firewall drops the connection.`
      ])
    })
  )

  it.scoped("says which part of the config is wrong: the database in the URL, the time zone", () =>
    Effect.gen(function* () {
      const noDb = yield* Effect.flip(make(sourceConfig({ url: "mysql://root@127.0.0.1:3306/slowq_no_such_db_x" })))
      expect([noDb.operation, noDb.message]).toEqual([
        "connect",
        `${WHERE} has no such database as the one in source.url: fix it or leave it out (the source reads mysql.slow_log and needs no database).`
      ])

      const source = yield* make(sourceConfig({ log_time_zone: "Mars/Olympus_Mons" }))
      const badZone = yield* Effect.flip(readBatches(source, undefined))
      expect(badZone).toMatchObject({
        _tag: "SourceError",
        operation: "poll",
        message: `${WHERE} does not know the time zone 'Mars/Olympus_Mons' of source.log_time_zone: load the server's time zone tables (mysql_tzinfo_to_sql) or give an offset such as +01:00.`
      })
    })
  )

  it.scoped("names the missing grant, and reads once it is given", () =>
    Effect.gen(function* () {
      const { admin } = yield* Lab
      const user = `slowq_nogrant_${randomBytes(4).toString("hex")}`
      yield* Effect.acquireRelease(admin.unsafe(`CREATE USER '${user}'@'%'`), () =>
        Effect.orDie(admin.unsafe(`DROP USER IF EXISTS '${user}'@'%'`))
      )
      const config = sourceConfig({ url: `mysql://${user}@127.0.0.1:3306` })
      const error = yield* Effect.flip(make(config))
      expect([error.operation, error.message]).toEqual([
        "connect",
        `user '${user}'@'%' may not read mysql.slow_log on ${WHERE}. Grant it: GRANT SELECT ON mysql.slow_log TO '${user}'@'%';`
      ])

      yield* admin.unsafe(`GRANT SELECT ON mysql.slow_log TO '${user}'@'%'`)
      const marker = newMarker()
      const from = yield* serverNowUs
      const session = yield* openSession()
      yield* session.unsafe(`SELECT /* ${marker} */ 1`)
      yield* waitForRows(marker, 1)
      const source = yield* make(config)
      const events = eventsWith(yield* readBatches(source, { endUs: from }), marker)
      expect(events.map((event) => event.sqlText)).toEqual([`SELECT /* ${marker} */ 1`])
    })
  )

  it.scoped("says the login was refused, never shows the password, and lets `password` override the URL's", () =>
    Effect.gen(function* () {
      const { admin } = yield* Lab
      const user = `slowq_pw_${randomBytes(4).toString("hex")}`
      yield* Effect.acquireRelease(admin.unsafe(`CREATE USER '${user}'@'%' IDENTIFIED BY 'right-pw-1'`), () =>
        Effect.orDie(admin.unsafe(`DROP USER IF EXISTS '${user}'@'%'`))
      )
      yield* admin.unsafe(`GRANT SELECT ON mysql.slow_log TO '${user}'@'%'`)
      const url = `mysql://${user}:wrong-pw-1@127.0.0.1:3306`
      const error = yield* Effect.flip(make(sourceConfig({ url })))
      expect([error.operation, error.message]).toEqual([
        "connect",
        `${WHERE} refused the login of user '${user}': check the user in source.url and its password (source.password).`
      ])
      expect(`${error.message} ${String(error.cause)}`).not.toContain("wrong-pw-1")

      const source = yield* make(sourceConfig({ url, password: "right-pw-1" }))
      const from = yield* serverNowUs
      expect(Array.isArray(yield* readBatches(source, { endUs: from }))).toBe(true)
    })
  )

  it.scoped("leaves its one connection usable when the runtime stops a read after the first batch", () =>
    Effect.gen(function* () {
      const source = yield* make(sourceConfig({ batch_size: 10, max_connections: 1 }))
      const first = yield* source.read(Option.none()).pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.size(first)).toBe(1)
      expect(Chunk.unsafeHead(first).events.length).toBe(10)
      const marker = newMarker()
      const from = yield* serverNowUs
      const session = yield* openSession()
      yield* session.unsafe(`SELECT /* ${marker} */ 1`)
      yield* waitForRows(marker, 1)
      const events = eventsWith(yield* readBatches(source, { endUs: from }).pipe(Effect.timeout("20 seconds")), marker)
      expect(events.length).toBe(1)
    })
  )

  it.scoped("reads the whole table: unique keys, bounded batches, checkpoints that never go back", () =>
    Effect.gen(function* () {
      const source = yield* make(sourceConfig({ batch_size: 1000 }))
      const keys = new Set<string>()
      let events = 0
      let previous = 0
      let oversized = 0
      let backwards = 0
      const started = Date.now()
      yield* source.read(Option.none()).pipe(
        Stream.runForEach((batch) =>
          Effect.sync(() => {
            if (batch.events.length > 1000 || batch.events.length === 0) oversized++
            const { endUs } = batch.checkpoint as Checkpoint
            if (endUs < previous) backwards++
            previous = endUs
            for (const event of batch.events) keys.add(event.key)
            events += batch.events.length
          })
        )
      )
      const seconds = (Date.now() - started) / 1000
      yield* Effect.log(`read ${events} rows of mysql.slow_log in ${seconds.toFixed(2)} s`)
      expect(events).toBeGreaterThan(0)
      expect(keys.size).toBe(events)
      expect([oversized, backwards]).toEqual([0, 0])
    })
  )
})
