import { describe, expect, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { ConfigProvider, Duration, Effect, Fiber } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { defaultRetention, loadRetention } from "../../src/store/Retention.js"
import { PRUNE_BATCH, StorePruner } from "../../src/store/StorePruner.js"
import { runCli, startCli, waitForExit, waitForLog } from "../support/Cli.js"
import { pipelinesDir, tempDir } from "../support/Pipelines.js"
import { selectEvent } from "../support/CollectedEvents.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// Retention: old events and rollups go in batches, recent ones and the all-time totals stay, a pipeline's newest day
// of events stays whatever the retention (a re-read after a restart must find them) and so do the rollups that sum
// them, and such a re-read after pruning stores nothing twice.

const HOUR_US = 3_600_000_000
const DAY_US = 24 * HOUR_US

const event = selectEvent

const state = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* storeClient(url)
    const events = yield* sql.unsafe<{ key: string }>(`SELECT event_key AS key FROM slowq_events ORDER BY event_key`)
    const minutes = yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM slowq_rollups_minute`)
    const hours = yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM slowq_rollups_hour`)
    const samples = yield* sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM slowq_samples`)
    const totals = yield* sql.unsafe<{ pipeline: string; calls: number; total_ms: number }>(
      `SELECT pipeline, calls::int, total_ms FROM slowq_queries ORDER BY pipeline, query_id`
    )
    return { events: events.map((e) => e.key), minutes: minutes[0]!.n, hours: hours[0]!.n, samples: samples[0]!.n, totals }
  })

describe("retention", () => {
  it.live("prunes old events and rollups in batches, keeps totals and each pipeline's newest day, and a re-read stores nothing twice", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const now = Date.now() * 1000
      // Minute-aligned times, so that each event has its own minute and hour.
      const at = (agoUs: number) => Math.floor((now - agoUs) / 60_000_000) * 60_000_000
      const p1 = [event("e_old", "AAAA", at(10 * DAY_US), 1), event("e_mid", "AAAA", at(3 * DAY_US), 2), event("e_new", "AAAA", at(HOUR_US), 4)]
      // p2 stopped ten days ago: its newest day stays, whatever the retention.
      const p2 = [event("f_a", "BBBB", at(12 * DAY_US), 8), event("f_b", "BBBB", at(10 * DAY_US), 16)]
      // 12,000 old events of a third pipeline: three batches of deletes.
      const bulk = Array.from({ length: 12_000 }, (_, i) => event(`g${String(i).padStart(5, "0")}`, "CCCC", at(9 * DAY_US) + i, 0.5))
      yield* Effect.gen(function* () {
        const writer = yield* EventWriter
        yield* writer.writeBatch("p1", "mysql", p1, 1)
        yield* writer.writeBatch("p2", "mysql", p2, 1)
        yield* writer.writeBatch("p3", "mysql", [...bulk, event("g_new", "CCCC", at(HOUR_US), 0.5)], 1)
        const before = yield* state(db.url)
        // p3's 12,000 old events share one minute.
        // Samples: each pipeline's query's first and slowest of each hour (p3's old events share one hour too).
        expect([before.events.length, before.minutes, before.hours, before.samples]).toEqual([12_006, 7, 7, 14])

        const pruned = yield* (yield* StorePruner).pruneOnce({
          ...defaultRetention,
          events: Duration.days(2),
          minutes: Duration.days(4),
          hours: Duration.days(11)
        })
        // Events: p1's two older than 2 days, p2's older than its newest day, p3's 12,000.
        // Minutes: older than 4 days and with no event kept (e_old's, f_a's, p3's old one; f_b's stays with f_b).
        // Hours: older than 11 days (f_a's). Samples go with the events' hours: e_old's, e_mid's, f_a's, p3's old one.
        expect(pruned).toEqual({ events: 12_003, packed: 0, blocks: 0, samples: 8, minutes: 3, hours: 1 })
        const after = yield* state(db.url)
        expect(after.events).toEqual(["e_new", "f_b", "g_new"])
        expect([after.minutes, after.hours, after.samples]).toEqual([4, 6, 6])
        expect(after.totals).toEqual(before.totals)
        expect(after.totals).toEqual([
          { pipeline: "p1", calls: 3, total_ms: 7 },
          { pipeline: "p2", calls: 2, total_ms: 24 },
          { pipeline: "p3", calls: 12_001, total_ms: 6000.5 }
        ])

        // The sources re-read what a restart re-reads: nothing is counted twice.
        expect(yield* writer.writeBatch("p1", "mysql", [p1[2]!], 2)).toMatchObject({ inserted: 0, duplicates: 1 })
        expect(yield* writer.writeBatch("p2", "mysql", [p2[1]!], 2)).toMatchObject({ inserted: 0, duplicates: 1 })
        expect((yield* state(db.url)).totals).toEqual(before.totals)
        // A second pass finds nothing more.
        expect(yield* (yield* StorePruner).pruneOnce({ ...defaultRetention, events: Duration.days(2), minutes: Duration.days(4), hours: Duration.days(11) })).toEqual({
          events: 0,
          packed: 0,
          blocks: 0,
          samples: 0,
          minutes: 0,
          hours: 0
        })
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped),
    120_000
  )

  it.live("packs the events past the replay window into blocks, bounded per statement, readable as they were, and retention deletes the blocks", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const now = Date.now() * 1000
      const hourAt = (agoUs: number) => Math.floor((now - agoUs) / HOUR_US) * HOUR_US
      const rich = (e: CollectedEvent, i: number): CollectedEvent => ({
        ...e,
        event: {
          ...e.event,
          calls: i + 1,
          lockTimeMs: i * 0.25,
          rowsSent: i,
          rowsExamined: 1000 + i,
          rowsAffected: i % 2,
          db: i % 2 === 0 ? "shop" : null,
          user: `app[app] @ web-${i} [10.0.0.${i}]`,
          threadId: 100 + i,
          intervalStartUs: i === 1 ? e.event.startTimeUs - 60_000_000 : null,
          metrics: i === 2 ? { shared_blks_read: 7 } : {},
          attributes: i === 3 ? { Full_scan: true, Bytes_sent: 1234, note: "a \"quoted\" ü" } : {}
        }
      })
      // Three days ago (two queries, one hour), thirty hours ago, and the newest, an hour ago: the first four are past
      // the pipeline's replay window of a day.
      const events = [
        event("k1", "AAAA", hourAt(3 * DAY_US) + 5_000_000, 1),
        event("k2", "BBBB", hourAt(3 * DAY_US) + 1_000_000, 2),
        event("k3", "AAAA", hourAt(3 * DAY_US) + 9_000_000, 3),
        event("k4", "AAAA", hourAt(30 * HOUR_US) + 2_000_000, 4),
        event("k5", "AAAA", hourAt(HOUR_US) + 3_000_000, 5)
      ].map(rich)
      const columns = `pipeline, event_key, query_id, start_time::text, start_us::text, interval_start::text, calls::text,
        query_time_ms, lock_time_ms, rows_sent, rows_examined, rows_affected, db, user_host, thread_id::text,
        multi_statement, truncated, tags, metrics, attributes`
      yield* Effect.gen(function* () {
        const writer = yield* EventWriter
        const pruner = yield* StorePruner
        const sql = yield* storeClient(db.url)
        yield* writer.writeBatch("p1", "mysql", events, 1)
        const rowsOf = (table: string) => sql.unsafe<{ event_key: string }>(`SELECT ${columns} FROM ${table} ORDER BY event_key`)
        const stored = yield* rowsOf("slowq_events")
        const before = yield* state(db.url)

        // Two events per packing statement: three statements (2, 2, 0 rows), in time order, one block per hour of each.
        const week = { ...defaultRetention, events: Duration.days(7) }
        expect(yield* pruner.pruneOnce(week, { rows: PRUNE_BATCH, pack: 2, blocks: 1 })).toEqual({
          events: 0,
          packed: 4,
          blocks: 0,
          samples: 0,
          minutes: 0,
          hours: 0
        })
        expect((yield* state(db.url)).events).toEqual(["k5"])
        const blocks = yield* sql.unsafe<{ events: number; query_id: ReadonlyArray<string>; event_key: ReadonlyArray<string> }>(
          "SELECT events, query_id, event_key FROM slowq_event_blocks ORDER BY block"
        )
        expect(blocks).toEqual([
          { events: 2, query_id: ["AAAA", "BBBB"], event_key: ["k1", "k2"] },
          { events: 1, query_id: ["AAAA"], event_key: ["k3"] },
          { events: 1, query_id: ["AAAA"], event_key: ["k4"] }
        ])
        // Every column of every event reads back as it was stored, packed or not.
        expect(yield* rowsOf("slowq_events_all")).toEqual(stored)
        const packed = yield* sql.unsafe<{ event_key: string; packed: boolean }>("SELECT event_key, packed FROM slowq_events_all ORDER BY event_key")
        expect(packed.map((row) => row.packed)).toEqual([true, true, true, true, false])
        // Totals, rollups and samples are not touched; a re-read of the replay window stores nothing twice.
        expect(yield* state(db.url)).toEqual({ ...before, events: ["k5"] })
        expect(yield* writer.writeBatch("p1", "mysql", [events[4]!], 2)).toMatchObject({ inserted: 0, duplicates: 1 })
        expect(yield* pruner.pruneOnce(week)).toEqual({ events: 0, packed: 0, blocks: 0, samples: 0, minutes: 0, hours: 0 })

        // Two days of events: the blocks of three days ago go (their three events), with their hour's samples (each
        // query's first and slowest).
        expect(yield* pruner.pruneOnce({ ...week, events: Duration.days(2) })).toEqual({
          events: 3,
          packed: 0,
          blocks: 2,
          samples: 4,
          minutes: 0,
          hours: 0
        })
        expect((yield* rowsOf("slowq_events_all")).map((row) => row.event_key)).toEqual(["k4", "k5"])
        expect((yield* state(db.url)).totals).toEqual(before.totals)

        // `slowq prune` makes the same pass once: with an hour of events, everything past the replay window goes (k4's
        // block and its hour's two samples); k5, within it, stays.
        const cli = yield* runCli(["prune"], { SLOWQ_STORE_URL: db.url, SLOWQ_RETAIN_EVENTS: "1h", SLOWQ_LOG_LEVEL: "warning" })
        expect([cli.code, cli.stdout.trim()]).toEqual([0, "pruned events=1 packed=0 blocks=1 samples=2 minutes=0 hours=0"])
        expect((yield* rowsOf("slowq_events_all")).map((row) => row.event_key)).toEqual(["k5"])
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped),
    120_000
  )

  it.live("slowq run prunes on its schedule, logging what it deleted", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const now = Date.now() * 1000
      yield* Effect.gen(function* () {
        yield* (yield* EventWriter).writeBatch(
          "p1",
          "mysql",
          [event("old", "AAAA", now - 10 * DAY_US, 1), event("new", "AAAA", now - HOUR_US, 1)],
          1
        )
      }).pipe(Effect.provide(storeAt(db.url)))
      const logs = yield* tempDir("slowq-retention-")
      const path = join(logs, "slow.log")
      writeFileSync(path, "")
      const dir = yield* pipelinesDir({
        "idle.yaml": `name: idle\nschedule:\n  every: 1h\nsource:\n  type: mysql_slow_log_file\n  path: ${path}\n`
      })
      const daemon = startCli(["run", "--pipelines", dir], {
        SLOWQ_STORE_URL: db.url,
        SLOWQ_RETAIN_EVENTS: "2d",
        SLOWQ_RETAIN_MINUTES: "4d",
        SLOWQ_RETAIN_HOURS: "11d"
      })
      const exited = yield* Effect.fork(waitForExit(daemon))
      yield* waitForLog(daemon, 'message="store pruned"').pipe(Effect.timeout("60 seconds"))
      daemon.kill("SIGTERM")
      const result = yield* Fiber.join(exited)
      expect(result.code).toBe(0)
      const line = result.stderr.split("\n").find((l) => l.includes('message="store pruned"')) ?? ""
      expect(["events=1", "samples=2", "minutes=1", "hours=0"].filter((field) => !line.split(" ").includes(field))).toEqual([])
      expect((yield* state(db.url)).events).toEqual(["new"])
    }).pipe(Effect.scoped),
    90_000
  )

  it.effect("settings: defaults, durations from the environment, and clear refusals", () =>
    Effect.gen(function* () {
      const load = (env: Record<string, string>) =>
        loadRetention.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))), Effect.either)
      const defaults = yield* load({})
      expect(defaults._tag === "Right" && defaults.right).toEqual(defaultRetention)
      const set = yield* load({ SLOWQ_RETAIN_EVENTS: "36h", SLOWQ_RETAIN_MINUTES: "14d", SLOWQ_PRUNE_EVERY: "1m" })
      expect(set._tag === "Right" && [set.right.events, set.right.minutes, set.right.hours, set.right.every].map(Duration.toMillis)).toEqual([
        36 * 3_600_000,
        14 * 86_400_000,
        400 * 86_400_000,
        60_000
      ])
      const bad = yield* load({ SLOWQ_RETAIN_EVENTS: "a week" })
      expect(bad._tag === "Left" && bad.left).toContain('SLOWQ_RETAIN_EVENTS: expected a duration such as 12h, 7d or 400d, actual "a week"')
      const inverted = yield* load({ SLOWQ_RETAIN_MINUTES: "500d" })
      expect(inverted._tag === "Left" && inverted.left).toBe(
        "SLOWQ_RETAIN_MINUTES (500d) is longer than SLOWQ_RETAIN_HOURS (400d); keep hours at least as long as minutes"
      )
    })
  )
})
