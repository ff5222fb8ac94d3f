import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { EventWriter } from "../../src/store/EventWriter.js"
import { QueryReads, windowRanges } from "../../src/store/QueryReads.js"
import { storeLayerEmbedded, storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { selectEvent } from "../support/CollectedEvents.js"

// A window's ranking walks the queries in all-time order twice at most before it aggregates the window: first the
// page's rows and a quarter more, then 4 times the page's end (at least 200). The answer is the window's exact ranking
// whichever of the three proves it; here the first walk meets only queries quiet in the window and the second proves.
const at = (time: string) => new Date(`2024-05-01T${time}Z`)

const event = (key: string, queryId: string, time: string, queryTimeMs: number) =>
  selectEvent(key, queryId, at(time).getTime() * 1000, queryTimeMs, { event: { rowsExamined: 1 }, fingerprint: `select ${queryId.toLowerCase()}` })

const ranking = Effect.gen(function* () {
  const writer = yield* EventWriter
  // The all-time leaders, 2,001 to 2,020 ms at 08:00; five queries of 1,100 to 1,500 ms at 10:30; 250 of 1 to 250 ms
  // at 11:00.
  const old = Array.from({ length: 20 }, (_, i) => event(`o${i}`, `O${String(i + 1).padStart(3, "0")}`, "08:00:00", 2001 + i))
  const busy = Array.from({ length: 5 }, (_, i) => event(`w${i}`, `W${i + 1}`, "10:30:00", 1500 - 100 * i))
  const tail = Array.from({ length: 250 }, (_, i) => event(`t${i}`, `T${String(i + 1).padStart(3, "0")}`, "11:00:00", i + 1))
  yield* writer.writeBatch("p1", "mysql", [...old, ...busy, ...tail], { n: 1 })
  const reads = yield* QueryReads
  const window = { since: at("10:00:00"), until: at("12:00:00") }
  const page = (limit: number, offset: number) =>
    Effect.map(reads.listQueries({ order: "total_ms", limit, offset, ...window }), (p) => ({
      more: p.more,
      rows: p.queries.map((q) => [q.id, q.calls, q.total_ms])
    }))
  // Rows 1 to 3 (the page and one more): the first walk (19 queries) holds only the old ones; the second (200)
  // holds W1 to W5 and T250 down to T076, and W3's 1,300 ms ranks above T075's all-time 75: proven.
  expect(yield* page(2, 0)).toEqual({ more: true, rows: [["W1", 1, 1500], ["W2", 1, 1400]] })
  expect(yield* page(2, 3)).toEqual({ more: true, rows: [["W4", 1, 1200], ["W5", 1, 1100]] })
  // Past the busy five, the tail in the window, as aggregated.
  expect(yield* page(3, 5)).toEqual({ more: true, rows: [["T250", 1, 250], ["T249", 1, 249], ["T248", 1, 248]] })
  // Whole hours 10 and 11, read from the hour rollups; no minutes.
  expect(windowRanges(window)).toEqual({
    since: "2024-05-01T10:00:00.000Z",
    headUntil: "2024-05-01T10:00:00.000Z",
    tailFrom: "2024-05-01T12:00:00.000Z",
    until: "2024-05-01T12:00:00.000Z",
    fromHour: "2024-05-01T10:00:00.000Z",
    toHour: "2024-05-01T12:00:00.000Z"
  })
})

describe("window ranges", () => {
  it("split the window's minutes into the partial hours before and after its whole hours, or take them all", () => {
    expect(windowRanges({ since: at("10:05:10"), until: at("12:01:10") })).toEqual({
      since: "2024-05-01T10:05:00.000Z",
      headUntil: "2024-05-01T11:00:00.000Z",
      tailFrom: "2024-05-01T12:00:00.000Z",
      until: "2024-05-01T12:02:00.000Z",
      fromHour: "2024-05-01T11:00:00.000Z",
      toHour: "2024-05-01T12:00:00.000Z"
    })
    // Inside one hour: every minute in the head, none in the tail.
    expect(windowRanges({ since: at("10:05:00"), until: at("10:30:00") })).toMatchObject({
      since: "2024-05-01T10:05:00.000Z",
      headUntil: "2024-05-01T10:30:00.000Z",
      tailFrom: "2024-05-01T11:00:00.000Z",
      until: "2024-05-01T10:30:00.000Z"
    })
    // Open ends: no head before an open start, no tail after an open end.
    expect(windowRanges({ since: at("10:05:00") })).toEqual({
      since: "2024-05-01T10:05:00.000Z",
      headUntil: "2024-05-01T11:00:00.000Z",
      tailFrom: "infinity",
      until: "infinity",
      fromHour: "2024-05-01T11:00:00.000Z",
      toHour: "infinity"
    })
    expect(windowRanges({ until: at("10:05:00") })).toEqual({
      since: "-infinity",
      headUntil: "-infinity",
      tailFrom: "2024-05-01T10:00:00.000Z",
      until: "2024-05-01T10:05:00.000Z",
      fromHour: "-infinity",
      toHour: "2024-05-01T10:00:00.000Z"
    })
  })
})

describe.each([
  [
    "PostgreSQL",
    (body: Effect.Effect<void, unknown, EventWriter | QueryReads>) =>
      Effect.gen(function* () {
        const db = yield* freshStoreDatabase
        yield* body.pipe(Effect.provide(Layer.fresh(storeLayerFromUrl(Redacted.make(db.url)))))
      }).pipe(Effect.scoped)
  ],
  [
    "embedded (PGlite)",
    (body: Effect.Effect<void, unknown, EventWriter | QueryReads>) =>
      Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-walk-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ).pipe(
        Effect.flatMap((dir) => body.pipe(Effect.provide(Layer.fresh(storeLayerEmbedded(dir))))),
        Effect.scoped
      )
  ]
])("a window's walk on %s", (_, withStore) => {
  it.live("proves the page on its second walk when the first meets only queries quiet in the window", () => withStore(ranking), 120_000)
})
