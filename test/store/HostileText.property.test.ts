import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { layer } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Runtime } from "effect"
import fc from "fast-check"
import { parseSlowLog } from "../../plugins/mysql_slow_log_file/SlowLogParser.js"
import { type PollColumns, toEntry, toEvent } from "../../plugins/postgres_pg_stat_statements/PgStatStatementsSource.js"
import {
  type CachedText,
  decodeCheckpoint,
  diff,
  type Entry,
  encodeCheckpoint,
  textKeyOf
} from "../../plugins/postgres_pg_stat_statements/Snapshot.js"
import { fingerprintPostgres, loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { storableText } from "../../src/store/Storable.js"
import { slowLogFileSpec, tempDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// Issue 16: whatever bytes a source hands over (NUL, invalid UTF-8, lone surrogates, control characters), every
// event ends up stored or reported as dropped, and the pipeline goes on: never a batch refused on every retry.

class TestStore extends Context.Tag("test/TestStore")<TestStore, { readonly url: string }>() {}

const StoreLive = Layer.unwrapScoped(
  Effect.map(freshStoreDatabase, (db) =>
    Runner.layer.pipe(
      Layer.provideMerge(storeAt(db.url)),
      Layer.merge(Layer.succeed(TestStore, { url: db.url }))
    )
  )
)

/** Bytes of any kind: NUL, bytes that are not UTF-8, CESU-8 surrogate halves, control characters, some ASCII. */
const hostileBytes = (options: { readonly newlines: boolean; readonly maxLength: number }) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(0x00, 0x00, 0xff, 0xfe, 0xc3, 0xed, 0xa0, 0xb0, 0x80, 0x01, 0x08, 0x1b, 0x7f, 0x09, 0x5c, 0x22, 0x27, 0x3b),
        fc.constantFrom(...(options.newlines ? [0x0a, 0x0d] : [0x0d])),
        fc.integer({ min: 0x20, max: 0x7e }).filter((b) => options.newlines || b !== 0x23)
      ),
      { maxLength: options.maxLength }
    )
    .map((bytes) => Buffer.from(bytes))

/** JS strings of any kind, lone surrogates included. */
const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.array(fc.constantFrom("\u0000", "\ud800", "\udfff", "\ud83d", "\ude00", "\\u0000", "\\", '"', "a", "é", "\u001b"), {
    maxLength: 12
  }).map((parts) => parts.join(""))
)

const SlowLogEntry = fc.record({
  user: hostileBytes({ newlines: false, maxLength: 16 }),
  threadId: fc.oneof(
    fc.constant(Buffer.from("7")),
    fc.constant(Buffer.from("18446744073709551615")),
    hostileBytes({ newlines: false, maxLength: 8 })
  ),
  schema: hostileBytes({ newlines: false, maxLength: 12 }),
  attributeName: hostileBytes({ newlines: false, maxLength: 10 }),
  attributeValue: hostileBytes({ newlines: false, maxLength: 16 }),
  use: fc.option(hostileBytes({ newlines: false, maxLength: 12 }), { nil: undefined }),
  statement: hostileBytes({ newlines: true, maxLength: 60 })
})
type SlowLogEntry = typeof SlowLogEntry extends fc.Arbitrary<infer T> ? T : never

const entryBytes = (n: number, e: SlowLogEntry) =>
  Buffer.concat([
    Buffer.from(`# Time: 240115 10:00:00\n# User@Host: `),
    e.user,
    Buffer.from(` @ localhost []\n# Thread_id: `),
    e.threadId,
    Buffer.from(`  Schema: `),
    e.schema,
    Buffer.from(`  QC_hit: No\n# Query_time: 0.000100  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\n# Rows_affected: 0  `),
    e.attributeName,
    Buffer.from(": "),
    e.attributeValue,
    Buffer.from("\n"),
    ...(e.use === undefined ? [] : [Buffer.from("use "), e.use, Buffer.from(";\n")]),
    Buffer.from(`SET timestamp=${1705312800 + n};\nSELECT ${n}, '`),
    e.statement,
    Buffer.from("';\n")
  ])

let pipelines = 0

/**
 * fast-check's own runner (fast-check 4, a devDependency; @effect/vitest's `prop` runs effect's bundled 3.x), each
 * case an effect run with the suite's store.
 */
const assertProperty = <Ts extends [unknown, ...Array<unknown>], R>(
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  check: (...values: Ts) => Effect.Effect<boolean, unknown, R>,
  numRuns: number
) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<R>()
    yield* Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(...arbitraries, (...values: Ts) => Runtime.runPromise(runtime)(check(...values))),
        { numRuns }
      )
    )
  })

