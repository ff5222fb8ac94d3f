import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { startHttpApi } from "../../src/http/HttpApiServer.js"
import type { HttpApiSettings } from "../../src/http/HttpApiSettings.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { Supervisor } from "../../src/pipeline/Supervisor.js"
import type { Finding } from "../../src/plugin/Finding.js"
import { PipelineStage } from "../../src/plugin/PipelineStage.js"
import { defineSource, defineStage, Plugins } from "../../src/plugin/Plugin.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"
import { storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { runCli } from "../support/Cli.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"

// A stage defined here suggests indexes: the two lookups of orders by customer get the same index (verified, with
// the plans without and with it), the scan of items another one (unverified). Stored with the batch, the suggestion
// the two queries share is served once with both of them, by the API and by `slowq advise`.

const byCustomer = "CREATE INDEX CONCURRENTLY ON public.orders (customer_id)"
const bySku = "CREATE INDEX CONCURRENTLY ON public.items (sku)"
const seqScan = [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "orders", "Total Cost": 4000 } }]
const indexScan = [{ Plan: { "Node Type": "Index Scan", "Relation Name": "orders", "Total Cost": 8 } }]

const suggest = (sql: string): ReadonlyArray<Finding> => {
  const base = { severity: "warn", evidence: "Plan Seq Scan on orders", advice: "Review and run the DDL.", source: "index_advice" } as const
  if (sql.includes("customer_id")) {
    const cost_after = sql.includes("status") ? 16 : 8
    return [
      {
        ...base,
        rule: "pg_index_suggestion",
        subject: "orders(customer_id)",
        message: `cost 4,000 → ${cost_after}`,
        suggestion: { kind: "create_index", ddl: byCustomer },
        verified: { cost_before: 4000, cost_after },
        plans: { before: seqScan, after: indexScan },
        reduction: 1 - cost_after / 4000
      }
    ]
  }
  if (sql.includes("sku")) {
    return [
      {
        ...base,
        severity: "info",
        rule: "pg_index_suggestion",
        subject: "items(sku)",
        message: "may serve; not verified",
        suggestion: { kind: "create_index", ddl: bySku },
        verified: null,
        reduction: 0.05
      }
    ]
  }
  return []
}

const adviseStage = defineStage({
  type: "advise_test",
  description: "test stage",
  config: Schema.Struct({ type: Schema.Literal("advise_test") }),
  layer: () =>
    Layer.succeed(PipelineStage, {
      process: (events) =>
        Effect.succeed({
          events,
          remember: [],
          findings: events.map((e) => ({ queryId: e.fingerprint.queryId, scope: "index_advice", findings: suggest(e.event.sqlText) }))
        })
    })
})

const statements: ReadonlyArray<readonly [string, number]> = [
  ["SELECT id FROM orders WHERE customer_id = 1", 1000],
  ["SELECT id FROM orders WHERE customer_id = 2 AND status = 'new'", 400],
  ["SELECT id FROM items WHERE sku = 'x'", 2000],
  ["SELECT 1", 5]
]
const once = defineSource({
  type: "once_test",
  description: "test double",
  dialect: "postgres",
  config: Schema.Struct({ type: Schema.Literal("once_test") }),
  layer: () =>
    Layer.succeed(SlowQuerySource, {
      read: (checkpoint) =>
        Option.isSome(checkpoint)
          ? Stream.empty
          : Stream.make({
              events: statements.map(([sqlText, queryTimeMs], i) =>
                makeEvent({ key: `e${i}`, startTimeUs: 1_700_000_000_000_000 + i, queryTimeMs, sqlText })
              ),
              checkpoint: 1
            })
    })
})

const spec: PipelineSpec = {
  name: "advise_lab",
  file: "advise_lab.yaml",
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: { plugin: once, config: { type: "once_test" } },
  stages: [{ plugin: adviseStage, config: { type: "advise_test" } }],
  sink: { type: "store", samples: "raw" }
}

const settings: HttpApiSettings = {
  host: "127.0.0.1",
  port: 0,
  token: Option.none(),
  publicRead: false,
  hosts: { _tag: "Listed", names: [] }
}

