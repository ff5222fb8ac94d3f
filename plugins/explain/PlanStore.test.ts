import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { bucketOf, bucketValueMs } from "../../src/domain/LatencyHistogram.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { attach } from "../../src/plugin/Enrichment.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { storeLayerEmbedded, storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { storeClient } from "../../test/support/StoreQueries.js"
import {
  contextFor,
  eventOf,
  mariadbDatabase,
  memoryIn,
  outcomeOf,
  pgDatabase,
  withStage
} from "../../test/support/explain/Harness.js"
import { planHash } from "./PlanHash.js"
import { explainEnrichment } from "./PlanStore.js"

/** The store's writer, and the enrichment's reads run on the store's client as the store runs them. */
const openStore = <E>(layer: Layer.Layer<EventWriter | StoreClient, E>) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(Layer.fresh(layer))
    const client = Context.get(context, StoreClient)
    const onStore = <A, E2>(effect: Effect.Effect<A, E2, SqlClient.SqlClient>) =>
      Effect.provideService(effect, SqlClient.SqlClient, client.sql)
    const { detail, list, report, metrics } = explainEnrichment
    return {
      writer: Context.get(context, EventWriter),
      detail: (id: string, pipelines: ReadonlyArray<string>) => onStore(detail.read(id, pipelines)),
      list: (queries: ReadonlyArray<{ readonly pipeline: string; readonly id: string }>) => onStore(list.read(queries)),
      report: (queries: ReadonlyArray<{ readonly pipeline: string; readonly id: string }>) => onStore(report(queries)),
      metrics: onStore(metrics)
    }
  })

const storeAt = (url: string) => openStore(storeLayerFromUrl(Redacted.make(url), [explainEnrichment]))
type TestStore = Effect.Effect.Success<ReturnType<typeof storeAt>>

/**
 * Explains `text` as query `queryId` in a fresh run (explain_ttl is no obstacle: new memory each time), stores the
 * batch with its outcome as the runner does.
 */
const explainAndStore = (store: TestStore, dialect: "mysql" | "postgres", url: string, db: string, text: string) =>
  Effect.gen(function* () {
    const { events } = yield* withStage({ type: "explain" }, contextFor(dialect, url, memoryIn(new Map())), (stage) =>
      stage.process([eventOf(text, { db, fingerprint: { queryId: "Q1" } })])
    )
    yield* store.writer.writeBatch("plans_test", dialect, events, { at: text })
    const outcome = outcomeOf(events[0]!)
    if (outcome?._tag !== "Plan") throw new Error(`expected a plan for ${text}, got ${JSON.stringify(outcome)}`)
    return outcome
  })

const Q1 = [{ pipeline: "plans_test", id: "Q1" }]

