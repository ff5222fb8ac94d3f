/**
 * npm run bench:regression-memory [-- QUERIES [BATCHES]]   (default 5000 queries, 122 batches)
 *
 * What the regression step of the analyze stage writes to the store per batch: the bytes of its memory entries
 * (key + JSON value, as upserted into slowq_stage_memory), for a pg_stat_statements pipeline polled every minute in
 * which every query has calls in every poll. The step runs as in the stage, over a store simulated by a map of JSON
 * texts. The first poll is a cumulative snapshot (30 days: the hours the rule keeps get filled); every query comes
 * with a real PostgreSQL 15 plan (EXPLAIN (FORMAT JSON) of a three-table join, 2.3 KB), explained again every hour
 * (the explain stage's default explain_ttl) with the same shape; 1 % of the queries change plan at the 30th poll.
 * Prints the first batch, the steady batches (median and max), the batches an hour closes in, and the total.
 */
import { Effect } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import type { MemoryEntry } from "../../src/plugin/PipelineStage.js"
import type { StageMemory } from "../../src/plugin/StageMemory.js"
import type { BatchPlan, BatchTotals, BatchView } from "../../plugins/analyze/AnalyzeStep.js"
import { regressionStep } from "../../plugins/analyze/steps/RegressionStep.js"

const queries = Number(process.argv[2] ?? 5000)
const batches = Number(process.argv[3] ?? 122)

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
/** The first poll: 2026-05-01 10:00:30 UTC, so that hours close at the 60th and 120th polls after it. */
const t0 = Date.UTC(2026, 4, 1, 10, 0, 30)

// EXPLAIN (FORMAT JSON) on the local PostgreSQL 15 of a join of customers, orders and items (generic plan).
const realPlan: unknown = [{"Plan":{"Node Type":"Limit","Parallel Aware":false,"Async Capable":false,"Startup Cost":5329.88,"Total Cost":5329.93,"Plan Rows":20,"Plan Width":45,"Plans":[{"Node Type":"Sort","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Startup Cost":5329.88,"Total Cost":5354.88,"Plan Rows":10000,"Plan Width":45,"Sort Key":["(sum(o.total)) DESC"],"Plans":[{"Node Type":"Aggregate","Strategy":"Hashed","Partial Mode":"Simple","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Startup Cost":4938.78,"Total Cost":5063.78,"Plan Rows":10000,"Plan Width":45,"Group Key":["c.name"],"Planned Partitions":0,"Plans":[{"Node Type":"Hash Join","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Join Type":"Inner","Startup Cost":2124.0,"Total Cost":4190.13,"Plan Rows":99820,"Plan Width":9,"Inner Unique":true,"Hash Cond":"(o.customer = c.id)","Plans":[{"Node Type":"Hash Join","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Join Type":"Inner","Startup Cost":1819.0,"Total Cost":3622.52,"Plan Rows":100000,"Plan Width":8,"Inner Unique":true,"Hash Cond":"(i.order_id = o.id)","Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Relation Name":"items","Alias":"i","Startup Cost":0.0,"Total Cost":1541.0,"Plan Rows":100000,"Plan Width":4},{"Node Type":"Hash","Parent Relationship":"Inner","Parallel Aware":false,"Async Capable":false,"Startup Cost":1194.0,"Total Cost":1194.0,"Plan Rows":50000,"Plan Width":12,"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Relation Name":"orders","Alias":"o","Startup Cost":0.0,"Total Cost":1194.0,"Plan Rows":50000,"Plan Width":12,"Filter":"(created > (now() - '7 days'::interval))"}]}]},{"Node Type":"Hash","Parent Relationship":"Inner","Parallel Aware":false,"Async Capable":false,"Startup Cost":180.0,"Total Cost":180.0,"Plan Rows":10000,"Plan Width":9,"Plans":[{"Node Type":"Seq Scan","Parent Relationship":"Outer","Parallel Aware":false,"Async Capable":false,"Relation Name":"customers","Alias":"c","Startup Cost":0.0,"Total Cost":180.0,"Plan Rows":10000,"Plan Width":9,"Filter":"(country = 'FR'::text)"}]}]}]}]}]}}]

