import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, Option, type Scope } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { fingerprintMysql } from "../../src/fingerprint/Fingerprinter.js"
import { eventsDroppedTotal } from "../../src/pipeline/PipelineMetrics.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { storableJson, storableText } from "../../src/store/Storable.js"
import { slowLogFileSpec, tempDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

const collected = (n: number, fields: Partial<SlowQueryEvent> = {}): CollectedEvent => {
  const sqlText = fields.sqlText ?? `SELECT ${n} FROM t`
  return {
    event: makeEvent({ key: `k${n}`, startTimeUs: 1_700_000_000_000_000 + n, queryTimeMs: n, sqlText, threadId: 7, ...fields }),
    fingerprint: fingerprintMysql(sqlText)
  }
}

/** MySQL thread ids are unsigned 64-bit; 2^64-1 (a damaged or hostile `# Thread_id:`) is beyond PostgreSQL's bigint. */
// As the parser reads it: the nearest double.
const HUGE_THREAD_ID = Number("18446744073709551615")
const HUGE_THREAD_REASON = 'value "18446744073709552000" is out of range for type bigint [SQLSTATE 22003]'

const withStore = <A, E>(body: (url: string) => Effect.Effect<A, E, EventWriter | Runner | Scope.Scope>) =>
  Effect.gen(function* () {
    const db = yield* freshStoreDatabase
    const layer = Runner.layer.pipe(Layer.provideMerge(storeAt(db.url)))
    return yield* body(db.url).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped)

describe("storable text", () => {
  it("returns the same string when nothing needs changing, and U+FFFD for NUL and lone surrogates", () => {
    const clean = "SELECT 'é', '😀' FROM t\u0001\t"
    expect(storableText(clean)).toBe(clean)
    expect(storableText("a\u0000b\ud800c\udc00d\ud83d\ude00")).toBe("a\uFFFDb\uFFFDc\uFFFDd\ud83d\ude00")
    expect(storableJson({ a: 1 })).toBe('{"a":1}')
    expect(storableJson(undefined)).toBe(undefined)
    // Keys and values at any depth; an escaped backslash before `u0000` is text, not an escape.
    expect(storableJson({ "k\u0000": ["\ud800", { deep: "x\u0000\udfff" }], lit: "\\u0000" })).toBe(
      '{"k\\ufffd":["\\ufffd",{"deep":"x\\ufffd\\ufffd"}],"lit":"\\\\u0000"}'
    )
  })
})

describe("EventWriter.writeBatch with data the store refuses", () => {
  it.live("stores hostile text in every field, JSON keys included, and a hostile checkpoint, with U+FFFD", () =>
    withStore((url) =>
      Effect.gen(function* () {
        const store = yield* EventWriter
        const hostile = "a\u0000b\ud800c"
        const event = collected(1, {
          db: hostile,
          user: hostile,
          sqlText: `SELECT '${hostile}'`,
          metrics: { [hostile]: 1 },
          attributes: { [hostile]: hostile, Bytes_sent: "8\u0000\u000056" }
        })
        const result = yield* store.writeBatch("p", "mysql", [event], { files: [{ db: hostile, [hostile]: [hostile] }] })
        expect(result).toEqual({ inserted: 1, duplicates: 0, newFingerprints: 1, dropped: [] })
        const clean = "a\uFFFDb\uFFFDc"
        expect(yield* store.readCheckpoint("p")).toEqual(Option.some({ files: [{ db: clean, [clean]: [clean] }] }))
        const sql = yield* storeClient(url)
        const rows = yield* sql.unsafe(`SELECT db, user_host, sql_text, metrics, attributes FROM slowq_events`)
        expect(rows).toEqual([
          {
            db: clean,
            user_host: clean,
            sql_text: null,
            metrics: { [clean]: 1 },
            attributes: { [clean]: clean, Bytes_sent: "8\uFFFD\uFFFD56" }
          }
        ])
        // The text is kept as the query's sample and as its hour's first and slowest.
        expect(yield* sql.unsafe(`SELECT sample FROM slowq_queries`)).toEqual([{ sample: `SELECT '${clean}'` }])
        expect(yield* sql.unsafe(`SELECT kind, db, sql_text FROM slowq_samples ORDER BY kind`)).toEqual([
          { kind: "first", db: clean, sql_text: `SELECT '${clean}'` },
          { kind: "slowest", db: clean, sql_text: `SELECT '${clean}'` }
        ])
      })
    )
  )

  it.live("drops only the refused events, stores the rest and advances the checkpoint past them", () =>
    withStore((url) =>
      Effect.gen(function* () {
        const store = yield* EventWriter
        const batch = [1, 2, 3, 4, 5, 6, 7].map((n) =>
          n === 3
            ? collected(n, { threadId: HUGE_THREAD_ID })
            : n === 6
              ? collected(n, { startTimeUs: 9_999_999_999_999_000_000 })
              : collected(n)
        )
        const locate = (key: string) => (key === "k3" ? "slow.log byte 300" : undefined)
        const result = yield* store.writeBatch("p", "mysql", batch, { at: 7 }, { locate })
        expect(result).toEqual({
          inserted: 5,
          duplicates: 0,
          // Every statement has the fingerprint `select ? from t`.
          newFingerprints: 1,
          dropped: [
            { key: "k3", position: "slow.log byte 300", reason: HUGE_THREAD_REASON },
            {
              key: "k6",
              position: null,
              reason: 'value "9999999999999000000" is out of range for type bigint [SQLSTATE 22003]'
            }
          ]
        })
        expect(yield* store.readCheckpoint("p")).toEqual(Option.some({ at: 7 }))
        const sql = yield* storeClient(url)
        expect(
          (yield* sql.unsafe<{ event_key: string }>(`SELECT event_key FROM slowq_events ORDER BY event_key`)).map(
            (r) => r.event_key
          )
        ).toEqual(["k1", "k2", "k4", "k5", "k7"])
        expect(
          yield* sql.unsafe(`SELECT pipeline, event_key, position, reason FROM slowq_dropped_events ORDER BY event_key`)
        ).toEqual([
          { pipeline: "p", event_key: "k3", position: "slow.log byte 300", reason: HUGE_THREAD_REASON },
          {
            pipeline: "p",
            event_key: "k6",
            position: null,
            reason: 'value "9999999999999000000" is out of range for type bigint [SQLSTATE 22003]'
          }
        ])
        expect(yield* totalsMismatches(sql)).toEqual([])

        // The next batch goes on as usual.
        expect(yield* store.writeBatch("p", "mysql", [collected(8)], { at: 8 })).toEqual({
          inserted: 1,
          duplicates: 0,
          newFingerprints: 0,
          dropped: []
        })
        expect(yield* store.readCheckpoint("p")).toEqual(Option.some({ at: 8 }))
      })
    )
  )

  it.live("a failure that is not the data's fails the write; a retry stores each event once", () =>
    withStore((url) =>
      Effect.gen(function* () {
        const store = yield* EventWriter
        const sql = yield* storeClient(url)
        yield* store.writeBatch("p", "mysql", [collected(1)], { at: 1 })
        // Stands for a connection lost after the split parts were stored, before the last write (SQLSTATE P0001).
        yield* sql.unsafe(`CREATE FUNCTION lost() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'lost'; END $$`)
        yield* sql.unsafe(`CREATE TRIGGER lost BEFORE INSERT ON slowq_dropped_events FOR EACH ROW EXECUTE FUNCTION lost()`)
        const batch = [2, 3, 4, 5].map((n) => (n === 4 ? collected(n, { threadId: HUGE_THREAD_ID }) : collected(n)))
        const failed = yield* Effect.flip(store.writeBatch("p", "mysql", batch, { at: 5 }))
        expect(failed.message).toBe("store write failed: Failed to execute statement")
        // The parts were stored, but the checkpoint did not move past the batch: it is read again.
        expect(yield* store.readCheckpoint("p")).toEqual(Option.some({ at: 1 }))
        expect((yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM slowq_events`))[0]?.n).toBe(4)

        yield* sql.unsafe(`DROP TRIGGER lost ON slowq_dropped_events`)
        const retried = yield* store.writeBatch("p", "mysql", batch, { at: 5 })
        expect(retried).toEqual({
          inserted: 0,
          duplicates: 3,
          newFingerprints: 0,
          dropped: [{ key: "k4", position: null, reason: HUGE_THREAD_REASON }]
        })
        expect(yield* store.readCheckpoint("p")).toEqual(Option.some({ at: 5 }))
        expect(yield* totalsMismatches(sql)).toEqual([])
        const totals = yield* sql.unsafe<{ events: number }>(`SELECT sum(events)::int AS events FROM slowq_queries`)
        expect(totals).toEqual([{ events: 4 }])

        // A failure of the whole write that is not the data's is not split: nothing is stored or dropped.
        yield* sql.unsafe(`CREATE TRIGGER lost BEFORE INSERT OR UPDATE ON slowq_checkpoints FOR EACH ROW EXECUTE FUNCTION lost()`)
        const refused = yield* Effect.flip(store.writeBatch("p", "mysql", [collected(6), collected(7)], { at: 7 }))
        expect(refused.message).toBe("store write failed: Failed to execute statement")
        expect((yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM slowq_events`))[0]?.n).toBe(4)
        expect((yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM slowq_dropped_events`))[0]?.n).toBe(1)
      })
    )
  )

  it.live("a run reports and counts the refused entry of a slow log, and the next run goes on", () =>
    withStore((url) =>
      Effect.gen(function* () {
        const dir = yield* tempDir("slowq-dropped-")
        const path = join(dir, "slow.log")
        const entry = (n: number, threadId = "7") =>
          `# Time: 240115 10:00:00\n# User@Host: app[app] @ localhost []\n# Thread_id: ${threadId}  Schema: shop  QC_hit: No\n# Query_time: 0.000100  Lock_time: 0.000001  Rows_sent: 1  Rows_examined: ${n}\nSET timestamp=${1705312800 + n};\nSELECT ${n} AS n;\n`
        const text = `${entry(1)}${entry(2, "18446744073709551615")}${entry(3)}`
        writeFileSync(path, text)
        const spec = slowLogFileSpec("dropping", path)
        const runner = yield* Runner
        const counter = Metric.tagged(eventsDroppedTotal, "pipeline", "dropping")
        const before = (yield* Metric.value(counter)).count
        const first = yield* runner.runOnce(spec, "r1")
        expect([first.eventsRead, first.rowsWritten, first.duplicates, first.eventsDropped]).toEqual([3, 2, 0, 1])
        expect((yield* Metric.value(counter)).count - before).toBe(1)
        const sql = yield* storeClient(url)
        const fileKey = (yield* sql.unsafe<{ key: string }>(`SELECT checkpoint->'files'->0->>'key' AS key FROM slowq_checkpoints`))[0]!.key
        const second = entry(1).length
        expect(yield* sql.unsafe(`SELECT event_key, position, reason FROM slowq_dropped_events`)).toEqual([
          { event_key: `${fileKey}:${second}`, position: `${path} byte ${second}`, reason: HUGE_THREAD_REASON }
        ])

        writeFileSync(path, `${text}${entry(4)}`)
        const next = yield* runner.runOnce(spec, "r2")
        expect([next.eventsRead, next.rowsWritten, next.duplicates, next.eventsDropped]).toEqual([1, 1, 0, 0])
        expect((yield* Metric.value(counter)).count - before).toBe(1)
      })
    )
  )
})
