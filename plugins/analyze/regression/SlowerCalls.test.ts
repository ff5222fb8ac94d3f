import { describe, expect, it } from "@effect/vitest"
import { makeEvent } from "../../../src/domain/SlowQueryEvent.js"
import {
  addEvents,
  figuresOf,
  type HourlyMemory,
  readHourlyMemory,
  slowerCallsFinding,
  slowerCallsThresholds,
  splitHourly
} from "./SlowerCalls.js"

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** 2026-05-01 10:00 UTC, and its hour index. */
const t0 = Date.UTC(2026, 4, 1, 10, 0)
const h0 = t0 / HOUR
const defaults = slowerCallsThresholds({})

let n = 0
/** A slow log event: one call, started at `atMs`. */
const logged = (atMs: number, ms: number) =>
  makeEvent({ key: `e${n++}`, startTimeUs: atMs * 1000, queryTimeMs: ms, sqlText: "SELECT 1" })
/** A pg_stat_statements event: `calls` over [fromMs, toMs), stamped with its end. */
const aggregate = (fromMs: number, toMs: number, calls: number, ms: number) =>
  makeEvent({ key: `a${n++}`, startTimeUs: toMs * 1000, intervalStartUs: fromMs * 1000, calls, queryTimeMs: ms, sqlText: "SELECT 1" })

/** 24 baseline hours before h0 with 2 calls each, 1 ms per call except 3 hours at 3 ms; then `recent` in h0. */
const history = (recent: ReadonlyArray<readonly [calls: number, msPerCall: number]>, baselineHours = 24): HourlyMemory => ({
  hours: [
    ...Array.from({ length: baselineHours }, (_, i): readonly [number, number, number] => {
      const hour = h0 - baselineHours + i
      return [hour, 2, i < 3 ? 6 : 2]
    }),
    ...recent.map(([calls, perCall]): readonly [number, number, number] => [h0, calls, calls * perCall])
  ]
})

describe("slower_calls: hourly buckets", () => {
  it("a log event counts in the hour it started", () => {
    const memory = addEvents(undefined, [logged(t0 + 5 * 60_000, 2), logged(t0 + 59 * 60_000, 4), logged(t0 - 1, 1)], defaults)
    expect(memory).toEqual({ hours: [[h0 - 1, 1, 1], [h0, 2, 6]] })
  })

  it("an aggregate is spread over the hours of its interval by overlap; one ending on the hour stays before it", () => {
    const memory = addEvents(
      undefined,
      [aggregate(t0 - 30 * 60_000, t0 + 30 * 60_000, 60, 120), aggregate(t0 - HOUR, t0, 10, 10)],
      defaults
    )
    expect(memory).toEqual({ hours: [[h0 - 1, 40, 70], [h0, 30, 60]] })
  })

  it("keeps only the recent window and the baseline before it; a cumulative first snapshot counts for those hours only", () => {
    // 30 days of 720 calls (1 per hour) ending at t0 + 1h: the 169 hours kept get one call each.
    const memory = addEvents(undefined, [aggregate(t0 + HOUR - 30 * DAY, t0 + HOUR, 720, 720)], defaults)
    expect(memory.hours.length).toBe(169)
    expect(memory.hours[0]).toEqual([h0 - 168, 1, 1])
    expect(memory.hours.at(-1)).toEqual([h0, 1, 1])
    // A week later, the older hours are dropped, and an event older than what is kept is not counted.
    const later = addEvents(memory, [logged(t0 + 7 * DAY, 3), logged(t0 - 10 * DAY, 3)], defaults)
    expect(later.hours[0]).toEqual([h0, 1, 1])
    expect(later.hours.at(-1)).toEqual([h0 + 168, 1, 3])
    expect(later.hours.length).toBe(2)
  })

  it("adds to the remembered hours and reads back only what it wrote", () => {
    const memory = addEvents({ hours: [[h0, 2, 4]] }, [logged(t0 + 1000, 6)], defaults)
    expect(memory).toEqual({ hours: [[h0, 3, 10]] })
    expect(readHourlyMemory(JSON.parse(JSON.stringify(memory)))).toEqual(memory)
    expect(readHourlyMemory({ hours: [["x", 1, 2]] })).toBeUndefined()
  })

  it("is stored as the closed hours and the latest one, and read back as the same hours", () => {
    const memory: HourlyMemory = { hours: [[h0 - 2, 1, 1], [h0 - 1, 2, 4], [h0, 3, 9]] }
    const { closed, latest } = splitHourly(memory)
    expect([closed, latest]).toEqual([{ hours: [[h0 - 2, 1, 1], [h0 - 1, 2, 4]] }, [h0, 3, 9]])
    expect(readHourlyMemory(JSON.parse(JSON.stringify(closed)), JSON.parse(JSON.stringify(latest)))).toEqual(memory)
    expect(readHourlyMemory(undefined, [h0, 3, 9])).toEqual({ hours: [[h0, 3, 9]] })
    expect(splitHourly({ hours: [[h0, 3, 9]] })).toEqual({ closed: { hours: [] }, latest: [h0, 3, 9] })
    // The layout before the split: hourly: with the latest hour in it, no hour:. A latest hour not after the closed
    // ones is stale and left out.
    expect(readHourlyMemory(memory, undefined)).toEqual(memory)
    expect(readHourlyMemory(memory, [h0 - 1, 5, 5])).toEqual(memory)
    expect(readHourlyMemory(closed, ["x", 1, 1])).toEqual(closed)
  })
})

