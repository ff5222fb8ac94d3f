import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../../src/domain/SlowQueryEvent.js"
import { StageError } from "../../../src/plugin/PipelineStage.js"
import type { BatchPlan, BatchTotals } from "../AnalyzeStep.js"
import { overrideProblems } from "../rules/RunRules.js"
import { allRules } from "../config.js"
import { memoryKeysOf, regressionSettings, regressionStep, regressionsOf } from "../steps/RegressionStep.js"
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
const remembered = new Map<string, unknown>([
  ["plan:q1", { current: { hash: "aaaa", plan: indexScan, since: t0 - 2 * 24 * HOUR, calls: 48, totalMs: 48 } } satisfies PlanMemory],
  ["hourly:q1", { hours: Array.from({ length: 24 }, (_, i) => [h0 - 24 + i, 2, 2]) }]
])
const batch = { events, plans: new Map([["q1", plan("bbbb", seqScan)]]), totals: totalsOf(events) }

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
    expect(output.remember).toEqual([
      {
        key: "plan:q1",
        value: {
          previous: { hash: "aaaa", plan: indexScan, since: t0 - 2 * 24 * HOUR, calls: 48, totalMs: 48 },
          current: { hash: "bbbb", plan: seqScan, since: t0, calls: 20, totalMs: 100 }
        }
      },
      { key: "hourly:q1", value: { hours: [...Array.from({ length: 24 }, (_, i) => [h0 - 24 + i, 2, 2]), [h0, 20, 100]] } },
      { key: "hourly:q2", value: { hours: [[h0, 1, 1]] } }
    ])
  })

  it("a disabled rule is neither computed nor remembered, and its findings resolve (the query is still examined)", () => {
    const settings = regressionSettings({ disabled: new Set(["plan_changed"]) })
    expect(memoryKeysOf(batch, settings)).toEqual(["hourly:q1", "hourly:q2"])
    const output = regressionsOf(batch, remembered, settings)
    expect(output.findings.map((q) => [q.queryId, q.findings.map((f) => [f.rule, f.plans])])).toEqual([
      ["q1", [["slower_calls", undefined]]],
      ["q2", []]
    ])
    expect(output.remember.map((entry) => entry.key)).toEqual(["hourly:q1", "hourly:q2"])
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
