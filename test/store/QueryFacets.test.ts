import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { makeEvent } from "../../src/domain/SlowQueryEvent.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { type ListQueriesOptions, QueryReads } from "../../src/store/QueryReads.js"
import migration0014 from "../../src/store/migrations/0014_query_facets.js"
import { StoreClient } from "../../src/store/StoreClient.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// Each query's databases and users (slowq_queries.databases / users, migration 0014): written with its events, from
// the events really inserted; the filters and the rows_examined order of the rankings, all time and over a window
// (the walk and the aggregate), with their totals; the facets; and a store upgraded to them.

const at = (time: string) => new Date(`2024-05-01T${time}Z`)

const event = (
  key: string,
  queryId: string,
  time: string,
  queryTimeMs: number,
  rowsExamined: number,
  db: string | null,
  user: string | null
): CollectedEvent => ({
  event: makeEvent({ key, startTimeUs: at(time).getTime() * 1000, queryTimeMs, rowsExamined, sqlText: `select ${key}`, db, user }),
  fingerprint: {
    fingerprint: `select ${queryId.toLowerCase()}`,
    queryId,
    statementType: queryId === "DDDD" ? "delete" : "select",
    readOnly: queryId !== "DDDD",
    tables: [],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})

// p1 reads a MySQL slow log (user_host as the server writes it), p2 pg_stat_statements (the role's name).
const p1 = [
  event("a1", "AAAA", "10:00:00", 100, 1000, "shop", "app[app] @ web-1 [10.0.0.7]"),
  event("a2", "AAAA", "10:40:00", 40, 3000, "billing", "report[report] @  [10.0.0.9]"),
  event("b1", "BBBB", "11:00:00", 50, 5000, "shop", "app[app] @ localhost []"),
  event("c1", "CCCC", "09:00:00", 300, 100, null, "[SQL_SLAVE] @  []"),
  event("c2", "CCCC", "10:30:00", 1, 1, "analytics", null),
  event("d1", "DDDD", "10:10:00", 5, 0, "", "")
]
const p2 = [event("e1", "EEEE", "10:20:00", 20, 20, "shop", "app@corp")]

const setsOf = Effect.gen(function* () {
  const { sql } = yield* StoreClient
  return yield* sql.unsafe<{ pipeline: string; query_id: string; databases: Array<string>; users: Array<string> }>(
    "SELECT pipeline, query_id, databases, users FROM slowq_queries ORDER BY pipeline, query_id"
  )
})

const expectedSets = [
  { pipeline: "p1", query_id: "AAAA", databases: ["billing", "shop"], users: ["app", "report"] },
  { pipeline: "p1", query_id: "BBBB", databases: ["shop"], users: ["app"] },
  { pipeline: "p1", query_id: "CCCC", databases: ["analytics"], users: ["[SQL_SLAVE]"] },
  { pipeline: "p1", query_id: "DDDD", databases: [], users: [] },
  { pipeline: "p2", query_id: "EEEE", databases: ["shop"], users: ["app@corp"] }
]

const seed = Effect.gen(function* () {
  const writer = yield* EventWriter
  yield* writer.writeBatch("p1", "mysql", p1, { n: 1 })
  yield* writer.writeBatch("p2", "postgres", p2, { n: 1 })
})

const window = { since: at("10:00:00"), until: at("12:00:00") }

describe("a query's databases and users", () => {
  it.live("are the sets of its inserted events' db and account name; a replay changes none", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* seed
        expect(yield* setsOf).toEqual(expectedSets)
        // A replay of a1 that came with another database and user (a stored key is not inserted again) and of b1:
        // nothing is counted, no set grows.
        const { sql } = yield* StoreClient
        const totals = "SELECT query_id, events::int, total_ms, rows_examined FROM slowq_queries ORDER BY pipeline, query_id"
        const before = yield* sql.unsafe(totals)
        const replay = [event("a1", "AAAA", "10:00:00", 100, 1000, "other", "intruder[intruder] @ x []"), p1[2]!]
        const result = yield* (yield* EventWriter).writeBatch("p1", "mysql", replay, { n: 2 })
        expect(result.inserted).toBe(0)
        expect(yield* setsOf).toEqual(expectedSets)
        expect(yield* sql.unsafe(totals)).toEqual(before)
        // A new event adds its names, in byte order.
        yield* (yield* EventWriter).writeBatch(
          "p1",
          "mysql",
          [event("b2", "BBBB", "11:30:00", 1, 1, "Archive", "batch[batch] @ cron-1 [10.0.0.3]  Id:    12")],
          { n: 3 }
        )
        expect((yield* setsOf)[1]).toEqual({ pipeline: "p1", query_id: "BBBB", databases: ["Archive", "shop"], users: ["app", "batch"] })
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )

  it.live("keep at most 64 names, the first in byte order, whatever order the batches came in", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        const writer = yield* EventWriter
        const names = Array.from({ length: 70 }, (_, i) => `db${String(i).padStart(2, "0")}`)
        const ev = (i: number) => event(`f${i}`, "FFFF", "10:00:00", 1, 1, names[i]!, `u${names[i]}[x] @ h []`)
        // db35 to db69 first (one batch), then db00 to db34 in two.
        yield* writer.writeBatch("p1", "mysql", names.slice(35).map((_, i) => ev(35 + i)), { n: 1 })
        yield* writer.writeBatch("p1", "mysql", names.slice(20, 35).map((_, i) => ev(20 + i)), { n: 2 })
        yield* writer.writeBatch("p1", "mysql", names.slice(0, 20).map((_, i) => ev(i)), { n: 3 })
        const [row] = yield* setsOf
        expect(row!.databases).toEqual(names.slice(0, 64))
        expect(row!.users).toEqual(names.slice(0, 64).map((n) => `u${n}`))
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )

  it.live("filter the rankings and rank by rows examined: all time, a window (walk and aggregate), totals", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* seed
        const reads = yield* QueryReads
        const page = (options: Partial<ListQueriesOptions>) =>
          Effect.map(
            reads.listQueries({ order: "total_ms", limit: 10, offset: 0, withTotals: true, ...options }),
            (p) => ({ rows: p.queries.map((q) => [q.pipeline, q.id, q.total_ms, q.rows_examined]), totals: p.totals })
          )
        // All time.
        expect(yield* page({ database: "shop" })).toEqual({
          rows: [
            ["p1", "AAAA", 140, 4000],
            ["p1", "BBBB", 50, 5000],
            ["p2", "EEEE", 20, 20]
          ],
          totals: { total_ms: 210, calls: 4 }
        })
        expect(yield* page({ user: "app" })).toEqual({
          rows: [
            ["p1", "AAAA", 140, 4000],
            ["p1", "BBBB", 50, 5000]
          ],
          totals: { total_ms: 190, calls: 3 }
        })
        expect(yield* page({ database: "billing", user: "report" })).toEqual({
          rows: [["p1", "AAAA", 140, 4000]],
          totals: { total_ms: 140, calls: 2 }
        })
        expect(yield* page({ database: "shop", user: "report", pipeline: "p2" })).toEqual({
          rows: [],
          totals: { total_ms: 0, calls: 0 }
        })
        expect(yield* page({ order: "rows_examined" })).toEqual({
          rows: [
            ["p1", "BBBB", 50, 5000],
            ["p1", "AAAA", 140, 4000],
            ["p1", "CCCC", 301, 101],
            ["p2", "EEEE", 20, 20],
            ["p1", "DDDD", 5, 0]
          ],
          totals: { total_ms: 516, calls: 7 }
        })
        expect(yield* page({ order: "rows_examined", database: "shop", limit: 2 })).toEqual({
          rows: [
            ["p1", "BBBB", 50, 5000],
            ["p1", "AAAA", 140, 4000]
          ],
          totals: { total_ms: 210, calls: 4 }
        })
        // [10:00, 12:00): c1 (09:00) is out. A page of 10 is walked; one of 300 (past the walk's 250 rows) aggregated.
        for (const limit of [10, 300]) {
          expect(yield* page({ ...window, limit, user: "[SQL_SLAVE]" })).toEqual({
            rows: [["p1", "CCCC", 1, 1]],
            totals: { total_ms: 1, calls: 1 }
          })
          expect(yield* page({ ...window, limit, order: "rows_examined" })).toEqual({
            rows: [
              ["p1", "BBBB", 50, 5000],
              ["p1", "AAAA", 140, 4000],
              ["p2", "EEEE", 20, 20],
              ["p1", "CCCC", 1, 1],
              ["p1", "DDDD", 5, 0]
            ],
            totals: { total_ms: 216, calls: 6 }
          })
          expect(yield* page({ ...window, limit, database: "shop", order: "rows_examined" })).toEqual({
            rows: [
              ["p1", "BBBB", 50, 5000],
              ["p1", "AAAA", 140, 4000],
              ["p2", "EEEE", 20, 20]
            ],
            totals: { total_ms: 210, calls: 4 }
          })
          expect(yield* page({ ...window, limit, database: "shop", user: "app" })).toEqual({
            rows: [
              ["p1", "AAAA", 140, 4000],
              ["p1", "BBBB", 50, 5000]
            ],
            totals: { total_ms: 190, calls: 3 }
          })
        }
        // 10:30 to 11:00: a2 and c2 only; BBBB (all time the first by rows examined) is quiet.
        const narrow = { since: at("10:30:00"), until: at("11:00:00") }
        for (const limit of [10, 300]) {
          expect(yield* page({ ...narrow, limit, order: "rows_examined" })).toEqual({
            rows: [
              ["p1", "AAAA", 40, 3000],
              ["p1", "CCCC", 1, 1]
            ],
            totals: { total_ms: 41, calls: 2 }
          })
          expect(yield* page({ ...narrow, limit, database: "shop" })).toEqual({
            rows: [["p1", "AAAA", 40, 3000]],
            totals: { total_ms: 40, calls: 1 }
          })
        }
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )

  it.live("are listed with their fingerprints' counts, for the filters' choices", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* seed
        const reads = yield* QueryReads
        expect(yield* reads.queryFacets({})).toEqual({
          databases: [
            { name: "analytics", queries: 1 },
            { name: "billing", queries: 1 },
            { name: "shop", queries: 3 }
          ],
          users: [
            { name: "[SQL_SLAVE]", queries: 1 },
            { name: "app", queries: 2 },
            { name: "app@corp", queries: 1 },
            { name: "report", queries: 1 }
          ],
          statement_types: [
            { name: "delete", queries: 1 },
            { name: "select", queries: 4 }
          ]
        })
        expect(yield* reads.queryFacets({ pipeline: "p2" })).toEqual({
          databases: [{ name: "shop", queries: 1 }],
          users: [{ name: "app@corp", queries: 1 }],
          statement_types: [{ name: "select", queries: 1 }]
        })
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped)
  )

  it.live("a store from before them is upgraded: every row kept, the sets taken from its events", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        yield* seed
      }).pipe(Effect.provide(storeAt(db.url)))
      // Back to the schema before migration 0014: no sets, no functions, no rows_examined index. The migration is
      // then run by itself, as the migrator runs it (the later ones, already applied, stay as they are).
      const sql = yield* storeClient(db.url)
      yield* sql.unsafe("ALTER TABLE slowq_queries DROP COLUMN databases, DROP COLUMN users")
      yield* sql.unsafe("DROP INDEX slowq_queries_rows_examined")
      yield* sql.unsafe("DROP FUNCTION slowq_account_name(text, text)")
      yield* sql.unsafe("DROP FUNCTION slowq_name_set_merge(text[], text[])")
      const rows = "SELECT * FROM slowq_queries ORDER BY pipeline, query_id"
      const before = yield* sql.unsafe<Record<string, unknown>>(rows)
      const events = yield* sql.unsafe("SELECT * FROM slowq_events ORDER BY pipeline, event_key")
      expect(before.length).toBe(5)
      yield* sql.withTransaction(migration0014.pipe(Effect.provideService(SqlClient.SqlClient, sql)))
      yield* Effect.gen(function* () {
        expect(yield* setsOf).toEqual(expectedSets)
        // And writes go on with them.
        yield* (yield* EventWriter).writeBatch("p2", "postgres", [event("e2", "EEEE", "10:50:00", 1, 1, "crm", "ops")], { n: 2 })
        expect((yield* setsOf)[4]).toEqual({ pipeline: "p2", query_id: "EEEE", databases: ["crm", "shop"], users: ["app@corp", "ops"] })
      }).pipe(Effect.provide(storeAt(db.url)))
      const after = yield* sql.unsafe<Record<string, unknown>>(rows)
      // Every column but the new ones as before (EEEE aside, which the last batch wrote to).
      expect(after.slice(0, 4).map(({ databases: _d, users: _u, ...rest }) => rest)).toEqual(before.slice(0, 4))
      expect((yield* sql.unsafe("SELECT * FROM slowq_events ORDER BY pipeline, event_key")).slice(0, 7)).toEqual(events)
      expect(
        yield* sql.unsafe("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'slowq_queries_%' ORDER BY indexname")
      ).toContainEqual({ indexname: "slowq_queries_rows_examined" })
    }).pipe(Effect.scoped)
  )
})
