import { randomBytes } from "node:crypto"
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { fingerprintPostgres, loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"

// Against the real PostgreSQL 15 on this machine (pg_stat_statements preloaded by .ci/run): a statement run
// with literals, and the text pg_stat_statements keeps for it, must get the same id. The statements run in a
// scratch database of our own, dropped afterwards; a unique column alias finds our entries (an alias is not a
// constant, so pg_stat_statements keeps it).

const adminUrl = process.env.SLOWQ_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

const client = (url: string) =>
  PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))

const scratchDatabase = Effect.gen(function* () {
  const name = `slowq_fp_${randomBytes(6).toString("hex")}`
  const admin = yield* client(adminUrl)
  yield* admin.unsafe(`CREATE DATABASE ${name}`)
  yield* Effect.addFinalizer(() => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const sql = yield* client(url.toString())
  yield* sql.unsafe("CREATE EXTENSION pg_stat_statements")
  return sql
})

beforeAll(async () => {
  expect(await loadPostgresParser()).toBe(true)
})

describe("pg_stat_statements", () => {
  it.scoped("its normalized text and the literal statement share the fingerprint id", () =>
    Effect.gen(function* () {
      const sql = yield* scratchDatabase
      const marker = `slowq_fp_${randomBytes(6).toString("hex")}`
      const statements = [
        `SELECT count(*) AS ${marker} FROM pg_class WHERE relname = 'pg_type' AND relpages > 0 AND reltuples >= -1.5`,
        `SELECT relname AS ${marker} FROM pg_class WHERE oid IN (1, 2, 3) OR relname LIKE 'pg\\_%' ESCAPE '\\' LIMIT 5`,
        `SELECT now() - interval '1 day' AS ${marker}, E'a\\'b' AS x, $$dollar$$ AS y, true AS z, NULL::int AS w`
      ]
      for (const text of statements) yield* sql.unsafe(text)
      const rows = yield* sql.unsafe<{ readonly query: string }>(
        "SELECT query FROM pg_stat_statements WHERE query LIKE $1 AND query NOT LIKE '%pg_stat_statements%'",
        [`%${marker}%`]
      )
      expect(rows.length).toBe(statements.length)
      for (const text of statements) {
        const literal = fingerprintPostgres(text)
        const stored = rows.map((r) => r.query).find((q) => fingerprintPostgres(q).queryId === literal.queryId)
        expect([text, literal.parser, stored === undefined ? "not found" : "found"]).toEqual([text, "libpg_query", "found"])
        expect(stored).toContain("$1")
        expect(fingerprintPostgres(stored!).parser).toBe("libpg_query")
      }
    }), 60_000)
})
