import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { newMarker } from "../../../test/support/Marker.js"
import { readTableStats } from "./TableStats.js"

const url = process.env.SLOWQ_TEST_PG_URL_TEST ?? "postgres://postgres@127.0.0.1:5432/test"

describe("readTableStats", () => {
  it.live("reads pg_stat_user_tables for tables named with or without schema; quotes names; leaves out what is no user table", () =>
    Effect.gen(function* () {
      // One session, so pg_stat_force_next_flush makes its own writes visible in pg_stat_user_tables.
      const sql = yield* PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))
      const m = newMarker("pgstats")
      const upper = `${m}_Upper`
      yield* Effect.addFinalizer(() =>
        Effect.all([
          sql.unsafe(`DROP TABLE IF EXISTS ${m}_t, "${upper}"`),
          sql.unsafe(`DROP VIEW IF EXISTS ${m}_v`),
          sql.unsafe(`DROP SCHEMA IF EXISTS ${m} CASCADE`)
        ]).pipe(Effect.orDie)
      )
      const noAutovacuum = "WITH (autovacuum_enabled = false)"
      yield* sql.unsafe(`CREATE TABLE ${m}_t ${noAutovacuum} AS SELECT i AS id FROM generate_series(1, 3000) AS i`)
      yield* sql.unsafe(`CREATE TABLE "${upper}" ${noAutovacuum} AS SELECT i AS id FROM generate_series(1, 1200) AS i`)
      yield* sql.unsafe(`CREATE SCHEMA ${m}`)
      yield* sql.unsafe(`CREATE TABLE ${m}.${m}_t ${noAutovacuum} AS SELECT i AS id FROM generate_series(1, 40) AS i`)
      yield* sql.unsafe(`CREATE VIEW ${m}_v AS SELECT 1 AS one`)
      yield* sql.unsafe("SELECT pg_stat_force_next_flush()")
      const before = Date.now()
      yield* sql.unsafe(`ANALYZE "${upper}"`)
      const after = Date.now()
      yield* sql.unsafe(`DELETE FROM "${upper}" WHERE id <= 200`)
      yield* sql.unsafe("SELECT pg_stat_force_next_flush()")

      const read = readTableStats(sql, [
        { schema: null, table: `${m}_t` },
        { schema: m, table: `${m}_t` },
        { schema: "public", table: upper },
        { schema: null, table: `${m}_v` },
        { schema: null, table: `${m}_missing` },
        { schema: null, table: "pg_class" }
      ])
      let stats = yield* read
      // The DELETE's counts reach shared statistics when the session is next idle.
      for (let attempt = 0; attempt < 50 && stats.get(`public.${upper}`)?.modifiedSinceAnalyze !== 200; attempt++) {
        yield* Effect.sleep("100 millis")
        stats = yield* read
      }
      const analyzed = stats.get(`public.${upper}`)?.lastAnalyzedAt ?? 0
      expect(analyzed).toBeGreaterThanOrEqual(before - 1000)
      expect(analyzed).toBeLessThanOrEqual(after + 1000)
      expect([...stats.entries()].sort(([a], [b]) => a.localeCompare(b))).toEqual([
        [`${m}.${m}_t`, { liveRows: 40, modifiedSinceAnalyze: 40, lastAnalyzedAt: null }],
        [`public.${m}_t`, { liveRows: 3000, modifiedSinceAnalyze: 3000, lastAnalyzedAt: null }],
        [`public.${upper}`, { liveRows: 1000, modifiedSinceAnalyze: 200, lastAnalyzedAt: analyzed }]
      ])
      expect((yield* readTableStats(sql, [])).size).toBe(0)
    }).pipe(Effect.scoped)
  )
})
