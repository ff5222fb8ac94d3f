import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { validate } from "@readme/openapi-parser"
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeSlowqApi, QueryDetail, QueryList } from "../../src/http/Api.js"
import { startHttpApi } from "../../src/http/HttpApiServer.js"
import type { HttpApiSettings } from "../../src/http/HttpApiSettings.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { Supervisor } from "../../src/pipeline/Supervisor.js"
import { type AnyEnrichment, attach, type Enrichment, type QueryRef } from "../../src/plugin/Enrichment.js"
import { defineStage, type PluginRegistry, Plugins } from "../../src/plugin/Plugin.js"
import { PipelineStage } from "../../src/plugin/PipelineStage.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { QueryListItem, QueryStats } from "../../src/store/QueryReads.js"
import { storeLayerFromUrl } from "../../src/store/StoreLive.js"
import { tempDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { sampleValue } from "./PrometheusText.js"
import { selectEvent } from "../support/CollectedEvents.js"

// A stage that is not slowq's: "sizes" measures statement texts and keeps the largest per query in its own table.
// Defined here and registered like any plugin, it adds a field to the query list, one to the query detail and a
// gauge to /metrics, all documented in the OpenAPI document, with no edit under src/.

const undecodable = (cause: unknown) => new SqlError({ cause, message: "unexpected row from slowq_sizes" })

const SizeRow = Schema.Struct({
  pipeline: Schema.String,
  bytes: Schema.Number.annotations({ description: "Longest statement text seen in this pipeline, bytes." }),
  measured_at: Schema.Date.annotations({ description: "When that statement started." })
}).annotations({ identifier: "Size" })

const Largest = Schema.Struct({ largest_bytes: Schema.NullOr(Schema.Number) })

const sizes: Enrichment<number> = {
  name: "sizes",
  migrations: {
    "0001_sizes": Effect.flatMap(
      SqlClient.SqlClient,
      (sql) => sql`CREATE TABLE slowq_sizes (
        pipeline text NOT NULL, query_id text NOT NULL, bytes float8 NOT NULL, measured_at timestamptz NOT NULL,
        PRIMARY KEY (pipeline, query_id))`
    )
  },
  write: (pipeline, attached) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.forEach(
        attached,
        ({ event, value }) =>
          sql`INSERT INTO slowq_sizes VALUES (${pipeline}, ${event.fingerprint.queryId}, ${value},
            ${new Date(event.event.startTimeUs / 1000).toISOString()}::timestamptz)
            ON CONFLICT (pipeline, query_id) DO UPDATE SET bytes = excluded.bytes, measured_at = excluded.measured_at
            WHERE excluded.bytes > slowq_sizes.bytes`,
        { discard: true }
      )
    ),
  list: {
    fields: {
      largest_bytes: Schema.NullOr(Schema.Number).annotations({
        description: "Longest statement text of the query seen in its pipeline, bytes; null if never measured."
      })
    },
    read: (queries: ReadonlyArray<QueryRef>) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql
          .unsafe(
            `SELECT s.bytes AS largest_bytes
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(pipeline, id, n)
             LEFT JOIN slowq_sizes s ON s.pipeline = i.pipeline AND s.query_id = i.id
             ORDER BY i.n`,
            [queries.map((q) => q.pipeline), queries.map((q) => q.id)]
          )
          .pipe(Effect.flatMap((rows) => Effect.mapError(Schema.decodeUnknown(Schema.Array(Largest))(rows), undecodable)))
      )
  },
  detail: {
    fields: { sizes: Schema.Array(SizeRow).annotations({ description: "The longest text per pipeline." }) },
    read: (id, pipelines) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql
          .unsafe(
            "SELECT pipeline, bytes, measured_at FROM slowq_sizes WHERE query_id = $1 AND pipeline = ANY($2::text[]) ORDER BY pipeline",
            [id, [...pipelines]]
          )
          .pipe(
            Effect.flatMap((rows) => Effect.mapError(Schema.decodeUnknown(Schema.Array(Schema.typeSchema(SizeRow)))(rows), undecodable)),
            Effect.map((rows) => ({ sizes: rows }))
          )
      )
  },
  metrics: Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql
      .unsafe("SELECT pipeline, max(bytes) AS bytes FROM slowq_sizes GROUP BY pipeline ORDER BY pipeline")
      .pipe(
        Effect.flatMap((rows) =>
          Effect.mapError(Schema.decodeUnknown(Schema.Array(Schema.Struct({ pipeline: Schema.String, bytes: Schema.Number })))(rows), undecodable)
        ),
        Effect.map((rows) => [
          {
            name: "slowq_sizes_largest_bytes",
            help: "Longest statement text seen, per pipeline.",
            samples: rows.map((row) => ({ labels: [["pipeline", row.pipeline] as const], value: row.bytes }))
          }
        ])
      )
  )
}

