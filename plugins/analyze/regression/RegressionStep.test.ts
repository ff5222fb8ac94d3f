import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../../src/domain/SlowQueryEvent.js"
import { StageError } from "../../../src/plugin/PipelineStage.js"
import type { BatchPlan, BatchTotals } from "../AnalyzeStep.js"
import { overrideProblems } from "../rules/RunRules.js"
import { allRules } from "../config.js"
import { memoryKeysOf, planJsonKeysFor, regressionSettings, regressionStep, regressionsOf } from "../steps/RegressionStep.js"
import type { PlanMemory } from "./PlanChange.js"

const HOUR = 3_600_000
const t0 = Date.UTC(2026, 4, 1, 10, 0)
const h0 = t0 / HOUR
const indexScan = [{ Plan: { "Node Type": "Index Scan" } }]
const seqScan = [{ Plan: { "Node Type": "Seq Scan" } }]

const collected = (queryId: string, atMs: number, ms: number): CollectedEvent => ({
  event: makeEvent({ key: `${queryId}:${atMs}`, startTimeUs: atMs * 1000, queryTimeMs: ms, sqlText: "SELECT 1" }),
  fingerprint: {
    fingerprint: "select ?",
    queryId,
    statementType: "select",
    readOnly: true,
    tables: [],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "libpg_query"
  }
})

const totalsOf = (events: ReadonlyArray<CollectedEvent>): Map<string, BatchTotals> => {
  const totals = new Map<string, BatchTotals>()
  for (const { event, fingerprint } of events) {
    const at = event.startTimeUs / 1000
    const t = totals.get(fingerprint.queryId)
    totals.set(fingerprint.queryId, {
      calls: (t?.calls ?? 0) + event.calls,
      totalMs: (t?.totalMs ?? 0) + event.queryTimeMs,
      firstAt: Math.min(t?.firstAt ?? at, at),
      lastAt: Math.max(t?.lastAt ?? at, at)
    })
  }
  return totals
}

const plan = (hash: string, json: unknown): BatchPlan => ({ plan: json, hash, method: "prepared_generic", capturedAt: new Date(t0) })

// q1: 24 baseline hours at 1 ms, its plan changed at t0 from index to seq scan, 20 calls of 5 ms since. q2: one call.
const events = [...Array.from({ length: 20 }, (_, i) => collected("q1", t0 + i * 60_000, 5)), collected("q2", t0, 1)]
const baseline = Array.from({ length: 24 }, (_, i) => [h0 - 24 + i, 2, 2])
const remembered = new Map<string, unknown>([
  ["plan:q1", { current: { hash: "aaaa", since: t0 - 2 * 24 * HOUR, calls: 48, totalMs: 48 } } satisfies PlanMemory],
  ["plan-json:q1", indexScan],
  ["hourly:q1", { hours: baseline.slice(0, 23) }],
  ["hour:q1", baseline[23]]
])
const batch = { events, plans: new Map([["q1", plan("bbbb", seqScan)]]), totals: totalsOf(events) }
const changed = {
  previous: { hash: "aaaa", since: t0 - 2 * 24 * HOUR, calls: 48, totalMs: 48 },
  current: { hash: "bbbb", since: t0, calls: 20, totalMs: 100 }
}

/** The store as the runtime keeps it: JSON texts by key, with the keys each read asked for. */
const storeOf = (entries: ReadonlyMap<string, unknown>) => {
  const texts = new Map([...entries].map(([key, value]) => [key, JSON.stringify(value)]))
  const reads: Array<ReadonlyArray<string>> = []
  return {
    reads,
    texts,
    memory: {
      get: (keys: ReadonlyArray<string>) =>
        Effect.sync(() => {
          reads.push(keys)
          return new Map(keys.flatMap((key) => (texts.has(key) ? [[key, JSON.parse(texts.get(key)!)] as const] : [])))
        })
    },
    write: (remember: ReadonlyArray<{ readonly key: string; readonly value: unknown }>) => {
      for (const { key, value } of remember) texts.set(key, JSON.stringify(value))
    }
  }
}

