import { Option, Schema } from "effect"
import type { SlowQueryEvent } from "../../../src/domain/SlowQueryEvent.js"
import type { Finding, FindingPlans } from "../../../src/plugin/Finding.js"
import type { RuleOverrides } from "../rules/RunRules.js"
import {
  formatCalls,
  formatInstant,
  formatMs,
  formatRatio,
  HOUR_MS,
  type RegressionRule,
  regressionFinding,
  regressionReduction,
  thresholdOf
} from "./Regression.js"

// `slower_calls`: a query whose mean time per call in its latest hour(s) is `factor` times its usual one, the median
// of its hourly means over the `baseline_days` before. The memory keeps per query the calls and time of each hour
// (by the events' own times, so history read late — a slow log file of last week — lands in its own hours), bounded
// to the hours the rule looks at; the closed hours apart from the latest one, so that they are written only when
// they change.
//
// A log event (calls = 1) counts in the hour it started. An aggregate (pg_stat_statements: calls summed over an
// interval that ends at `startTimeUs`) is spread over the hours of its interval in proportion to the overlap: its
// mean per call is all that is known of any part of it, and the hour its snapshot was taken in would otherwise get
// calls made long before (a first snapshot is cumulative since the statistics were reset).

export const slowerCallsRule: RegressionRule<{
  readonly factor: number
  readonly recent_hours: number
  readonly baseline_days: number
  readonly min_calls: number
  readonly min_baseline_hours: number
}> = {
  id: "slower_calls",
  severity: "warn",
  description:
    "The query's mean time per call in its latest hour(s) is at least `factor` times the median of its hourly means over the days before.",
  thresholds: { factor: 2, recent_hours: 1, baseline_days: 7, min_calls: 20, min_baseline_hours: 24 }
}

export interface SlowerCallsThresholds {
  readonly factor: number
  /** The recent window, whole hours ending with the query's latest hour. */
  readonly recentHours: number
  /** The baseline, whole hours before the recent window. */
  readonly baselineHours: number
  readonly minCalls: number
  readonly minBaselineHours: number
}

export const slowerCallsThresholds = (overrides: RuleOverrides): SlowerCallsThresholds => ({
  factor: thresholdOf(slowerCallsRule, overrides, "factor"),
  recentHours: Math.max(1, Math.round(thresholdOf(slowerCallsRule, overrides, "recent_hours"))),
  baselineHours: Math.max(1, Math.round(thresholdOf(slowerCallsRule, overrides, "baseline_days") * 24)),
  minCalls: thresholdOf(slowerCallsRule, overrides, "min_calls"),
  minBaselineHours: thresholdOf(slowerCallsRule, overrides, "min_baseline_hours")
})

/** Per hour (epoch ms / 1h, floored): calls and total time. */
const Hour = Schema.Tuple(Schema.Int, Schema.Number, Schema.Number)
export type Hour = typeof Hour.Type

/** The query's hours the rule looks at, in hour order; the last one is the latest hour, still open to more calls. */
export const HourlyMemory = Schema.Struct({ hours: Schema.Array(Hour) })
export type HourlyMemory = typeof HourlyMemory.Type

const decodeHourly = Schema.decodeUnknownOption(HourlyMemory)
const decodeHour = Schema.decodeUnknownOption(Hour)

// Stored in two entries, so that a batch rewrites a few bytes per query rather than the 169 hours (~3 KB):
// `hourly:<query id>` the closed hours (all but the latest), rewritten when they change, that is when an hour
// closes (at most once an hour) or a late event lands in a closed hour; `hour:<query id>` the latest hour,
// `[hour, calls, time]`, rewritten on each batch with calls. A store written before this split has `hourly:` with
// the latest hour in it and no `hour:`: it reads as the same hours, and its first batch rewrites both.
export const hourlyMemoryKey = (queryId: string) => `hourly:${queryId}`
export const hourMemoryKey = (queryId: string) => `hour:${queryId}`

/**
 * The query's hours from the values of `hourly:` and `hour:`; undefined when neither holds a known shape. A latest
 * hour not after the closed ones is left out: it can only be stale (an `hour:` left behind by a newer slowq that an
 * older one did not update).
 */