describe("plans in the store", () => {
  it.live(
    "MariaDB: the JSON plan is stored with its hash; other literals and estimates keep the hash, a new index changes it",
    () =>
      Effect.gen(function* () {
        const db = yield* mariadbDatabase(`
          CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(32), w INT);
          INSERT INTO t SELECT seq, CONCAT('v', seq), seq % 7 FROM seq_1_to_2000;
          ANALYZE TABLE t;`)
        const store = yield* storeAt((yield* freshStoreDatabase).url)

        const first = yield* explainAndStore(store, "mysql", db.url, db.name, "SELECT * FROM t WHERE v = 'v17'")
        expect(first.method).toBe("direct")
        expect(first.plan).toMatchObject({ query_block: { nested_loop: [{ table: { table_name: "t", access_type: "ALL" } }] } })
        expect(first.hash).toBe(planHash("mysql", first.plan))

        yield* db.sql.unsafe("INSERT INTO t SELECT seq, CONCAT('v', seq), 1 FROM seq_2001_to_6000")
        yield* db.sql.unsafe("ANALYZE TABLE t")
        const again = yield* explainAndStore(store, "mysql", db.url, db.name, "SELECT * FROM t WHERE v = 'v4711'")
        expect(again.plan).not.toEqual(first.plan)
        expect(again.hash).toBe(first.hash)

        yield* db.sql.unsafe("CREATE INDEX t_v ON t (v)")
        const indexed = yield* explainAndStore(store, "mysql", db.url, db.name, "SELECT * FROM t WHERE v = 'v17'")
        expect(indexed.plan).toMatchObject({ query_block: { nested_loop: [{ table: { access_type: "ref", key: "t_v" } }] } })
        expect(indexed.hash).not.toBe(first.hash)

        const detail = yield* store.detail("Q1", ["plans_test"])
        expect(detail.plans.map((p) => [p.pipeline, p.hash, p.method])).toEqual([
          ["plans_test", first.hash, "direct"],
          ["plans_test", indexed.hash, "direct"]
        ])
        expect(detail.plans[0]!.plan).toEqual(again.plan)
        expect(detail.plans[0]!.first_captured).toEqual(first.capturedAt)
        expect(detail.plans[0]!.last_captured).toEqual(again.capturedAt)
        expect(detail.explain).toEqual([
          {
            pipeline: "plans_test",
            status: "plan",
            reason: null,
            method: "direct",
            hash: indexed.hash,
            captured_at: indexed.capturedAt
          }
        ])
        expect(detail.plan_known).toBe(true)

        expect(yield* store.report(Q1)).toEqual([
          { plan: { method: "direct", captured_at: indexed.capturedAt.toISOString(), hash: indexed.hash, json: indexed.plan } }
        ])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "PostgreSQL: the JSON plan is stored with its hash; other literals and estimates keep the hash, a new index changes it",
    () =>
      Effect.gen(function* () {
        const db = yield* pgDatabase(`
          CREATE TABLE t (id int PRIMARY KEY, v text, w int);
          INSERT INTO t SELECT g, 'v' || g, g % 7 FROM generate_series(1, 20000) g;
          ANALYZE t;`)
        const store = yield* storeAt((yield* freshStoreDatabase).url)

        const first = yield* explainAndStore(store, "postgres", db.url, db.name, "SELECT * FROM t WHERE v = 'v17'")
        expect(first.plan).toMatchObject([{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t" } }])

        yield* db.sql.unsafe("INSERT INTO t SELECT g, 'v' || g, 1 FROM generate_series(20001, 60000) g")
        yield* db.sql.unsafe("ANALYZE t")
        const again = yield* explainAndStore(store, "postgres", db.url, db.name, "SELECT * FROM t WHERE v = 'v4711'")
        expect(again.plan).not.toEqual(first.plan)
        expect(again.hash).toBe(first.hash)

        yield* db.sql.unsafe("CREATE INDEX t_v ON t (v)")
        const indexed = yield* explainAndStore(store, "postgres", db.url, db.name, "SELECT * FROM t WHERE v = 'v17'")
        expect(indexed.plan).toMatchObject([{ Plan: { "Node Type": "Index Scan", "Index Name": "t_v" } }])
        expect(indexed.hash).not.toBe(first.hash)

        const history = (yield* store.detail("Q1", ["plans_test"])).plans
        expect(history.map((p) => p.hash)).toEqual([first.hash, indexed.hash])

        // A later refusal becomes the latest outcome; the plans stay in the history.
        const skipped = attach(eventOf("SELECT 1 /* cut", { fingerprint: { queryId: "Q1" } }), explainEnrichment, {
          _tag: "Skipped",
          reason: "truncated"
        })
        yield* store.writer.writeBatch("plans_test", "postgres", [skipped], { at: "skipped" })
        expect(yield* store.report(Q1)).toEqual([{ explain: { skipped: "truncated" } }])
        const afterSkip = yield* store.detail("Q1", ["plans_test"])
        expect(afterSkip.plans.length).toBe(2)
        expect(afterSkip.explain.map((e) => [e.status, e.reason, e.method, e.hash])).toEqual([["skipped", "truncated", null, null]])
        expect(afterSkip.plan_known).toBe(true)
        const failed = attach(eventOf("SELECT 1", { fingerprint: { queryId: "Q1" } }), explainEnrichment, {
          _tag: "Failed",
          reason: "lock timeout: x"
        })
        yield* store.writer.writeBatch("plans_test", "postgres", [failed], { at: "failed" })
        expect(yield* store.report(Q1)).toEqual([{ explain: { error: "lock timeout: x" } }])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("the embedded store (PGlite) keeps plans and outcomes the same way", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-explain-embedded-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const store = yield* openStore(storeLayerEmbedded(dir, [explainEnrichment]))
      const at = new Date("2026-01-02T03:04:05.678Z")
      const plan = [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "(v = 'a\u0000b'::text)" } }]
      const events: ReadonlyArray<CollectedEvent> = [
        attach(eventOf("SELECT * FROM t WHERE v = 'a'", { fingerprint: { queryId: "P" } }), explainEnrichment, {
          _tag: "Plan",
          method: "direct",
          capturedAt: at,
          hash: "h1",
          plan
        }),
        attach(eventOf("DROP TABLE t", { fingerprint: { queryId: "S" } }), explainEnrichment, {
          _tag: "Skipped",
          reason: "not explainable: DROP"
        })
      ]
      yield* store.writer.writeBatch("embedded", "postgres", events, {})
      const queries = ["P", "S", "unknown"].map((id) => ({ pipeline: "embedded", id }))
      expect(yield* store.report(queries)).toEqual([
        // NUL cannot be stored in jsonb: it becomes U+FFFD.
        { plan: { method: "direct", captured_at: at.toISOString(), hash: "h1", json: [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "(v = 'a\uFFFDb'::text)" } }] } },
        { explain: { skipped: "not explainable: DROP" } },
        {}
      ])
    }).pipe(Effect.scoped),
    60_000
  )
})

describe("the explain enrichment's reads", () => {
  it.live("list, detail, report and metrics: exact values, in the order asked, over the pipelines asked", () =>
    Effect.gen(function* () {
      const store = yield* storeAt((yield* freshStoreDatabase).url)
      const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds))
      const planOf = (hash: string, seconds: number) => ({
        _tag: "Plan" as const,
        method: "direct" as const,
        capturedAt: at(seconds),
        hash,
        plan: { hash }
      })
      const of = (text: string, queryId: string) => eventOf(text, { fingerprint: { queryId } })
      // The events are from 2023, the plans from 2026: no calls in any plan's period.
      const none = (until: Date) => ({ since: at(0), until, calls: 0, total_ms: 0, mean_ms: null, p95_ms: null })
      // Query A: two plans in p2 (a plan change), one in p1; B skipped in p1; C failed in p2; D never explained.
      yield* store.writer.writeBatch(
        "p1",
        "mysql",
        [
          attach(of("SELECT a", "A"), explainEnrichment, planOf("h1", 10)),
          attach(of("DROP b", "B"), explainEnrichment, { _tag: "Skipped", reason: "not explainable: DROP" }),
          of("SELECT d", "D")
        ],
        { n: 1 }
      )
      yield* store.writer.writeBatch("p2", "mysql", [attach(of("SELECT a", "A"), explainEnrichment, planOf("h2", 20))], { n: 1 })
      yield* store.writer.writeBatch(
        "p2",
        "mysql",
        [
          attach(of("SELECT a 2", "A"), explainEnrichment, planOf("h3", 30)),
          attach(of("SELECT c", "C"), explainEnrichment, { _tag: "Failed", reason: "lock timeout: x" })
        ],
        { n: 2 }
      )
      // An older outcome replayed after a newer one changes nothing (a batch read again after a crash).
      yield* store.writer.writeBatch("p2", "mysql", [attach(of("SELECT a 3", "A"), explainEnrichment, planOf("h2", 5))], { n: 3 })

      expect(
        yield* store.list([
          { pipeline: "p2", id: "A" },
          { pipeline: "p1", id: "B" },
          { pipeline: "p1", id: "A" },
          { pipeline: "p2", id: "C" },
          { pipeline: "p1", id: "D" },
          { pipeline: "p2", id: "B" }
        ])
      ).toEqual([
        { plan_known: true },
        { plan_known: false },
        { plan_known: true },
        { plan_known: false },
        { plan_known: false },
        { plan_known: false }
      ])
      expect(yield* store.list([])).toEqual([])

      const a = yield* store.detail("A", ["p2", "p1"])
      expect(a).toEqual({
        plan_known: true,
        explain: [
          { pipeline: "p1", status: "plan", reason: null, method: "direct", hash: "h1", captured_at: at(10) },
          { pipeline: "p2", status: "plan", reason: null, method: "direct", hash: "h3", captured_at: at(30) }
        ],
        plans: [
          // Captured within one minute, h2's period ends where it starts (h3's minute): no calls under it.
          { pipeline: "p2", hash: "h2", method: "direct", first_captured: at(20), last_captured: at(20), plan: { hash: "h2" }, latency: none(at(0)) },
          { pipeline: "p2", hash: "h3", method: "direct", first_captured: at(30), last_captured: at(30), plan: { hash: "h3" }, latency: none(at(60)) },
          { pipeline: "p1", hash: "h1", method: "direct", first_captured: at(10), last_captured: at(10), plan: { hash: "h1" }, latency: none(at(60)) }
        ]
      })
      expect((yield* store.detail("A", ["p1"])).plans.map((p) => p.hash)).toEqual(["h1"])
      expect(yield* store.detail("B", ["p1"])).toEqual({
        plan_known: false,
        explain: [{ pipeline: "p1", status: "skipped", reason: "not explainable: DROP", method: null, hash: null, captured_at: expect.any(Date) }],
        plans: []
      })
      expect(yield* store.detail("D", ["p1"])).toEqual({ plan_known: false, explain: [], plans: [] })

      expect(
        yield* store.report([
          { pipeline: "p2", id: "C" },
          { pipeline: "p1", id: "D" },
          { pipeline: "p2", id: "A" }
        ])
      ).toEqual([
        { explain: { error: "lock timeout: x" } },
        {},
        { plan: { method: "direct", captured_at: at(30).toISOString(), hash: "h3", json: { hash: "h3" } } }
      ])

      expect(yield* store.metrics).toEqual([
        {
          name: "slowq_explain_queries",
          help: "Queries by the outcome of their latest EXPLAIN (plan, skipped, failed), from the store.",
          samples: [
            { labels: [["pipeline", "p1"], ["status", "plan"]], value: 1 },
            { labels: [["pipeline", "p1"], ["status", "skipped"]], value: 1 },
            { labels: [["pipeline", "p2"], ["status", "failed"]], value: 1 },
            { labels: [["pipeline", "p2"], ["status", "plan"]], value: 1 }
          ]
        }
      ])
    }).pipe(Effect.scoped),
    60_000
  )

  it.live("a store that core migration 0004 gave the tables keeps its plans when the enrichment migrates it", () =>
    Effect.gen(function* () {
      const database = yield* freshStoreDatabase
      const sql = yield* storeClient(database.url)
      // The tables exactly as the core's migration 0004 created them, with a plan stored before the upgrade.
      yield* sql.unsafe(`
        CREATE TABLE slowq_plans (
          pipeline text NOT NULL, query_id text NOT NULL, hash text NOT NULL, method text NOT NULL, plan jsonb NOT NULL,
          first_captured timestamptz NOT NULL, last_captured timestamptz NOT NULL, PRIMARY KEY (pipeline, query_id, hash));
        CREATE TABLE slowq_explains (
          pipeline text NOT NULL, query_id text NOT NULL,
          status text NOT NULL CHECK (status IN ('plan', 'skipped', 'failed')), reason text, plan_hash text,
          plan_method text, captured_at timestamptz NOT NULL, PRIMARY KEY (pipeline, query_id),
          CHECK ((status = 'plan') = (plan_hash IS NOT NULL AND reason IS NULL)));
        INSERT INTO slowq_plans VALUES ('old', 'Q', 'h0', 'direct', '{"old": true}', '2025-01-01Z', '2025-02-01Z');
        INSERT INTO slowq_explains VALUES ('old', 'Q', 'plan', NULL, 'h0', 'direct', '2025-02-01Z');`)
      const store = yield* storeAt(database.url)
      expect(yield* store.report([{ pipeline: "old", id: "Q" }])).toEqual([
        { plan: { method: "direct", captured_at: "2025-02-01T00:00:00.000Z", hash: "h0", json: { old: true } } }
      ])
      expect(yield* sql.unsafe("SELECT name FROM slowq_migrations_explain ORDER BY migration_id")).toEqual([{ name: "plans" }])
    }).pipe(Effect.scoped),
    60_000
  )
})