const get = (base: string, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`)
    return { status: response.status, body: JSON.parse(await response.text()) }
  })

describe("suggestions", () => {
  it.live("one suggestion serving two queries is served once with both, with its plans, by the API and slowq advise", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const store = storeLayerFromUrl(Redacted.make(db.url), [])
      yield* Effect.gen(function* () {
        yield* (yield* Runner).runOnce(spec)
        const base = `http://${yield* startHttpApi(settings, [])}`

        // customer_id: 1000 × (1 − 8/4000) + 400 × (1 − 16/4000) = 998 + 398.4; sku: 2000 × 0.05 = 100.
        const listed = yield* get(base, "/api/v1/suggestions?pipeline=advise_lab")
        expect(listed.status).toBe(200)
        const [first, second, ...rest] = listed.body.suggestions
        expect(rest).toEqual([])
        expect(first).toMatchObject({ pipeline: "advise_lab", kind: "create_index", ddl: byCustomer, severity: "warn", verified: true })
        expect(first.impact_ms).toBeCloseTo(1396.4, 6)
        // Of the pipeline's 3,405 ms.
        expect(first.impact_share).toBeCloseTo(1396.4 / 3405, 9)
        expect(
          first.queries.map((q: Record<string, unknown>) => [q.fingerprint, q.rule, q.cost_before, q.cost_after])
        ).toEqual([
          ["SELECT id FROM orders WHERE customer_id = $1", "pg_index_suggestion", 4000, 8],
          ["SELECT id FROM orders WHERE customer_id = $1 AND status = $2", "pg_index_suggestion", 4000, 16]
        ])
        expect(second).toMatchObject({ ddl: bySku, severity: "info", verified: false, impact_ms: 100 })
        expect(second.impact_share).toBeCloseTo(100 / 3405, 9)
        expect(second.queries.map((q: Record<string, unknown>) => [q.cost_before, q.cost_after])).toEqual([[null, null]])
        expect((yield* get(base, "/api/v1/suggestions?limit=1")).body.suggestions.map((s: { ddl: string }) => s.ddl)).toEqual([
          byCustomer
        ])
        expect((yield* get(base, "/api/v1/suggestions?limit=0")).status).toBe(400)

        // A query's findings carry the plans they compare; the ranked list leaves them out.
        const queryId = first.queries[0].query_id
        const ofQuery = (yield* get(base, `/api/v1/queries/${queryId}/findings`)).body.findings
        expect(ofQuery.map((f: Record<string, unknown>) => f.plans)).toEqual([{ before: seqScan, after: indexScan }])
        expect(ofQuery[0].impact_share).toBeCloseTo(998 / 3405, 9)
        const listedFindings = (yield* get(base, "/api/v1/findings?rule=pg_index_suggestion")).body.findings
        expect(listedFindings.map((f: Record<string, unknown>) => "plans" in f)).toEqual([false, false, false])

        const script = yield* runCli(["advise", "--pipeline", "advise_lab"], { SLOWQ_STORE_URL: db.url })
        expect(script.code).toBe(0)
        expect(script.stdout.split("\n").filter((line) => !line.startsWith("--    "))).toEqual([
          "-- slowq advise: 2 suggestion(s) for pipeline advise_lab, most impact first. Review before running.",
          "",
          "-- 1. warn create_index, verified on the planner; impact 1,396 ms; serves 2 queries:",
          `${byCustomer};`,
          "",
          "-- 2. info create_index, NOT verified on the planner; impact 100 ms; serves 1 query:",
          `${bySku};`,
          ""
        ])
        expect(script.stdout).toContain("cost 4,000 -> 16 (-99.6%)  SELECT id FROM orders WHERE customer_id = $1 AND status = $2")
        const json = yield* runCli(["advise", "--pipeline", "advise_lab", "--top", "1", "--format", "json"], {
          SLOWQ_STORE_URL: db.url
        })
        expect(JSON.parse(json.stdout).suggestions.map((s: { ddl: string }) => s.ddl)).toEqual([byCustomer])
        const openapi = (yield* get(base, "/openapi.json")).body
        expect(Object.keys(openapi.paths["/api/v1/suggestions"])).toEqual(["get"])
        const none = yield* runCli(["advise", "--pipeline", "nothing_here"], { SLOWQ_STORE_URL: db.url })
        expect(none.stdout.trim()).toBe(
          "-- slowq advise: no open suggestion for pipeline nothing_here (the analyze stage proposes indexes for the plans it reads)"
        )
      }).pipe(
        Effect.provide(
          Layer.merge(
            Supervisor.layer.pipe(Layer.provideMerge(Runner.layer), Layer.provideMerge(store)),
            Layer.succeed(Plugins, { sources: [], stages: [] })
          )
        )
      )
    }).pipe(Effect.scoped)
  )
})
