import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, JSONSchema, Option, Schema } from "effect"
import { parse } from "yaml"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { PipelineStage } from "../../src/plugin/PipelineStage.js"
import type { StageContext } from "../../src/plugin/Plugin.js"
import type { StageMemory } from "../../src/plugin/StageMemory.js"
import { Config } from "./config.js"
import { plugin } from "./index.js"

const decode = Schema.decodeUnknownEither(Config)

// The stage remembers nothing: a memory that would fail the test if it were used.
const memory: StageMemory = {
  get: () => Effect.die("the fingerprint stage must not read stage memory"),
  set: () => Effect.die("the fingerprint stage must not write stage memory")
}

const context = (dialect: "mysql" | "postgres"): StageContext => ({
  pipeline: "test",
  memory,
  source: {
    type: dialect === "mysql" ? "mysql_slow_log_table" : "postgres_pg_stat_statements",
    dialect,
    config: {},
    connection: Option.none()
  }
})

const collected = (sqlText: string, key = sqlText): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs: 1_700_000_000_000_000, queryTimeMs: 12.5, sqlText })
})

const runStage = (config: unknown, dialect: "mysql" | "postgres", events: ReadonlyArray<CollectedEvent>) =>
  Effect.gen(function* () {
    const stage = yield* PipelineStage
    return yield* stage.process(events)
  }).pipe(Effect.provide(plugin.layer(config, context(dialect))))

describe("fingerprint config", () => {
  it("decodes the sample pipeline's stage with the default filled in", () => {
    const document: unknown = parse(readFileSync(new URL("./sample.yaml", import.meta.url), "utf8"))
    expect(document).toEqual({
      name: "sample_fingerprint",
      schedule: { every: "30s" },
      source: { type: "mysql_slow_log_table", url: "mysql://root@127.0.0.1:3306/test" },
      stages: [{ type: "fingerprint" }]
    })
    const stage = (document as { readonly stages: ReadonlyArray<unknown> }).stages[0]
    expect(Either.getOrThrow(decode(stage))).toEqual({ type: "fingerprint", match_embedded_numbers: false })
    expect(Either.isRight(Schema.decodeUnknownEither(plugin.config)(stage))).toBe(true)
  })

  it("takes match_embedded_numbers and refuses what is not a boolean", () => {
    expect(Either.getOrThrow(decode({ type: "fingerprint", match_embedded_numbers: true }))).toEqual({
      type: "fingerprint",
      match_embedded_numbers: true
    })
    expect(Either.isLeft(decode({ type: "fingerprint", match_embedded_numbers: "yes" }))).toBe(true)
    expect(Either.isLeft(decode({ type: "explain" }))).toBe(true)
  })

  it("documents every field", () => {
    const schema = JSONSchema.make(Config) as { properties: Record<string, { description?: string }> }
    expect(Object.keys(schema.properties).sort()).toEqual(["match_embedded_numbers", "type"])
    for (const [name, field] of Object.entries(schema.properties)) {
      expect([name, typeof field.description]).toEqual([name, "string"])
    }
  })
})

describe("fingerprint stage", () => {
  it.effect("sets pt-query-digest's fingerprint on MySQL events and keeps the events as they were", () =>
    Effect.gen(function* () {
      const input = [collected("SELECT * FROM users_2009 WHERE id = 5", "a"), collected("select * from  users_2010\n where id = 7", "b")]
      const out = yield* runStage({ type: "fingerprint" }, "mysql", input)
      expect(out.map((e) => e.event)).toEqual(input.map((e) => e.event))
      // MD5 of the fingerprint, uppercase, as pt-query-digest's make_checksum.
      const expected = {
        fingerprint: "select * from users_? where id = ?",
        queryId: "A901BC30AB118D7024D849C15063B847",
        statementType: "select",
        readOnly: true,
        multiStatement: false,
        truncated: false,
        tags: {},
        parser: "tokenizer"
      }
      expect(out.map((e) => e.fingerprint)).toEqual([
        { ...expected, tables: ["users_2009"] },
        { ...expected, tables: ["users_2010"] }
      ])
    })
  )

  it.effect("keeps embedded numbers when configured to", () =>
    Effect.gen(function* () {
      const out = yield* runStage({ type: "fingerprint", match_embedded_numbers: true }, "mysql", [
        collected("SELECT * FROM users_2009 WHERE id = 5")
      ])
      expect([out[0]!.fingerprint?.fingerprint, out[0]!.fingerprint?.queryId]).toEqual([
        "select * from users_2009 where id = ?",
        "02D7031D628565185E482D5A1F42446F"
      ])
    })
  )

  it.effect("uses the source's dialect: PostgreSQL statements get libpg_query's id", () =>
    Effect.gen(function* () {
      const out = yield* runStage({ type: "fingerprint" }, "postgres", [
        collected("SELECT * FROM users WHERE id = 5 AND name = 'bob'", "a"),
        collected("select * from users where id = $1 and name = $2", "b"),
        collected("SELECT * FROM users WHERE id = 'cut", "c")
      ])
      expect(out.map((e) => [e.fingerprint?.queryId, e.fingerprint?.parser, e.fingerprint?.truncated])).toEqual([
        ["eb6afdd7040bea4c", "libpg_query", false],
        ["eb6afdd7040bea4c", "libpg_query", false],
        [out[2]!.fingerprint!.queryId, "tokenizer_fallback", true]
      ])
      expect(out[2]!.fingerprint!.queryId).toMatch(/^[0-9a-f]{16}$/)
    })
  )

  it.effect("handles a large batch in order", () =>
    Effect.gen(function* () {
      const input = Array.from({ length: 5000 }, (_, i) => collected(`SELECT * FROM t${i % 3 === 0 ? "" : "x"} WHERE id = ${i}`, `k${i}`))
      const out = yield* runStage({ type: "fingerprint" }, "mysql", input)
      expect(out.length).toBe(5000)
      expect(out.map((e) => e.event.key)).toEqual(input.map((e) => e.event.key))
      expect(new Set(out.map((e) => e.fingerprint?.fingerprint))).toEqual(
        new Set(["select * from t where id = ?", "select * from tx where id = ?"])
      )
    })
  )
})
