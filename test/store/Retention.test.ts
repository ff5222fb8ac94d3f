import { describe, expect, it } from "@effect/vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { ConfigProvider, Duration, Effect, Fiber } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { defaultRetention, loadRetention } from "../../src/store/Retention.js"
import { StorePruner } from "../../src/store/StorePruner.js"
import { startCli, waitForExit, waitForLog } from "../support/Cli.js"
import { pipelinesDir, tempDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// Retention: old events and rollups go in batches, recent ones and the all-time totals stay, a pipeline's newest day
// of events stays whatever the retention (a re-read after a restart must find them) and so do the rollups that sum
// them, and such a re-read after pruning stores nothing twice.

const HOUR_US = 3_600_000_000
const DAY_US = 24 * HOUR_US

const event = (key: string, queryId: string, startTimeUs: number, queryTimeMs: number): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs, queryTimeMs, sqlText: `select ${key}` }),
  fingerprint: {
    fingerprint: "select ?",
    queryId,
    statementType: "select",
    readOnly: true,
    tables: [],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})

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
        expect(pruned).toEqual({ events: 12_003, samples: 8, minutes: 3, hours: 1 })
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
          samples: 0,
          minutes: 0,
          hours: 0
        })
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
