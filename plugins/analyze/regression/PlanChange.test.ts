import { describe, expect, it } from "@effect/vitest"
import {
  advancePlan,
  type PlanMemory,
  type PlanState,
  planChangedThresholds,
  planJsonKeysOf,
  readPlanState
} from "./PlanChange.js"

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** 2026-05-01 10:00 UTC */
const t0 = Date.UTC(2026, 4, 1, 10, 0)

const indexScan = [{ Plan: { "Node Type": "Index Scan", "Relation Name": "orders", "Index Name": "orders_customer" } }]
const seqScan = [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "orders" } }]
const defaults = planChangedThresholds({})
const batch = (calls: number, totalMs: number, at: number) => ({ calls, totalMs, firstAt: at, lastAt: at + 60_000 })

const changeMemory: PlanMemory = {
  previous: { hash: "aaaa1111", since: t0 - 3 * DAY, calls: 100, totalMs: 50 },
  current: { hash: "bbbb2222", since: t0, calls: 10, totalMs: 20 }
}
const stateOf = (memory: PlanMemory, current: unknown = seqScan, before: unknown = indexScan): PlanState => ({
  memory,
  jsons: { current, before: memory.previous === undefined ? undefined : before },
  legacy: false
})
const afterChange = stateOf(changeMemory)
const nothingWritten = { current: false, before: false }