describe("slower_calls: the finding", () => {
  it("5 ms per call in the last hour against a median of 1 ms over 24 baseline hours: crit, with both figures", () => {
    const memory = history([[25, 5]])
    expect(figuresOf(memory, defaults)).toEqual({
      recentFrom: t0,
      recentTo: t0 + HOUR,
      recentCalls: 25,
      recentMean: 5,
      baselineFrom: t0 - 7 * DAY,
      baselineHours: 24,
      baselineMedian: 1
    })
    expect(slowerCallsFinding(memory, defaults)).toEqual({
      rule: "slower_calls",
      severity: "crit",
      message: "5 ms per call in the last hour (25 calls), 5.0× its median hourly mean of 1 ms over the 7 days before (24 hours with calls)",
      evidence:
        "2026-05-01 10:00 UTC to 2026-05-01 11:00 UTC: 25 calls, 5 ms per call; 2026-04-24 10:00 UTC to 2026-05-01 10:00 UTC: median hourly mean 1 ms over 24 hours",
      advice:
        "Find what changed when it slowed down: its plan, the rows it reads (data growth, statistics not refreshed), locks or load from other queries; compare its plan and rows examined with the earlier ones",
      source: "regression",
      reduction: 0.8
    })
  })

  it("warn from factor × the median, crit from twice that; plans when given", () => {
    const plans = { before: [{ Plan: { "Node Type": "Index Scan" } }], after: [{ Plan: { "Node Type": "Seq Scan" } }] }
    const finding = slowerCallsFinding(history([[20, 2]]), defaults, plans)
    expect([finding?.severity, finding?.reduction, finding?.plans]).toEqual(["warn", 0.5, plans])
    expect(finding?.message).toBe(
      "2 ms per call in the last hour (20 calls), 2.0× its median hourly mean of 1 ms over the 7 days before (24 hours with calls)"
    )
    expect(slowerCallsFinding(history([[20, 3.99]]), defaults)?.severity).toBe("warn")
    expect(slowerCallsFinding(history([[20, 4]]), defaults)?.severity).toBe("crit")
  })

  it("near misses: below the factor, too few recent calls, too few baseline hours", () => {
    expect(slowerCallsFinding(history([[25, 1.99]]), defaults)).toBeUndefined()
    expect(slowerCallsFinding(history([[19, 5]]), defaults)).toBeUndefined()
    expect(slowerCallsFinding(history([[25, 5]], 23), defaults)).toBeUndefined()
    expect(slowerCallsFinding(history([]), defaults)).toBeUndefined()
  })

  it("the mean of a window is its time over its calls, not the mean of its events' means", () => {
    // One aggregate of 19 calls at 1 ms and one slow call of 101 ms in the recent hour: 120 ms / 20 calls = 6 ms.
    const memory = addEvents(history([]), [aggregate(t0, t0 + 60_000, 19, 19), logged(t0 + 120_000, 101)], defaults)
    expect(figuresOf(memory, defaults)?.recentMean).toBe(6)
    expect(slowerCallsFinding(memory, defaults)?.message).toBe(
      "6 ms per call in the last hour (20 calls), 6.0× its median hourly mean of 1 ms over the 7 days before (24 hours with calls)"
    )
  })

  it("thresholds from the pipeline: factor, recent_hours, baseline_days, min_calls, min_baseline_hours", () => {
    const strict = slowerCallsThresholds({ thresholds: { slower_calls: { factor: 6 } } })
    expect(slowerCallsFinding(history([[25, 5]]), strict)).toBeUndefined()
    const few = slowerCallsThresholds({ thresholds: { slower_calls: { min_calls: 5, min_baseline_hours: 10 } } })
    expect(slowerCallsFinding(history([[5, 5]], 10), few)?.severity).toBe("crit")
    // Two recent hours: h0 - 1 (2 calls at 1 ms) joins the window, and the baseline is one day.
    const twoHours = slowerCallsThresholds({ thresholds: { slower_calls: { recent_hours: 2, baseline_days: 1, min_baseline_hours: 20 } } })
    expect(twoHours).toEqual({ factor: 2, recentHours: 2, baselineHours: 24, minCalls: 20, minBaselineHours: 20 })
    expect(slowerCallsFinding(history([[25, 5]]), twoHours)?.message).toBe(
      "4.7 ms per call in the last 2 hours (27 calls), 4.7× its median hourly mean of 1 ms over the 1 day before (23 hours with calls)"
    )
  })
})
