import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import { EventWriter } from "../../src/store/EventWriter.js"
import { storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { runCli } from "../support/Cli.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { selectEvent } from "../support/CollectedEvents.js"

// `slowq report --since/--until`: the ranking over a window, read from the rollups as GET /api/v1/queries?since= is,
// through the CLI as a user runs it. Events across four hours, so that the window is read from hours (its whole
// hours) and minutes (its partial hour at the end).
const at = (iso: string) => Date.parse(`2024-05-01T${iso}Z`)

const event = (key: string, queryId: string, time: string, queryTimeMs: number) =>
  selectEvent(key, queryId, at(time) * 1000, queryTimeMs, {
    event: { sqlText: `select /* ${key} */ ${queryId}`, rowsExamined: 10, rowsSent: 1, db: "shop" },
    fingerprint: `select ${queryId.toLowerCase()}`
  })

const seed = Effect.gen(function* () {
  const writer = yield* EventWriter
  yield* writer.writeBatch(
    "p1",
    "mysql",
    [
      event("a0", "AAAA", "09:59:30", 5),
      event("a1", "AAAA", "10:00:10", 10),
      event("a2", "AAAA", "10:30:00", 20),
      event("a3", "AAAA", "11:59:59", 40),
      event("a4", "AAAA", "12:00:30", 80),
      event("a5", "AAAA", "12:01:30", 160),
      // The slowest of AAAA, after the window: its sample all the same.
      event("a6", "AAAA", "13:10:00", 320),
      event("b1", "BBBB", "10:45:00", 100),
      event("b2", "BBBB", "12:05:00", 1)
    ],
    { n: 1 }
  )
  yield* writer.writeBatch("p2", "mysql", [event("c1", "CCCC", "11:00:00", 50), event("c2", "CCCC", "11:30:00", 50)], { n: 1 })
})

const Report = Schema.parseJson(
  Schema.Struct({
    queries: Schema.Array(
      Schema.Struct({
        id: Schema.String,
        pipeline: Schema.String,
        events: Schema.Number,
        calls: Schema.Number,
        total_ms: Schema.Number,
        avg_ms: Schema.Number,
        max_ms: Schema.Number,
        rows_examined: Schema.Number,
        first_seen: Schema.String,
        last_seen: Schema.String,
        sample: Schema.String
      })
    )
  })
)

describe("slowq report over a window, through the CLI", () => {
  it.live(
    "ranks the window's minutes (whole hours read from the hour rollups), with each query's slowest sample",
    () =>
      Effect.gen(function* () {
        const db = yield* freshStoreDatabase
        yield* seed.pipe(Effect.provide(Layer.fresh(storeLayerFromUrl(Redacted.make(db.url)))))
        const env = { SLOWQ_STORE_URL: db.url }
        const report = (...args: ReadonlyArray<string>) =>
          Effect.gen(function* () {
            const result = yield* runCli(["report", "--format", "json", ...args], env)
            expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" })
            return Schema.decodeUnknownSync(Report)(result.stdout).queries
          })

        // [10:00:40, 12:01:10) at minute precision: the minutes 10:00 to 12:01, so a1 to a5 but not a0, b1 not b2.
        const window = ["--since", "2024-05-01T10:00:40Z", "--until", "2024-05-01T12:01:10Z"]
        expect(yield* report(...window)).toEqual([
          {
            id: "AAAA",
            pipeline: "p1",
            events: 5,
            calls: 5,
            total_ms: 310,
            avg_ms: 62,
            max_ms: 160,
            rows_examined: 50,
            first_seen: "2024-05-01T10:00:10.000Z",
            last_seen: "2024-05-01T12:01:30.000Z",
            sample: "select /* a6 */ AAAA"
          },
          // A tie at 100 ms: broken by pipeline, then id, as the API's windows are.
          {
            id: "BBBB",
            pipeline: "p1",
            events: 1,
            calls: 1,
            total_ms: 100,
            avg_ms: 100,
            max_ms: 100,
            rows_examined: 10,
            first_seen: "2024-05-01T10:45:00.000Z",
            last_seen: "2024-05-01T10:45:00.000Z",
            sample: "select /* b1 */ BBBB"
          },
          {
            id: "CCCC",
            pipeline: "p2",
            events: 2,
            calls: 2,
            total_ms: 100,
            avg_ms: 50,
            max_ms: 50,
            rows_examined: 20,
            first_seen: "2024-05-01T11:00:00.000Z",
            last_seen: "2024-05-01T11:30:00.000Z",
            sample: "select /* c1 */ CCCC"
          }
        ])
        expect((yield* report(...window, "--top", "1")).map((q) => q.id)).toEqual(["AAAA"])
        expect((yield* report(...window, "--pipeline", "p2")).map((q) => [q.id, q.total_ms])).toEqual([["CCCC", 100]])
        // Whole hours only, and an open end: hours 11:00 and 12:00 (b2, a4, a5) and from 13:00 on (a6).
        expect((yield* report("--since", "2024-05-01T11:00:00Z")).map((q) => [q.id, q.calls, q.total_ms])).toEqual([
          ["AAAA", 4, 600],
          ["CCCC", 2, 100],
          ["BBBB", 1, 1]
        ])
        // Only an end: everything before 10:01 (a0, a1).
        expect((yield* report("--until", "2024-05-01T10:00:59Z")).map((q) => [q.id, q.calls, q.total_ms])).toEqual([["AAAA", 2, 15]])
        // A duration back from now: nothing of 2024 in the last 24 hours.
        expect(yield* report("--since", "24h")).toEqual([])
        // All time, as before: the per-query totals.
        expect((yield* report()).map((q) => [q.id, q.total_ms])).toEqual([
          ["AAAA", 635],
          ["BBBB", 101],
          ["CCCC", 100]
        ])

        const table = yield* runCli(["report", ...window, "--top", "1"], env)
        expect(table.stdout.split("\n")[1]?.split(/\s+/).slice(0, 7)).toEqual(["1", "AAAA", "5", "310", "62.00", "160", "50"])

        const refused = yield* runCli(["report", "--since", "24h", "--exclude-baseline"], env)
        expect({ code: refused.code, stderr: refused.stderr }).toEqual({
          code: 1,
          stderr:
            "--exclude-baseline cannot be combined with --since/--until: a window is read from the rollups, which count baseline events\n"
        })
        const backwards = yield* runCli(["report", "--since", "1h", "--until", "2h"], env)
        expect({ code: backwards.code, stderr: backwards.stderr }).toEqual({ code: 1, stderr: "--since must be before --until\n" })
      }).pipe(Effect.scoped),
    240_000
  )
})