describe("plan_changed", () => {
  it("remembers the first plan seen with the batch's figures, and finds nothing", () => {
    const step = advancePlan(undefined, { hash: "aaaa1111", plan: indexScan }, batch(100, 50, t0 - 3 * DAY), defaults)
    expect(step).toEqual({
      state: stateOf({ current: { hash: "aaaa1111", since: t0 - 3 * DAY, calls: 100, totalMs: 50 } }, indexScan),
      changed: { current: true, before: false },
      finding: undefined
    })
  })

  it("knows nothing of a query no plan was ever given to", () => {
    expect(advancePlan(undefined, undefined, batch(5, 5, t0), defaults)).toEqual({
      state: undefined,
      changed: nothingWritten,
      finding: undefined
    })
  })

  it("adds a batch to the current plan when the hash is the same or no plan came; the plan's JSON is not rewritten", () => {
    const first = advancePlan(undefined, { hash: "aaaa1111", plan: indexScan }, batch(100, 50, t0), defaults)
    const again = advancePlan(first.state, undefined, batch(20, 12, t0 + HOUR), defaults)
    // Same shape, other costs: the JSON first seen with the hash stays.
    const recosted = [{ Plan: { ...indexScan[0]!.Plan, "Total Cost": 8.3 } }]
    const same = advancePlan(again.state, { hash: "aaaa1111", plan: recosted }, batch(1, 0.5, t0 + 2 * HOUR), defaults)
    expect(same).toEqual({
      state: stateOf({ current: { hash: "aaaa1111", since: t0, calls: 121, totalMs: 62.5 } }, indexScan),
      changed: nothingWritten,
      finding: undefined
    })
  })

  it("a new hash: both plans, both hashes, the old mean and the new plan's first figures; crit at 2× and more", () => {
    const before = advancePlan(undefined, { hash: "aaaa1111", plan: indexScan }, batch(100, 50, t0 - 3 * DAY), defaults)
    const step = advancePlan(before.state, { hash: "bbbb2222", plan: seqScan }, batch(10, 20, t0), defaults)
    expect([step.state, step.changed]).toEqual([afterChange, { current: true, before: true }])
    expect(step.finding).toEqual({
      rule: "plan_changed",
      severity: "crit",
      message:
        "Plan changed at 2026-05-01 10:00 UTC: 0.5 ms per call under the old plan (100 calls), 2 ms per call under the new plan (10 calls): 4.0× slower",
      evidence: "plan aaaa1111 → bbbb2222",
      advice:
        "Compare the two plans; if the new one is slower, give back what the old one used: recreate a dropped index, ANALYZE tables whose statistics moved, revert the schema or setting changed at that time",
      source: "regression",
      subject: "aaaa1111→bbbb2222",
      plans: { before: indexScan, after: seqScan },
      reduction: 0.75
    })
  })

  it("later batches update the new plan's figures, and the severity with them", () => {
    const step = advancePlan(afterChange, undefined, batch(30, 5, t0 + HOUR), defaults)
    // 40 calls, 25 ms: 0.625 ms per call, 1.25× the old 0.5 ms.
    expect(step.state?.memory.current).toEqual({ hash: "bbbb2222", since: t0, calls: 40, totalMs: 25 })
    expect([step.changed, step.finding?.plans]).toEqual([nothingWritten, { before: indexScan, after: seqScan }])
    expect(step.finding?.severity).toBe("warn")
    expect(step.finding?.message).toBe(
      "Plan changed at 2026-05-01 10:00 UTC: 0.5 ms per call under the old plan (100 calls), 0.625 ms per call under the new plan (40 calls): 1.3× slower"
    )
    expect(step.finding?.reduction).toBeCloseTo(0.2, 12)
  })

  it("a faster new plan is info (news, not a problem) with nothing to win back", () => {
    const faster = stateOf({ ...changeMemory, current: { ...changeMemory.current, calls: 50, totalMs: 5 } })
    const step = advancePlan(faster, undefined, batch(50, 5, t0 + HOUR), defaults)
    expect(step.finding?.severity).toBe("info")
    expect(step.finding?.reduction).toBe(0)
    expect(step.finding?.message).toBe(
      "Plan changed at 2026-05-01 10:00 UTC: 0.5 ms per call under the old plan (100 calls), 0.1 ms per call under the new plan (100 calls): 5.0× faster"
    )
  })

  it("the reduction is bounded to 95%", () => {
    const slow = stateOf({ ...changeMemory, current: { ...changeMemory.current, calls: 1, totalMs: 1000 } })
    expect(advancePlan(slow, undefined, batch(0, 0, t0), defaults).finding?.reduction).toBe(0.95)
  })

  it("no calls measured under the old plan: said so, warn, reduction 0", () => {
    const none = stateOf({ ...changeMemory, previous: { ...changeMemory.previous!, calls: 0, totalMs: 0 } })
    const finding = advancePlan(none, undefined, batch(0, 0, t0), defaults).finding
    expect(finding?.message).toBe(
      "Plan changed at 2026-05-01 10:00 UTC: no calls measured under the old plan, 2 ms per call under the new plan (10 calls)"
    )
    expect([finding?.severity, finding?.reduction]).toEqual(["warn", 0])
  })

  it("stays open for open_days after the change by the events' times, then resolves and forgets the old plan", () => {
    const justBefore = advancePlan(afterChange, undefined, { calls: 1, totalMs: 2, firstAt: t0 + 7 * DAY - 1, lastAt: t0 + 7 * DAY - 1 }, defaults)
    expect(justBefore.finding?.rule).toBe("plan_changed")
    const at = advancePlan(afterChange, undefined, { calls: 1, totalMs: 2, firstAt: t0 + 7 * DAY, lastAt: t0 + 7 * DAY }, defaults)
    // The plan before is written as null: its JSON is not needed any more.
    expect(at).toEqual({
      state: stateOf({ current: { hash: "bbbb2222", since: t0, calls: 11, totalMs: 22 } }),
      changed: { current: false, before: true },
      finding: undefined
    })
  })

  it("a change back to the old plan is a new change, from the newer plan", () => {
    const back = advancePlan(afterChange, { hash: "aaaa1111", plan: indexScan }, batch(4, 2, t0 + DAY), defaults)
    expect(back.state).toEqual(
      stateOf({ previous: changeMemory.current, current: { hash: "aaaa1111", since: t0 + DAY, calls: 4, totalMs: 2 } }, indexScan, seqScan)
    )
    expect([back.changed, back.finding?.plans]).toEqual([{ current: true, before: true }, { before: seqScan, after: indexScan }])
    expect(back.finding?.subject).toBe("bbbb2222→aaaa1111")
    expect(back.finding?.message).toBe(
      "Plan changed at 2026-05-02 10:00 UTC: 2 ms per call under the old plan (10 calls), 0.5 ms per call under the new plan (4 calls): 4.0× faster"
    )
  })

  it("thresholds from the pipeline: crit_factor and open_days", () => {
    const lenient = planChangedThresholds({ thresholds: { plan_changed: { crit_factor: 5, open_days: 1 } } })
    expect(lenient).toEqual({ critFactor: 5, openMs: DAY })
    expect(advancePlan(afterChange, undefined, batch(0, 0, t0), lenient).finding?.severity).toBe("warn")
    expect(advancePlan(afterChange, undefined, batch(0, 0, t0 + DAY), lenient).finding).toBeUndefined()
  })

  it("reads back what it wrote: the figures, and the JSONs from their own keys (null: absent); another shape starts afresh", () => {
    const stored = JSON.parse(JSON.stringify(changeMemory))
    expect(readPlanState(stored, seqScan, indexScan)).toEqual(afterChange)
    expect(readPlanState({ current: changeMemory.current }, seqScan, null)).toEqual(stateOf({ current: changeMemory.current }))
    expect(readPlanState({ hash: "aaaa1111" }, seqScan, undefined)).toBeUndefined()
    expect(readPlanState(undefined, seqScan, indexScan)).toBeUndefined()
  })

  it("reads the layout before the split (plan: with each period's JSON) with nothing lost, and writes its JSONs to their keys", () => {
    const legacy = {
      previous: { ...changeMemory.previous!, plan: indexScan },
      current: { ...changeMemory.current, plan: seqScan }
    }
    const state = readPlanState(legacy, undefined, undefined)
    expect(state).toEqual({ ...afterChange, legacy: true })
    expect(planJsonKeysOf("q1", legacy, { hash: "cccc3333" })).toEqual([])
    const step = advancePlan(state, undefined, batch(30, 5, t0 + HOUR), defaults)
    expect([step.state?.legacy, step.changed, step.finding?.plans]).toEqual([
      false,
      { current: true, before: true },
      { before: indexScan, after: seqScan }
    ])
  })

  it("the JSONs are read only for a query whose plan changes in the batch or whose change is reported", () => {
    const one = { current: changeMemory.current }
    expect(planJsonKeysOf("q1", one, undefined)).toEqual([])
    expect(planJsonKeysOf("q1", one, { hash: "bbbb2222" })).toEqual([])
    expect(planJsonKeysOf("q1", one, { hash: "cccc3333" })).toEqual(["plan-json:q1"])
    expect(planJsonKeysOf("q1", changeMemory, undefined)).toEqual(["plan-json:q1", "plan-before:q1"])
    expect(planJsonKeysOf("q1", undefined, { hash: "cccc3333" })).toEqual([])
  })
})
