import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { Dialect } from "../../src/domain/SlowQueryEvent.js"
import { reportFields } from "../../src/store/PlanWrites.js"
import { Store } from "../../src/store/Store.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { contextFor, eventOf, mariadbDatabase, memoryIn, pgDatabase, withStage } from "../../test/support/explain/Harness.js"
import { planHash } from "./PlanHash.js"

const storeAt = (url: string) =>
  Layer.build(Store.layerFromUrl(Redacted.make(url))).pipe(Effect.map(Context.get(Store)))

/** Explains `text` as query `queryId` in a fresh run (explain_ttl is no obstacle: new memory each time), stores it. */
const explainAndStore = (
  store: Context.Tag.Service<typeof Store>,
  dialect: Dialect,
  url: string,
  db: string,
  text: string
) =>
  Effect.gen(function* () {
    const events = yield* withStage({ type: "explain" }, contextFor(dialect, url, memoryIn(new Map())), (stage) =>
      stage.process([eventOf(text, { db, fingerprint: { queryId: "Q1" } })])
    )
    yield* store.writeBatch("plans_test", dialect, events, { at: text })
    yield* store.writePlans("plans_test", events)
    const outcome = events[0]!.explain
    if (outcome?._tag !== "Plan") throw new Error(`expected a plan for ${text}, got ${JSON.stringify(outcome)}`)
    return outcome
  })

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

        const history = yield* store.planHistory("plans_test", "Q1")
        expect(history.map((p) => [p.hash, p.method])).toEqual([
          [first.hash, "direct"],
          [indexed.hash, "direct"]
        ])
        expect(history[0]!.plan).toEqual(again.plan)
        expect(history[0]!.first_captured).toEqual(first.capturedAt)
        expect(history[0]!.last_captured).toEqual(again.capturedAt)

        const [latest] = yield* store.latestPlans("plans_test", ["Q1"])
        expect(reportFields(latest)).toEqual({
          plan: { method: "direct", captured_at: indexed.capturedAt.toISOString(), hash: indexed.hash, json: indexed.plan }
        })
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

        const history = yield* store.planHistory("plans_test", "Q1")
        expect(history.map((p) => p.hash)).toEqual([first.hash, indexed.hash])

        // A later refusal becomes the latest outcome; the plans stay in the history.
        const skipped: ReadonlyArray<CollectedEvent> = [
          { ...eventOf("SELECT 1 /* cut", { fingerprint: { queryId: "Q1" } }), explain: { _tag: "Skipped", reason: "truncated" } }
        ]
        yield* store.writePlans("plans_test", skipped)
        const [latest] = yield* store.latestPlans(undefined, ["Q1"])
        expect(reportFields(latest)).toEqual({ explain: { skipped: "truncated" } })
        expect((yield* store.planHistory("plans_test", "Q1")).length).toBe(2)
        const failed: ReadonlyArray<CollectedEvent> = [
          { ...eventOf("SELECT 1", { fingerprint: { queryId: "Q1" } }), explain: { _tag: "Failed", reason: "lock timeout: x" } }
        ]
        yield* store.writePlans("plans_test", failed)
        expect(reportFields((yield* store.latestPlans("plans_test", ["Q1"]))[0])).toEqual({
          explain: { error: "lock timeout: x" }
        })
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("the embedded store (PGlite) keeps plans and outcomes the same way", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-explain-embedded-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const store = yield* Layer.build(Layer.fresh(Store.layerEmbedded(dir))).pipe(Effect.map(Context.get(Store)))
      const at = new Date("2026-01-02T03:04:05.678Z")
      const plan = [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "(v = 'a\u0000b'::text)" } }]
      const events: ReadonlyArray<CollectedEvent> = [
        { ...eventOf("SELECT * FROM t WHERE v = 'a'", { fingerprint: { queryId: "P" } }), explain: { _tag: "Plan", method: "direct", capturedAt: at, hash: "h1", plan } },
        { ...eventOf("DROP TABLE t", { fingerprint: { queryId: "S" } }), explain: { _tag: "Skipped", reason: "not explainable: DROP" } }
      ]
      yield* store.writeBatch("embedded", "postgres", events, {})
      yield* store.writePlans("embedded", events)
      const latest = yield* store.latestPlans(undefined, ["P", "S", "unknown"])
      expect(latest.map(reportFields)).toEqual([
        // NUL cannot be stored in jsonb: it becomes U+FFFD.
        { plan: { method: "direct", captured_at: at.toISOString(), hash: "h1", json: [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "(v = 'a\uFFFDb'::text)" } }] } },
        { explain: { skipped: "not explainable: DROP" } }
      ])
      expect(reportFields(undefined)).toEqual({})
    }).pipe(Effect.scoped),
    60_000
  )
})
