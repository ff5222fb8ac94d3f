import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Schema, Stream } from "effect"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { type FingerprintOptions, Fingerprinter } from "../../src/fingerprint/Fingerprinter.js"
import { makeFingerprintStep } from "../../src/pipeline/FingerprintStep.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"

// The step only reads the source's dialect and fingerprinter: the source itself is never built here.
const specOf = (dialect: "mysql" | "postgres", fingerprint?: FingerprintOptions): PipelineSpec => ({
  name: "test",
  file: "test.yaml",
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: {
    plugin: defineSource({
      type: `${dialect}_test`,
      description: "Never read.",
      dialect,
      config: Schema.Struct({ type: Schema.String }),
      layer: () => Layer.succeed(SlowQuerySource, { read: () => Stream.empty })
    }),
    config: { type: `${dialect}_test` }
  },
  stages: [],
  sink: { type: "store", samples: "raw" },
  ...(fingerprint === undefined ? {} : { fingerprint })
})

const collected = (sqlText: string, key = sqlText): SlowQueryEvent =>
  makeEvent({ key, startTimeUs: 1_700_000_000_000_000, queryTimeMs: 12.5, sqlText })

const runStage = (fingerprint: FingerprintOptions | undefined, dialect: "mysql" | "postgres", events: ReadonlyArray<SlowQueryEvent>) =>
  Effect.gen(function* () {
    const step = yield* makeFingerprintStep(specOf(dialect, fingerprint), yield* Fingerprinter)
    return yield* step(events)
  }).pipe(Effect.scoped, Effect.provide(Fingerprinter.layer))

describe("the runtime's fingerprint step (SQL engine)", () => {
  it.effect("sets pt-query-digest's fingerprint on MySQL events and keeps the events as they were", () =>
    Effect.gen(function* () {
      const input = [collected("SELECT * FROM users_2009 WHERE id = 5", "a"), collected("select * from  users_2010\n where id = 7", "b")]
      const out = yield* runStage(undefined, "mysql", input)
      expect(out.map((e) => e.event)).toEqual(input)
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
      const out = yield* runStage({ matchEmbeddedNumbers: true }, "mysql", [
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
      const out = yield* runStage(undefined, "postgres", [
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
      const out = yield* runStage(undefined, "mysql", input)
      expect(out.length).toBe(5000)
      expect(out.map((e) => e.event.key)).toEqual(input.map((e) => e.key))
      expect(new Set(out.map((e) => e.fingerprint?.fingerprint))).toEqual(
        new Set(["select * from t where id = ?", "select * from tx where id = ?"])
      )
    })
  )
})