describe("the regression step", () => {
  it("examines every query of the batch: all its regressions now, both plans on each, and its memory", () => {
    const output = regressionsOf(batch, remembered, regressionSettings({}))
    expect(output.findings.map((q) => [q.queryId, q.scope, q.findings.map((f) => [f.rule, f.severity, f.plans])])).toEqual([
      [
        "q1",
        "regression",
        [
          ["plan_changed", "crit", { before: indexScan, after: seqScan }],
          ["slower_calls", "crit", { before: indexScan, after: seqScan }]
        ]
      ],
      ["q2", "regression", []]
    ])
    // At the change, both JSONs are written; the hour h0 - 1 closes; q2 has no closed hour yet.
    expect(output.remember).toEqual([
      { key: "plan:q1", value: changed },
      { key: "plan-json:q1", value: seqScan },
      { key: "plan-before:q1", value: indexScan },
      { key: "hourly:q1", value: { hours: baseline } },
      { key: "hour:q1", value: [h0, 20, 100] },
      { key: "hour:q2", value: [h0, 1, 1] }
    ])
  })

  it.effect("reads the small entries first and the plans' JSON after, only where needed; a later batch writes a few bytes per query", () =>
    Effect.gen(function* () {
      const store = storeOf(remembered)
      const step = regressionStep(store.memory, {})
      const view = { ...batch, dialect: "postgres" as const, slowest: new Map(), now: t0 }
      const first = yield* step.run(view, [])
      expect(store.reads).toEqual([
        ["plan:q1", "plan:q2", "hourly:q1", "hour:q1", "hourly:q2", "hour:q2"],
        ["plan-json:q1"]
      ])
      store.write(first.remember)
      // The same hour, no new plan: the counters and the latest hour only; both JSONs read back for the findings.
      const later = [collected("q1", t0 + 30 * 60_000, 5), collected("q2", t0 + 30 * 60_000, 1)]
      const next = yield* step.run({ ...view, events: later, plans: new Map(), totals: totalsOf(later) }, [])
      expect(store.reads.slice(2)).toEqual([
        ["plan:q1", "plan:q2", "hourly:q1", "hour:q1", "hourly:q2", "hour:q2"],
        ["plan-json:q1", "plan-before:q1"]
      ])
      expect(next.remember).toEqual([
        { key: "plan:q1", value: { ...changed, current: { ...changed.current, calls: 21, totalMs: 105 } } },
        { key: "hour:q1", value: [h0, 21, 105] },
        { key: "hour:q2", value: [h0, 2, 2] }
      ])
      expect(next.findings[0]?.findings.map((f) => [f.rule, f.plans])).toEqual([
        ["plan_changed", { before: indexScan, after: seqScan }],
        ["slower_calls", { before: indexScan, after: seqScan }]
      ])
      expect(next.remember.map(({ key, value }) => key.length + JSON.stringify(value).length)).toEqual([154, 22, 19])
      // A query without calls in the batch changes nothing: nothing is written.
      const idle = [{ ...collected("q2", t0 + 40 * 60_000, 0), event: { ...collected("q2", t0 + 40 * 60_000, 0).event, calls: 0 } }]
      const none = yield* step.run({ ...view, events: idle, plans: new Map(), totals: totalsOf(idle) }, [])
      expect(none.remember).toEqual([])
    })
  )

  it("memory of the layout before the split gives the same findings, and is rewritten in the new one", () => {
    const legacy = new Map<string, unknown>([
      ["plan:q1", { current: { hash: "aaaa", plan: indexScan, since: t0 - 2 * 24 * HOUR, calls: 48, totalMs: 48 } }],
      ["hourly:q1", { hours: baseline }]
    ])
    expect(planJsonKeysFor(batch, legacy, regressionSettings({}))).toEqual([])
    const output = regressionsOf(batch, legacy, regressionSettings({}))
    const split = regressionsOf(batch, remembered, regressionSettings({}))
    expect(output.findings).toEqual(split.findings)
    // The old hourly:q1 (24 hours, the latest h0 - 1 among them) is already the closed hours after the batch.
    expect(output.remember).toEqual(split.remember.filter((entry) => entry.key !== "hourly:q1"))
    expect(split.remember.find((entry) => entry.key === "hourly:q1")?.value).toEqual(legacy.get("hourly:q1"))
  })

  it("a disabled rule is neither computed nor remembered, and its findings resolve (the query is still examined)", () => {
    const settings = regressionSettings({ disabled: new Set(["plan_changed"]) })
    expect(memoryKeysOf(batch, settings)).toEqual(["hourly:q1", "hour:q1", "hourly:q2", "hour:q2"])
    expect(planJsonKeysFor(batch, remembered, settings)).toEqual([])
    const output = regressionsOf(batch, remembered, settings)
    expect(output.findings.map((q) => [q.queryId, q.findings.map((f) => [f.rule, f.plans])])).toEqual([
      ["q1", [["slower_calls", undefined]]],
      ["q2", []]
    ])
    expect(output.remember.map((entry) => entry.key)).toEqual(["hourly:q1", "hour:q1", "hour:q2"])
    const none = regressionSettings({ disabled: new Set(["plan_changed", "slower_calls"]) })
    expect(regressionsOf(batch, remembered, none)).toEqual({
      findings: [
        { queryId: "q1", scope: "regression", findings: [] },
        { queryId: "q2", scope: "regression", findings: [] }
      ],
      remember: []
    })
  })

  it.effect("memory that cannot be read leaves the batch unexamined, and never fails it", () =>
    Effect.gen(function* () {
      const step = regressionStep({ get: () => Effect.fail(new StageError({ stage: "analyze", message: "store down" })) }, {})
      const output = yield* step.run({ ...batch, dialect: "postgres", slowest: new Map(), now: t0 }, [])
      expect(output).toEqual({ findings: [], remember: [] })
    })
  )

  it("the pipeline's overrides are checked against the regression rules too", () => {
    expect(overrideProblems(allRules, { disabled: new Set(["plan_changed"]), thresholds: { slower_calls: { factor: 3 } } })).toEqual([])
    expect(overrideProblems(allRules, { thresholds: { slower_calls: { factr: 3 } } })).toEqual([
      'rule "slower_calls" has no threshold "factr" (valid values: factor | recent_hours | baseline_days | min_calls | min_baseline_hours)'
    ])
  })
})
