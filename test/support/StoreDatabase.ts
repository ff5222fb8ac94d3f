import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"

/** The local PostgreSQL of LAB.md; CI and developers have it on 127.0.0.1:5432 with trust auth. */
export const adminUrl = process.env.SLOWQ_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

const urlFor = (database: string) => {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/**
 * A brand-new PostgreSQL database for one test file's store, dropped when the scope closes, so suites never
 * see each other's rows.
 */
export const freshStoreDatabase = Effect.gen(function* () {
  const name = `slowq_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = yield* PgClient.make({ url: Redacted.make(adminUrl), maxConnections: 1 }).pipe(
    Effect.provide(Reactivity.layer)
  )
  yield* admin.unsafe(`CREATE DATABASE ${name}`)
  yield* Effect.addFinalizer(() =>
    admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie)
  )
  return { name, url: urlFor(name) }
})