export const readHourlyMemory = (closedValue: unknown, latestValue?: unknown): HourlyMemory | undefined => {
  const closed = closedValue === undefined ? undefined : Option.getOrUndefined(decodeHourly(closedValue))
  const latest = latestValue === undefined ? undefined : Option.getOrUndefined(decodeHour(latestValue))
  if (latest === undefined) return closed
  const hours = closed?.hours ?? []
  const last = hours.at(-1)?.[0]
  return last !== undefined && latest[0] <= last ? { hours } : { hours: [...hours, latest] }
}

/** What to store of the hours: the closed ones (`hourly:`) and the latest (`hour:`). */
export const splitHourly = (memory: HourlyMemory): { readonly closed: HourlyMemory; readonly latest: Hour | undefined } => ({
  closed: { hours: memory.hours.slice(0, -1) },
  latest: memory.hours.at(-1)
})

interface Bucket {
  calls: number
  totalMs: number
}

type Timed = Pick<SlowQueryEvent, "startTimeUs" | "intervalStartUs" | "calls" | "queryTimeMs">

const intervalOf = (event: Timed): readonly [start: number, end: number] => {
  const end = event.startTimeUs / 1000
  return [event.intervalStartUs === null ? end : Math.min(end, event.intervalStartUs / 1000), end]
}

/** The last hour holding part of the event: an interval ending on the hour does not reach the next one. */
const lastHourOf = (event: Timed): number => {
  const [start, end] = intervalOf(event)
  return start === end ? Math.floor(end / HOUR_MS) : Math.ceil(end / HOUR_MS) - 1
}

/** The hours from `first` on that an event's calls fall in, with the share of them in each: one hour for a log event. */
const sharesOf = (event: Timed, first: number): ReadonlyArray<readonly [hour: number, share: number]> => {
  const [start, end] = intervalOf(event)
  if (start === end) return [[Math.floor(end / HOUR_MS), 1]]
  const shares: Array<readonly [number, number]> = []
  const last = lastHourOf(event)
  for (let hour = Math.max(first, Math.floor(start / HOUR_MS)); hour <= last; hour++) {
    const overlap = Math.min(end, (hour + 1) * HOUR_MS) - Math.max(start, hour * HOUR_MS)
    if (overlap > 0) shares.push([hour, overlap / (end - start)])
  }
  return shares
}

/** Rounded so that the memory stays small; far below what a mean per call could show. */
const round = (value: number) => Math.round(value * 1e4) / 1e4

/**
 * The query's hours after a batch of its events: the remembered ones plus the events', keeping only the hours the
 * rule looks at (the recent window and the baseline before it, ending with the latest hour known). Events older
 * than that are not counted.
 */
export const addEvents = (
  remembered: HourlyMemory | undefined,
  events: ReadonlyArray<Timed>,
  thresholds: SlowerCallsThresholds
): HourlyMemory => {
  const buckets = new Map<number, Bucket>()
  for (const [hour, calls, totalMs] of remembered?.hours ?? []) buckets.set(hour, { calls, totalMs })
  const counted = events.filter((event) => event.calls > 0)
  let latest = -Infinity
  for (const hour of buckets.keys()) latest = Math.max(latest, hour)
  for (const event of counted) latest = Math.max(latest, lastHourOf(event))
  const first = latest - thresholds.recentHours - thresholds.baselineHours + 1
  for (const event of counted) {
    for (const [hour, share] of sharesOf(event, first)) {
      if (hour < first) continue
      const bucket = buckets.get(hour) ?? { calls: 0, totalMs: 0 }
      bucket.calls += event.calls * share
      bucket.totalMs += event.queryTimeMs * share
      buckets.set(hour, bucket)
    }
  }
  const hours = [...buckets]
    .filter(([hour]) => hour >= first)
    .sort(([a], [b]) => a - b)
    .map(([hour, { calls, totalMs }]): readonly [number, number, number] => [hour, round(calls), round(totalMs)])
  return { hours }
}

/** The figures `slower_calls` compares. */
export interface SlowerCallsFigures {
  /** First hour of the recent window and the hour after it (epoch ms). */
  readonly recentFrom: number
  readonly recentTo: number
  readonly recentCalls: number
  readonly recentMean: number
  /** First hour of the baseline (epoch ms); it ends where the recent window starts. */
  readonly baselineFrom: number
  /** Hours of the baseline with calls, and the median of their means. */
  readonly baselineHours: number
  readonly baselineMedian: number
}