/** Each query's plan: the real one with its own numbers, so that no two are the same text. */
const planOf = (query: number, shape: number): unknown =>
  JSON.parse(JSON.stringify(realPlan).replaceAll('"Plan Width":45', `"Plan Width":${45 + query}`).replaceAll("orders_customer_idx", `orders_customer_idx${shape}`))

const hashOf = (query: number, shape: number) => (query * 1000 + shape).toString(16).padStart(16, "0")

const store = new Map<string, string>()
const memory: StageMemory = {
  get: (keys) =>
    Effect.sync(() => {
      const found = new Map<string, unknown>()
      for (const key of keys) {
        const text = store.get(key)
        if (text !== undefined) found.set(key, JSON.parse(text))
      }
      return found
    })
}
const step = regressionStep(memory, {})

const fingerprintOf = (queryId: string): CollectedEvent["fingerprint"] => ({
  fingerprint: `select ? /* ${queryId} */`,
  queryId,
  statementType: "select",
  readOnly: true,
  tables: [],
  multiStatement: false,
  truncated: false,
  tags: {},
  parser: "libpg_query"
})
const fingerprints = Array.from({ length: queries }, (_, i) => fingerprintOf(`q${i.toString().padStart(16, "0")}`))

const batchOf = (poll: number): BatchView => {
  const at = t0 + poll * MINUTE
  const from = poll === 0 ? at - 30 * DAY : at - MINUTE
  const events: Array<CollectedEvent> = []
  const plans = new Map<string, BatchPlan>()
  const totals = new Map<string, BatchTotals>()
  fingerprints.forEach((fingerprint, i) => {
    const calls = poll === 0 ? 30 * 24 * 60 * 10 : 10
    const event = makeEvent({
      key: `${fingerprint.queryId}:${poll}`,
      startTimeUs: at * 1000,
      intervalStartUs: from * 1000,
      calls,
      queryTimeMs: calls * (1 + (i % 7)),
      sqlText: "SELECT 1"
    })
    events.push({ event, fingerprint })
    totals.set(fingerprint.queryId, { calls, totalMs: event.queryTimeMs, firstAt: at, lastAt: at })
    const shape = i % 100 === 0 && poll >= 30 ? 1 : 0
    // Explained at the first poll, again every 60 polls (staggered), and at the change.
    if (poll === 0 || (poll - i) % 60 === 0 || (i % 100 === 0 && poll === 30)) {
      plans.set(fingerprint.queryId, {
        plan: planOf(i, shape),
        hash: hashOf(i, shape),
        method: "prepared_generic",
        capturedAt: new Date(at)
      })
    }
  })
  return { dialect: "postgres", events, slowest: new Map(), plans, totals, now: at }
}

const bytesOf = (entries: ReadonlyArray<MemoryEntry>): number =>
  entries.reduce((sum, entry) => sum + Buffer.byteLength(entry.key) + Buffer.byteLength(JSON.stringify(entry.value) ?? "null"), 0)

const perBatch: Array<{ poll: number; bytes: number; entries: number }> = []
for (let poll = 0; poll < batches; poll++) {
  const output = Effect.runSync(step.run(batchOf(poll), []))
  for (const entry of output.remember) store.set(entry.key, JSON.stringify(entry.value) ?? "null")
  perBatch.push({ poll, bytes: bytesOf(output.remember), entries: output.remember.length })
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`
const line = ({ poll, bytes, entries }: (typeof perBatch)[number]) =>
  `poll ${poll}: ${mb(bytes)} in ${entries} entries, ${Math.round(bytes / queries)} B per query`
const steady = perBatch.slice(1).filter(({ poll }) => poll % 60 !== 0)
const sorted = [...steady].sort((a, b) => a.bytes - b.bytes)
const total = perBatch.reduce((sum, b) => sum + b.bytes, 0)
console.log(`${queries} queries, ${batches} polls a minute apart (every query in every poll)`)
console.log(`first (cumulative) ${line(perBatch[0]!)}`)
console.log(`steady median ${line(sorted[Math.floor(sorted.length / 2)]!)}`)
console.log(`steady max ${line(sorted.at(-1)!)}`)
for (const closing of perBatch.slice(1).filter(({ poll }) => poll % 60 === 0)) console.log(`hour closes: ${line(closing)}`)
console.log(`total over ${batches} polls: ${mb(total)}; in store now: ${mb([...store].reduce((s, [k, v]) => s + k.length + v.length, 0))}`)