layer(StoreLive, { timeout: "60 seconds", excludeTestServices: true })("hostile text on its way to the store", (it) => {
  it.effect(
    "every slow log entry read is stored or dropped, and the next run finds nothing left",
    () => assertProperty([fc.array(SlowLogEntry, { minLength: 1, maxLength: 6 })], (entries) =>
      Effect.gen(function* () {
        const runner = yield* Runner
        const { url } = yield* TestStore
        const dir = yield* tempDir("slowq-hostile-")
        const path = join(dir, "slow.log")
        const bytes = Buffer.concat(entries.map((e, i) => entryBytes(i + 1, e)))
        writeFileSync(path, bytes)
        const name = `hostile_${++pipelines}`
        const spec = slowLogFileSpec(name, path)
        const expected = parseSlowLog(bytes).events.length
        const run = yield* runner.runOnce(spec)
        const sql = yield* storeClient(url)
        const [counts] = yield* sql.unsafe<{ stored: number; dropped: number; other_reasons: number }>(
          `SELECT (SELECT count(*) FROM slowq_events WHERE pipeline = $1)::int AS stored,
                  (SELECT count(*) FROM slowq_dropped_events WHERE pipeline = $1)::int AS dropped,
                  (SELECT count(*) FROM slowq_dropped_events
                   WHERE pipeline = $1 AND reason NOT LIKE '%out of range for type bigint%')::int AS other_reasons`,
          [name]
        )
        const again = yield* runner.runOnce(spec)
        const ok =
          run.eventsRead === expected &&
          run.rowsWritten + run.eventsDropped === expected &&
          run.duplicates === 0 &&
          counts?.stored === run.rowsWritten &&
          counts?.dropped === run.eventsDropped &&
          // Only a number beyond bigint (the Thread_id) is refused: hostile text never is.
          counts?.other_reasons === 0 &&
          again.eventsRead === 0
        if (!ok) yield* Effect.logError("not all stored or dropped", { expected, run, counts, again })
        return ok
      }).pipe(Effect.scoped), 40),
    120_000
  )

  const columns: PollColumns = {
    counterNames: ["calls", "rows"],
    timeNames: ["total_exec_time"],
    sinceResetNames: ["min_exec_time", "max_exec_time"]
  }

  it.effect(
    "every pg_stat_statements event with hostile texts and names is stored or dropped, and the checkpoint decodes",
    () => assertProperty(
    [
      fc.array(fc.record({ query: hostileString, datname: hostileString, rolname: hostileString }), {
        minLength: 1,
        maxLength: 6
      }),
      hostileString
    ],
    (rows, scopeName) =>
      Effect.gen(function* () {
        yield* Effect.promise(loadPostgresParser)
        const store = yield* EventWriter
        const { url } = yield* TestStore
        const name = `pgss_hostile_${++pipelines}`
        const entries: Array<Entry> = []
        rows.forEach((row, i) => {
          const dbid = 16384 + i
          const entry = toEntry(
            [dbid, 10 + i, String(1000 + i), true, "3", "7", 12.5, 1.5, 6.25, null],
            columns,
            { databases: new Map([[dbid, row.datname]]), roles: new Map([[10 + i, row.rolname]]) }
          )
          if (entry === "hidden" || "problem" in entry) throw new Error(`toEntry refused row ${i}`)
          entries.push(entry)
        })
        const system = "7713345197783922790"
        const nowUs = 1_700_000_000_000_000
        const scope = { include: [scopeName], exclude: [scopeName], nested: false }
        const result = diff(undefined, {
          system,
          nowUs,
          statsResetUs: null,
          dealloc: null,
          ...columns,
          scope,
          entries
        })
        const events = result.deltas.map((delta, i) => {
          const event = toEvent(system, nowUs, delta, rows[i]!.query, columns)
          return { event, fingerprint: fingerprintPostgres(event.sqlText) }
        })
        const texts = new Map<string, CachedText>(entries.map((e, i) => [textKeyOf(e), { text: rows[i]!.query, usedUs: nowUs }]))
        const checkpoint = encodeCheckpoint({
          system,
          atUs: nowUs,
          statsResetUs: null,
          dealloc: null,
          scope,
          counterNames: columns.counterNames,
          timeNames: columns.timeNames,
          keys: result.keys,
          texts
        })
        const written = yield* store.writeBatch(name, "postgres", events, checkpoint)
        const sql = yield* storeClient(url)
        const [counts] = yield* sql.unsafe<{ stored: number }>(
          `SELECT count(*)::int AS stored FROM slowq_events WHERE pipeline = $1`,
          [name]
        )
        // The next poll starts from what was stored: the checkpoint must still be one the source wrote.
        const stored = yield* store.readCheckpoint(name)
        const decoded = Option.isSome(stored) ? decodeCheckpoint(stored.value) : Either.left("no checkpoint")
        const textsBack = Either.isRight(decoded) ? [...decoded.right.texts.values()].map((t) => t.text) : []
        const ok =
          events.length === rows.length &&
          written.inserted + written.dropped.length === events.length &&
          written.dropped.length === 0 &&
          counts?.stored === written.inserted &&
          Either.isRight(decoded) &&
          JSON.stringify(textsBack) === JSON.stringify(rows.map((r) => storableText(r.query)))
        if (!ok) yield* Effect.logError("not all stored or dropped", { rows, written, counts, decoded })
        return ok
      }).pipe(Effect.scoped), 60),
    120_000
  )
})