const median = (sorted: ReadonlyArray<number>): number => {
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The recent window's mean and the baseline's median hourly mean; undefined when there are no calls to compare. */
export const figuresOf = (memory: HourlyMemory, thresholds: SlowerCallsThresholds): SlowerCallsFigures | undefined => {
  const latest = memory.hours.at(-1)?.[0]
  if (latest === undefined) return undefined
  const recentFirst = latest - thresholds.recentHours + 1
  const baselineFirst = recentFirst - thresholds.baselineHours
  let recentCalls = 0
  let recentMs = 0
  const means: Array<number> = []
  for (const [hour, calls, totalMs] of memory.hours) {
    if (hour >= recentFirst) {
      recentCalls += calls
      recentMs += totalMs
    } else if (hour >= baselineFirst && calls > 0) means.push(totalMs / calls)
  }
  if (recentCalls <= 0 || means.length === 0) return undefined
  return {
    recentFrom: recentFirst * HOUR_MS,
    recentTo: (latest + 1) * HOUR_MS,
    recentCalls,
    recentMean: recentMs / recentCalls,
    baselineFrom: baselineFirst * HOUR_MS,
    baselineHours: means.length,
    baselineMedian: median(means.sort((a, b) => a - b))
  }
}

/**
 * The finding when the recent window has `min_calls` calls, the baseline `min_baseline_hours` hours with calls, and
 * the recent mean is at least `factor` times the baseline's median; crit from twice that factor. `plans`: the plans
 * before and after a plan change that happened in the compared time, when there was one.
 */
export const slowerCallsFinding = (
  memory: HourlyMemory,
  thresholds: SlowerCallsThresholds,
  plans?: typeof FindingPlans.Type
): Finding | undefined => {
  const figures = figuresOf(memory, thresholds)
  if (figures === undefined) return undefined
  const { recentCalls, recentMean, baselineHours, baselineMedian } = figures
  if (recentCalls < thresholds.minCalls || baselineHours < thresholds.minBaselineHours || baselineMedian <= 0) return undefined
  const ratio = recentMean / baselineMedian
  if (ratio < thresholds.factor) return undefined
  const window = thresholds.recentHours === 1 ? "the last hour" : `the last ${thresholds.recentHours} hours`
  const days = thresholds.baselineHours / 24
  const baseline = Number.isInteger(days) ? `${days} day${days === 1 ? "" : "s"}` : `${thresholds.baselineHours} hours`
  return regressionFinding({
    rule: slowerCallsRule.id,
    severity: ratio >= 2 * thresholds.factor ? "crit" : "warn",
    message:
      `${formatMs(recentMean)} per call in ${window} (${formatCalls(recentCalls)} calls), ${formatRatio(ratio)} its median ` +
      `hourly mean of ${formatMs(baselineMedian)} over the ${baseline} before (${baselineHours} hours with calls)`,
    evidence:
      `${formatInstant(figures.recentFrom)} to ${formatInstant(figures.recentTo)}: ${formatCalls(recentCalls)} calls, ` +
      `${formatMs(recentMean)} per call; ${formatInstant(figures.baselineFrom)} to ${formatInstant(figures.recentFrom)}: ` +
      `median hourly mean ${formatMs(baselineMedian)} over ${baselineHours} hours`,
    advice:
      "Find what changed when it slowed down: its plan, the rows it reads (data growth, statistics not refreshed), locks or load from other queries; compare its plan and rows examined with the earlier ones",
    ...(plans === undefined ? {} : { plans }),
    reduction: regressionReduction(baselineMedian, recentMean)
  })
}

/** The hours the rule looks at: from the first baseline hour to the end of the latest hour (epoch ms). */
export const comparedSpan = (memory: HourlyMemory, thresholds: SlowerCallsThresholds): readonly [number, number] | undefined => {
  const latest = memory.hours.at(-1)?.[0]
  return latest === undefined
    ? undefined
    : [(latest - thresholds.recentHours - thresholds.baselineHours + 1) * HOUR_MS, (latest + 1) * HOUR_MS]
}