describe("the latency under each plan", () => {
  it.live("calls, mean and p95 of the rollups from a plan's first capture to the next one's, or to its last", () =>
    Effect.gen(function* () {
      const store = yield* storeAt((yield* freshStoreDatabase).url)
      const at = (time: string) => new Date(`2026-01-01T${time}Z`)
      const call = (key: string, time: string, queryTimeMs: number): CollectedEvent => ({
        event: makeEvent({ key, startTimeUs: at(time).getTime() * 1000, queryTimeMs, sqlText: "SELECT q" }),
        fingerprint: { ...eventOf("SELECT q", { fingerprint: { queryId: "Q" } }).fingerprint }
      })
      const planned = (event: CollectedEvent, hash: string, time: string) =>
        attach(event, explainEnrichment, { _tag: "Plan", method: "direct", capturedAt: at(time), hash, plan: { hash } })
      // P1 captured at 10:00:30 and 10:01:40, P2 from 10:02:05 to 12:10:00. P1's period: [10:00, 10:02); P2's:
      // [10:02, 12:11), whose whole hour 11:00 is read from the hour rollups and the rest from the minutes.
      // A batch keeps one outcome per query: one capture per batch, as the stage explains a query once per batch.
      const batches = [
        [planned(call("e1", "10:00:10", 10), "P1", "10:00:30")],
        [planned(call("e2", "10:01:10", 20), "P1", "10:01:40")],
        [planned(call("e3", "10:02:30", 100), "P2", "10:02:05"), call("e4", "10:03:00", 200), call("e5", "11:30:00", 300)],
        // e7 is after P2's last capture's minute: under no plan the store knows of.
        [planned(call("e6", "12:05:00", 50), "P2", "12:10:00"), call("e7", "12:20:00", 1000)]
      ]
      for (const [n, events] of batches.entries()) yield* store.writer.writeBatch("p", "postgres", events, { n })
      const { plans } = yield* store.detail("Q", ["p"])
      expect(plans.map((p) => [p.hash, p.latency])).toEqual([
        ["P1", { since: at("10:00:00"), until: at("10:02:00"), calls: 2, total_ms: 30, mean_ms: 15, p95_ms: expect.closeTo(bucketValueMs(bucketOf(20)), 9) }],
        [
          "P2",
          { since: at("10:02:00"), until: at("12:11:00"), calls: 4, total_ms: 650, mean_ms: 162.5, p95_ms: expect.closeTo(bucketValueMs(bucketOf(300)), 9) }
        ]
      ])
    }).pipe(Effect.scoped)
  )
})