const stageWith = (enrichments: ReadonlyArray<AnyEnrichment>) =>
  defineStage({
    type: "sizes",
    description: "Measures statement texts (a test stage).",
    config: Schema.Struct({ type: Schema.Literal("sizes") }),
    layer: () =>
      Layer.succeed(PipelineStage, {
        process: (events) =>
          Effect.succeed({ events: events.map((e) => attach(e, sizes, e.event.sqlText.length)), remember: [] })
      }),
    enrichments
  })

const registry = (enrichments: ReadonlyArray<AnyEnrichment>): PluginRegistry => ({
  sources: [],
  stages: [stageWith(enrichments)]
})

const t0Us = 1_700_000_000_000_000 // 2023-11-14T22:13:20Z
const at = (seconds: number) => new Date(t0Us / 1000 + seconds * 1000)

const event = (key: string, queryId: string, seconds: number, sqlText: string) =>
  selectEvent(key, queryId, t0Us + seconds * 1_000_000, 10, { event: { sqlText }, fingerprint: `select ${queryId.toLowerCase()}` })
const measured = (e: CollectedEvent) => attach(e, sizes, e.event.sqlText.length)

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
    return { status: response.status, text: await response.text() }
  })

const withField = (name: string, extra: Partial<Enrichment<unknown>>): AnyEnrichment => ({
  name,
  migrations: {},
  write: () => Effect.void,
  ...extra
})
const field = (name: string) => ({ fields: { [name]: Schema.Number }, read: () => Effect.succeed([]) })
/** Two enrichments whose detail fields are both named `bytes`. */
const colliding = [
  withField("sizes", { detail: { ...field("bytes"), read: () => Effect.succeed({}) } }),
  withField("weights", { detail: { ...field("bytes"), read: () => Effect.succeed({}) } })
]

