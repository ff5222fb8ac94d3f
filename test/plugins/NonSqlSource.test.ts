import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, HashMap, Layer, Logger, LogLevel, Metric, Schema, Stream } from "effect"
import type { Fingerprinted } from "../../src/domain/Fingerprint.js"
import { makeEvent, type SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { stageEventsSkipped } from "../../src/pipeline/PipelineMetrics.js"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { Fingerprinting } from "../../src/plugin/EventFingerprinter.js"
import { PipelineStage, StageError } from "../../src/plugin/PipelineStage.js"
import { defineSource, defineStage } from "../../src/plugin/Plugin.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// A source of a dialect slowq's SQL engine does not know, written the way a plugin author would, entirely outside
// src/: Redis commands, grouped by command name and key prefix. Nothing under src/ knows "redis".

const reads = new Set(["GET", "HGETALL", "MGET"])

/** `GET user:1001` and `get user:2002` are one group, `GET user:?`; the values never matter. */
const redisFingerprint = (event: SlowQueryEvent): Fingerprinted => {
  const [command = "", key = ""] = event.sqlText.trim().split(/\s+/)
  const name = command.toUpperCase()
  const prefix = key.split(":")[0] ?? ""
  const fingerprint = key === "" ? name : `${name} ${prefix}:?`
  return {
    fingerprint,
    queryId: createHash("md5").update(fingerprint).digest("hex").slice(0, 16),
    statementType: reads.has(name) ? "select" : "update",
    readOnly: reads.has(name),
    tables: key === "" ? [] : [prefix],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "redis_command"
  }
}

const commands = [
  ["k1", "GET user:1001", 2.5],
  ["k2", "get user:2002", 1.5],
  ["k3", "SET session:9f2c 1", 0.5],
  ["k4", "HGETALL cart:77", 4]
] as const

const redisSlowlog = defineSource({
  type: "redis_slowlog",
  description: "test double of a Redis SLOWLOG reader",
  dialect: "redis",
  fingerprinter: Fingerprinting.own(redisFingerprint),
  config: Schema.Struct({ type: Schema.Literal("redis_slowlog") }),
  layer: () =>
    Layer.succeed(SlowQuerySource, {
      read: () =>
        Stream.make({
          events: commands.map(([key, sqlText, queryTimeMs], i) =>
            makeEvent({ key, startTimeUs: 1_700_000_000_000_000 + i, queryTimeMs, sqlText })
          ),
          checkpoint: { id: 4 }
        })
    })
})

// An explain-like stage: SQL only. Building it for this pipeline would fail the run.
const sqlOnly = defineStage({
  type: "sql_only",
  description: "test double of a SQL-only stage",
  dialects: ["mysql", "postgres"],
  config: Schema.Struct({ type: Schema.Literal("sql_only") }),
  layer: () => Layer.fail(new StageError({ stage: "sql_only", message: "built for a pipeline of another dialect" }))
})

// A stage for every dialect, after it: it sees the events as the source and fingerprinter left them.
const seen: Array<string> = []
const tally = defineStage({
  type: "tally",
  description: "test double of a stage for every dialect",
  config: Schema.Struct({ type: Schema.Literal("tally") }),
  layer: () =>
    Layer.succeed(PipelineStage, {
      process: (events) =>
        Effect.sync(() => {
          for (const e of events) seen.push(`${e.event.key} ${e.fingerprint.fingerprint}`)
          return { events, remember: [] }
        })
    })
})

const spec: PipelineSpec = {
  name: "cache_slowlog",
  file: "cache_slowlog.yaml",
  schedule: { _tag: "Every", every: Duration.hours(1), text: "1h" },
  source: { plugin: redisSlowlog, config: { type: "redis_slowlog" } },
  stages: [
    { plugin: sqlOnly, config: { type: "sql_only" } },
    { plugin: tally, config: { type: "tally" } }
  ],
  sink: { type: "store", samples: "raw" }
}

describe("a source of a non-SQL dialect, defined outside src/", () => {
  it.scoped("is fingerprinted by its own fingerprinter and stored; a SQL-only stage is passed by, counted", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      const sql = yield* storeClient(db.url)
      const logged: Array<{ readonly message: unknown; readonly annotations: Record<string, unknown> }> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ annotations, message }) => {
          logged.push({ message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
        })
      )
      const summary = yield* Effect.gen(function* () {
        const runner = yield* Runner
        return yield* runner.runOnce(spec)
      }).pipe(
        Effect.provide(Runner.layer.pipe(Layer.provide(storeAt(db.url)))),
        Effect.provide(capture),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      expect([summary.eventsRead, summary.rowsWritten, summary.newFingerprints]).toEqual([4, 4, 3])

      expect(
        yield* sql.unsafe(
          `SELECT query_id, fingerprint, dialect, statement_type, read_only, tables, events::int, calls::int, total_ms
           FROM slowq_queries WHERE pipeline = 'cache_slowlog' ORDER BY fingerprint`
        )
      ).toEqual([
        {
          query_id: "f58b365c445e0cd2",
          fingerprint: "GET user:?",
          dialect: "redis",
          statement_type: "select",
          read_only: true,
          tables: ["user"],
          events: 2,
          calls: 2,
          total_ms: 4
        },
        {
          query_id: "3cb7996558ff4b51",
          fingerprint: "HGETALL cart:?",
          dialect: "redis",
          statement_type: "select",
          read_only: true,
          tables: ["cart"],
          events: 1,
          calls: 1,
          total_ms: 4
        },
        {
          query_id: "fc9b793bf264a896",
          fingerprint: "SET session:?",
          dialect: "redis",
          statement_type: "update",
          read_only: false,
          tables: ["session"],
          events: 1,
          calls: 1,
          total_ms: 0.5
        }
      ])
      expect(
        yield* sql.unsafe(`SELECT event_key, query_id FROM slowq_events WHERE pipeline = 'cache_slowlog' ORDER BY event_key`)
      ).toEqual([
        { event_key: "k1", query_id: "f58b365c445e0cd2" },
        { event_key: "k2", query_id: "f58b365c445e0cd2" },
        { event_key: "k3", query_id: "fc9b793bf264a896" },
        { event_key: "k4", query_id: "3cb7996558ff4b51" }
      ])
      // The statements as the source gave them, kept as samples (the sample policy is raw).
      expect(
        yield* sql.unsafe(`SELECT event_key, kind, sql_text FROM slowq_samples WHERE pipeline = 'cache_slowlog' ORDER BY event_key, kind`)
      ).toEqual([
        { event_key: "k1", kind: "first", sql_text: "GET user:1001" },
        { event_key: "k1", kind: "slowest", sql_text: "GET user:1001" },
        { event_key: "k3", kind: "first", sql_text: "SET session:9f2c 1" },
        { event_key: "k3", kind: "slowest", sql_text: "SET session:9f2c 1" },
        { event_key: "k4", kind: "first", sql_text: "HGETALL cart:77" },
        { event_key: "k4", kind: "slowest", sql_text: "HGETALL cart:77" }
      ])
      expect(yield* sql.unsafe(`SELECT checkpoint FROM slowq_checkpoints WHERE pipeline = 'cache_slowlog'`)).toEqual([
        { checkpoint: { id: 4 } }
      ])

      // The stage for every dialect ran; the SQL-only one was never built, and its four events are counted.
      expect(seen).toEqual(["k1 GET user:?", "k2 GET user:?", "k3 SET session:?", "k4 HGETALL cart:?"])
      expect((yield* Metric.value(stageEventsSkipped("cache_slowlog", "sql_only", "dialect"))).count).toBe(4)
      expect((yield* Metric.value(stageEventsSkipped("cache_slowlog", "tally", "dialect"))).count).toBe(0)
      const annotationsOf = (text: string) =>
        logged.filter((entry) => [entry.message].flat().includes(text)).map((entry) => entry.annotations)
      expect(annotationsOf("batch stored").map((a) => [a.events, a.events_skipped])).toEqual([[4, 4]])
      expect(annotationsOf("run finished").map((a) => [a.stages_skipped, a.events_skipped])).toEqual([["sql_only", 4]])
    })
  )
})
