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
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"

// A stage defined here, outside src/, that finds two things wrong with statements: `SELECT *` (warn, would save 10%
// of the query's time) and a missing WHERE on DELETE (crit, 50%). Run by the real runner into a real store, its
// findings are deduplicated across runs, resolved when the stage no longer finds them, and served by the API.

const lint = (sql: string, fixed: ReadonlySet<string>): ReadonlyArray<Finding> => {
  const found: Array<Finding> = []
  if (/^select \*/i.test(sql) && !fixed.has("star")) {
    found.push({
      rule: "stmt_select_star",
      severity: "warn",
      message: "SELECT * reads every column",
      evidence: "SELECT *",
      advice: "Name the columns the application uses.",
      source: "rule",
      reduction: 0.1
    })
  }
  if (/^delete /i.test(sql) && !/ where /i.test(sql)) {
    found.push({
      rule: "stmt_dml_without_where",
      severity: "crit",
      message: "DELETE without WHERE touches every row",
      evidence: "DELETE FROM t",
      advice: "Add the WHERE clause the change means.",
      source: "rule",
      suggestion: { kind: "rewrite", ddl: "DELETE FROM t WHERE …" },
      reduction: 0.5
    })
  }
  return found
}

const lintStage = defineStage({
  type: "lint",
  description: "test stage",
  config: Schema.Struct({ type: Schema.Literal("lint"), fixed: Schema.Array(Schema.String) }),
  layer: (config) =>
    Layer.succeed(PipelineStage, {
      process: (events) =>
        Effect.succeed({
          events,
          remember: [],
          findings: events.map((e) => ({ queryId: e.fingerprint.queryId, findings: lint(e.event.sqlText, new Set(config.fixed)) }))
        })
    })
})

/** One batch per run: the statements of `texts[run]`, keyed by run, with their query times. */
const texts: ReadonlyArray<ReadonlyArray<readonly [string, number]>> = [
  [["SELECT * FROM orders WHERE id = 1", 300], ["DELETE FROM t", 40], ["SELECT a FROM t", 5]],
  [["SELECT * FROM orders WHERE id = 2", 100]],
  [["SELECT * FROM orders WHERE id = 3", 100]]
]
const runs = defineSource({
  type: "runs",
  description: "test double",
  dialect: "mysql",
  config: Schema.Struct({ type: Schema.Literal("runs") }),
  layer: () =>
    Layer.succeed(SlowQuerySource, {
      read: (checkpoint) => {
        const run = Option.match(checkpoint, { onNone: () => 0, onSome: (c) => Number(c) + 1 })
        return run >= texts.length
          ? Stream.empty
          : Stream.make({
              events: texts[run]!.map(([sqlText, queryTimeMs], i) =>
                makeEvent({ key: `r${run}e${i}`, startTimeUs: 1_700_000_000_000_000 + run * 10 + i, queryTimeMs, sqlText })
              ),
              checkpoint: run
            })
      }
    })
})

const spec = (fixed: ReadonlyArray<string>): PipelineSpec => ({
  name: "lint_lab",
  file: "lint_lab.yaml",
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: { plugin: runs, config: { type: "runs" } },
  stages: [{ plugin: lintStage, config: { type: "lint", fixed } }],
  sink: { type: "store", samples: "raw" }
})

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

/** The fields of a served finding that the test controls (times are the store's). */
const brief = (f: Record<string, unknown>) => [f.pipeline, f.rule, f.severity, f.impact_ms, f.resolved_at === null ? "open" : "resolved"]

describe("findings of a stage defined outside src/", () => {
  it.live("are stored with their batch, deduplicated, resolved when no longer found, and served ranked by impact", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const sql = yield* storeClient(db.url)
      const store = storeLayerFromUrl(Redacted.make(db.url), [])
      const daemon = Supervisor.layer.pipe(Layer.provideMerge(Runner.layer), Layer.provideMerge(store))
      yield* Effect.gen(function* () {
        const runner = yield* Runner
        yield* runner.runOnce(spec([]))
        // The second run sees SELECT * again (the same query): one row, seen twice.
        yield* runner.runOnce(spec([]))
        const stored = yield* sql.unsafe<{ rule: string; open: boolean; reduction: number; kept: boolean }>(
          `SELECT rule, resolved_at IS NULL AS open, reduction, last_seen >= first_seen AS kept
           FROM slowq_findings ORDER BY rule`
        )
        expect(stored).toEqual([
          { rule: "stmt_dml_without_where", open: true, reduction: 0.5, kept: true },
          { rule: "stmt_select_star", open: true, reduction: 0.1, kept: true }
        ])

        const address = yield* startHttpApi(settings, [])
        const base = `http://${address}`
        // SELECT * query: 300 + 100 ms total × 0.1 = 40; DELETE: 40 ms × 0.5 = 20.
        const all = yield* get(base, "/api/v1/findings")
        expect(all.status).toBe(200)
        expect(all.body.findings.map(brief)).toEqual([
          ["lint_lab", "stmt_select_star", "warn", 40, "open"],
          ["lint_lab", "stmt_dml_without_where", "crit", 20, "open"]
        ])
        expect(all.body.findings[1]).toMatchObject({
          stage: "lint",
          subject: "",
          fingerprint: "delete from t",
          message: "DELETE without WHERE touches every row",
          suggestion: { kind: "rewrite", ddl: "DELETE FROM t WHERE …" },
          verified: null
        })
        const crit = yield* get(base, "/api/v1/findings?severity=crit")
        expect(crit.body.findings.map(brief)).toEqual([["lint_lab", "stmt_dml_without_where", "crit", 20, "open"]])
        const byRule = yield* get(base, "/api/v1/findings?rule=stmt_select_star&limit=1")
        expect(byRule.body.findings.map(brief)).toEqual([["lint_lab", "stmt_select_star", "warn", 40, "open"]])
        expect((yield* get(base, "/api/v1/findings?severity=high")).status).toBe(400)
        expect((yield* get(base, "/api/v1/findings?limt=1")).status).toBe(400)

        const starId = all.body.findings[0].query_id
        const ofQuery = yield* get(base, `/api/v1/queries/${starId}/findings`)
        expect(ofQuery.body.findings.map(brief)).toEqual([["lint_lab", "stmt_select_star", "warn", 40, "open"]])
        expect((yield* get(base, "/api/v1/queries/0123456789ABCDEF/findings")).status).toBe(404)

        // The stage looks at the SELECT * query again and no longer finds it: resolved, listed only when asked.
        yield* runner.runOnce(spec(["star"]))
        expect((yield* get(base, "/api/v1/findings")).body.findings.map(brief)).toEqual([
          ["lint_lab", "stmt_dml_without_where", "crit", 20, "open"]
        ])
        expect((yield* get(base, "/api/v1/findings?resolved=true")).body.findings.map(brief)).toEqual([
          ["lint_lab", "stmt_dml_without_where", "crit", 20, "open"],
          ["lint_lab", "stmt_select_star", "warn", 50, "resolved"]
        ])

        const openapi = (yield* get(base, "/openapi.json")).body
        expect(Object.keys(openapi.paths).filter((path) => path.includes("findings"))).toEqual([
          "/api/v1/findings",
          "/api/v1/queries/{id}/findings"
        ])
      }).pipe(Effect.provide(Layer.merge(daemon, Layer.succeed(Plugins, { sources: [], stages: [] }))))
    }).pipe(Effect.scoped)
  )
})