describe("an enrichment of a stage defined outside src/", () => {
  it.live(
    "adds its fields to the query answers, its gauge to /metrics, and its schemas to the OpenAPI document",
    () =>
      Effect.gen(function* () {
        const db = yield* freshStoreDatabase
        const store = storeLayerFromUrl(Redacted.make(db.url), [sizes])
        const daemon = Supervisor.layer.pipe(Layer.provideMerge(Runner.layer), Layer.provideMerge(store))
        yield* Effect.gen(function* () {
          const writer = yield* EventWriter
          yield* writer.writeBatch(
            "sz_a",
            "mysql",
            [measured(event("a1", "QSIZE", 0, "select 1")), measured(event("a2", "QSIZE", 5, "select 100")), event("a3", "QPLAIN", 9, "select x")],
            { n: 1 }
          )
          yield* writer.writeBatch("sz_b", "mysql", [measured(event("b1", "QSIZE", 20, "select 10000"))], { n: 1 })
          const address = yield* startHttpApi(settings, [])
          const base = `http://${address}`

          const list = yield* get(base, "/api/v1/queries?order=calls")
          expect(list.status).toBe(200)
          const page = JSON.parse(list.text)
          expect(page.queries.map((q: Record<string, unknown>) => [q.pipeline, q.id, q.calls, q.largest_bytes])).toEqual([
            ["sz_a", "QSIZE", 2, 10],
            ["sz_a", "QPLAIN", 1, null],
            ["sz_b", "QSIZE", 1, 12]
          ])
          // Its field after the core's, which are unchanged.
          expect(Object.keys(page.queries[0])).toEqual([...Object.keys(QueryListItem.fields), "largest_bytes"])
          expect(Schema.decodeUnknownSync(QueryList)(page).queries.map((q) => q.total_ms)).toEqual([20, 10, 10])

          const detail = yield* get(base, "/api/v1/queries/QSIZE")
          expect(detail.status).toBe(200)
          const described = JSON.parse(detail.text)
          expect(described.sizes).toEqual([
            { pipeline: "sz_a", bytes: 10, measured_at: at(5).toISOString() },
            { pipeline: "sz_b", bytes: 12, measured_at: at(20).toISOString() }
          ])
          expect(Object.keys(described)).toEqual([...Object.keys(QueryStats.fields), "sizes", "series", "samples"])
          expect(Schema.decodeUnknownSync(QueryDetail)(described).pipelines).toEqual(["sz_a", "sz_b"])
          const inB = JSON.parse((yield* get(base, "/api/v1/queries/QSIZE?pipeline=sz_b")).text)
          expect(inB.sizes).toEqual([{ pipeline: "sz_b", bytes: 12, measured_at: at(20).toISOString() }])
          expect(JSON.parse((yield* get(base, "/api/v1/queries/QPLAIN")).text).sizes).toEqual([])

          const metrics = (yield* get(base, "/metrics")).text
          expect(metrics).toContain("# HELP slowq_sizes_largest_bytes Longest statement text seen, per pipeline.\n# TYPE slowq_sizes_largest_bytes gauge\n")
          expect([
            sampleValue(metrics, "slowq_sizes_largest_bytes", { pipeline: "sz_a" }),
            sampleValue(metrics, "slowq_sizes_largest_bytes", { pipeline: "sz_b" })
          ]).toEqual([10, 12])

          const document = (yield* get(base, "/openapi.json")).text
          const file = join(yield* tempDir("slowq-openapi-"), "openapi.json")
          writeFileSync(file, document)
          expect(yield* Effect.promise(() => validate(file))).toEqual({ valid: true, warnings: [], specification: "OpenAPI" })
          const spec = JSON.parse(document)
          const schemas = spec.components.schemas
          expect(schemas.QueryListItem.properties.largest_bytes).toEqual({
            anyOf: [{ type: "number" }, { type: "null" }],
            description: "Longest statement text of the query seen in its pipeline, bytes; null if never measured."
          })
          expect(schemas.QueryListItem.required).toContain("largest_bytes")
          expect(schemas.QueryDetail.properties.sizes).toEqual({
            type: "array",
            items: { $ref: "#/components/schemas/Size" },
            description: "The longest text per pipeline."
          })
          expect(schemas.Size).toEqual({
            type: "object",
            required: ["pipeline", "bytes", "measured_at"],
            properties: {
              pipeline: { type: "string" },
              bytes: { type: "number", description: "Longest statement text seen in this pipeline, bytes." },
              // Effect documents a Date as a reference to its string encoding (the description stays on the type side).
              measured_at: { $ref: "#/components/schemas/DateFromString" }
            },
            additionalProperties: false
          })

          // Through the server's start, as `slowq run` meets it: a start error before anything listens.
          const refused = yield* startHttpApi(settings, []).pipe(Effect.provideService(Plugins, registry(colliding)), Effect.flip)
          expect([refused._tag, refused.message]).toEqual([
            "HttpApiStartError",
            "cannot serve the HTTP API: enrichment weights declares the field bytes of GET /api/v1/queries/{id}, which enrichment sizes declares already: each field of an answer has one owner"
          ])
        }).pipe(Effect.provide(Layer.merge(daemon, Layer.succeed(Plugins, registry([sizes])))))
      }).pipe(Effect.scoped),
    60_000
  )

  it("a field that another one already names refuses the API before it serves", () => {
      const core = makeSlowqApi([withField("sizes", { list: field("bytes") }), withField("counts", { list: field("calls") })])
      expect(Either.isLeft(core) && core.left.message).toBe(
        "enrichment counts declares the field calls of GET /api/v1/queries, which is a core field: each field of an answer has one owner"
      )
      const tail = makeSlowqApi([withField("sizes", { detail: { ...field("series"), read: () => Effect.succeed({}) } })])
      expect(Either.isLeft(tail) && tail.left.message).toBe(
        "enrichment sizes declares the field series of GET /api/v1/queries/{id}, which is a core field: each field of an answer has one owner"
      )
      const other = makeSlowqApi(colliding)
      expect(Either.isLeft(other) && [other.left.enrichment, other.left.field, other.left.message]).toEqual([
        "weights",
        "bytes",
        "enrichment weights declares the field bytes of GET /api/v1/queries/{id}, which enrichment sizes declares already: each field of an answer has one owner"
      ])
      // The same field in the list of one and the detail of another is no collision: they are different answers.
      expect(Either.isRight(makeSlowqApi([withField("sizes", { list: field("bytes") }), colliding[0]!]))).toBe(true)
  })
})
