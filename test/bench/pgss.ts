/**
 * npm run bench:pgss [-- STATEMENTS [long]]
 *
 * Poll cost of the postgres_pg_stat_statements source on a server holding STATEMENTS (default 5,000) distinct
 * statements: 100 tables of 50 columns in a scratch database, one statement shape per (table, column).
 * Measures the server side (the snapshot query with showtext := false, the same with showtext := true, the text
 * read for 1 / 100 / all ids) and the source's whole poll (build excluded) with and without texts to read.
 * `long` makes every statement select all 50 columns under long aliases (about 2 KB of text each, as ORMs write
 * them), to see how the text file's size weighs.
 *
 * It starts a throwaway cluster of its own (pg_stat_statements.max = 10000), so that filling pg_stat_statements
 * evicts nothing of the shared local server's; set SLOWQ_BENCH_PG_URL to an admin URL to use another server.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Option, Schema, Stream } from "effect"
import { Config } from "../../plugins/postgres_pg_stat_statements/config.js"
import { layer } from "../../plugins/postgres_pg_stat_statements/PgStatStatementsSource.js"
import { pgClient, throwawayCluster, urlFor } from "../../plugins/postgres_pg_stat_statements/PgTestSupport.js"
import * as Queries from "../../plugins/postgres_pg_stat_statements/queries.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"

const statements = Number(process.argv[2] ?? 5000)
const long = process.argv[3] === "long"
const TABLES = 100
const COLUMNS = Math.ceil(statements / TABLES)
const REPEAT = 15

const shapes = (): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let t = 0; out.length < statements && t < TABLES; t++) {
    for (let c = 1; out.length < statements && c <= COLUMNS; c++) {
      const picked = long
        ? Array.from({ length: COLUMNS }, (_, i) => `c${i + 1} AS bench_table_${t}_column_number_${i + 1}`)
        : Array.from({ length: 6 }, (_, i) => `c${((c + i * 7) % COLUMNS) + 1}`)
      out.push(
        `SELECT ${picked.join(", ")}, count(*) OVER () AS total FROM bench_t${t} WHERE c${c} = 1 AND c${(c % COLUMNS) + 1} IS NOT NULL ORDER BY 2 DESC LIMIT 10`
      )
    }
  }
  return out
}

const stats = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { median: at(0.5), p90: at(0.9), min: sorted[0]! }
}

const ms = (value: number) => `${value.toFixed(1)} ms`

const timeIt = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timed(effect).pipe(Effect.map(([duration, value]) => [Duration.toMillis(duration), value] as const))

const program = Effect.gen(function* () {
  const base = process.env.SLOWQ_BENCH_PG_URL
  const adminUrl =
    base ??
    (yield* throwawayCluster({
      shared_preload_libraries: "pg_stat_statements",
      "pg_stat_statements.max": "10000",
      "pg_stat_statements.track": "top",
      shared_buffers: "128MB"
    })).url()
  const database = `slowq_bench_pgss_${Date.now().toString(36)}`
  const admin = yield* pgClient(adminUrl)
  yield* admin.unsafe(`CREATE DATABASE ${database}`)
  yield* Effect.addFinalizer(() => admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).pipe(Effect.ignore))
  const url = urlFor(adminUrl, database)
  const sql = yield* pgClient(url)
  yield* sql.unsafe("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
  const columnList = Array.from({ length: COLUMNS }, (_, i) => `c${i + 1} int`).join(", ")
  for (let t = 0; t < TABLES; t++) yield* sql.unsafe(`CREATE TABLE bench_t${t} (${columnList})`)
  const all = shapes()
  const runAll = Effect.forEach(
    Array.from({ length: Math.ceil(all.length / 500) }, (_, i) => all.slice(i * 500, i * 500 + 500)),
    (chunk) => sql.unsafe(chunk.join(";\n")),
    { discard: true }
  )
  process.stdout.write(`running ${all.length} distinct statements… `)
  yield* runAll
  const { entries, text_bytes } = ((yield* sql.unsafe(
    "SELECT count(*)::int AS entries, sum(length(query))::int AS text_bytes FROM pg_stat_statements"
  )) as unknown as ReadonlyArray<{ entries: number; text_bytes: number }>)[0]!
  console.log(`${entries} entries in pg_stat_statements, ${(text_bytes / 1024).toFixed(0)} KiB of query text`)

  // Server side: the source's own statements, timed from the client.
  const { schema } = ((yield* sql.unsafe(
    "SELECT n.nspname::text AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'"
  )) as unknown as ReadonlyArray<{ schema: string }>)[0]!
  const names = (yield* sql.unsafe(Queries.columns, [schema])) as unknown as ReadonlyArray<{ name: string }>
  const columns = Queries.columnSet(new Set(names.map((n) => n.name)))
  const snapshotSql = Queries.snapshot(schema, columns)
  const ids = (yield* sql.unsafe("SELECT queryid::text AS id, dbid FROM pg_stat_statements")) as unknown as ReadonlyArray<{
    id: string
    dbid: number
  }>
  const dbids = [...new Set(ids.map((row) => row.dbid))]
  const serverOnly = (text: string) => `SELECT sum(length(x::text)) FROM (${text}) x`
  const withText = snapshotSql.replace("pg_stat_statements(false)", "pg_stat_statements(true)")
  const scope = [[], [], false]
  const server: Array<readonly [string, Effect.Effect<unknown, unknown>]> = [
    ["snapshot, showtext := false, as the source reads it (every poll)", sql.unsafe(snapshotSql, scope)],
    ["  the same, server only (rows rendered as text there, one value sent)", sql.unsafe(serverOnly(snapshotSql), scope)],
    ["snapshot, showtext := true (the text file is read, texts not sent)", sql.unsafe(withText, scope)],
    ["  the same, server only", sql.unsafe(serverOnly(withText), scope)],
    ["every text, sent to the client (SELECT queryid, query … (true))", sql.unsafe(`SELECT queryid, query FROM ${Queries.quoteIdent(schema)}.pg_stat_statements(true)`)],
    ["text read of the source, 1 id", sql.unsafe(Queries.texts(schema), [ids.slice(0, 1).map((r) => r.id), dbids])],
    ["text read of the source, 100 ids", sql.unsafe(Queries.texts(schema), [ids.slice(0, 100).map((r) => r.id), dbids])],
    [`text read of the source, all ${ids.length} ids`, sql.unsafe(Queries.texts(schema), [ids.map((r) => r.id), dbids])]
  ]
  const serverRows: Array<string> = []
  for (const [what, effect] of server) {
    const samples: Array<number> = []
    for (let i = 0; i < REPEAT; i++) samples.push((yield* timeIt(effect))[0])
    const s = stats(samples)
    serverRows.push(`| ${what} | ${ms(s.median)} | ${ms(s.p90)} |`)
  }

  // The source's poll (layer built once, as a run builds it once): decode, queries, deltas, events, checkpoint.
  // Each checkpoint is then upserted as the store does (jsonb parameter, one row per pipeline), to see what its
  // size costs on every poll.
  yield* sql.unsafe("CREATE TABLE bench_checkpoints (pipeline text PRIMARY KEY, checkpoint jsonb NOT NULL)")
  const storeCheckpoint = (checkpoint: unknown) =>
    sql.unsafe(
      "INSERT INTO bench_checkpoints VALUES ('bench', $1::jsonb) ON CONFLICT (pipeline) DO UPDATE SET checkpoint = excluded.checkpoint",
      [JSON.stringify(checkpoint)]
    )
  const pollRows: Array<string> = []
  const hot = all.slice(0, 200)
  const runHot = sql.unsafe(hot.join(";\n"))
  const measure = (label: string, input: Record<string, unknown>, activity: "all" | "hot" | "none") =>
    Effect.gen(function* () {
      const config = yield* Schema.decodeUnknown(Config)({
        type: "postgres_pg_stat_statements",
        url,
        include_databases: [database],
        ...input
      })
      yield* Effect.gen(function* () {
        const source = yield* SlowQuerySource
        const poll = (checkpoint: Option.Option<unknown>) =>
          Stream.runCollect(source.read(checkpoint)).pipe(
            Effect.map((chunk) => Array.from(chunk)[0]!),
            Effect.orDie
          )
        // Warm up: a baseline, then one poll so that the source's own statements have their texts cached. The
        // baseline's texts are dropped first, as an hour without activity drops them in a running pipeline: the
        // steady state caches the statements that keep coming back, not everything the baseline saw once.
        const baseline = (yield* poll(Option.none())).checkpoint as Record<string, unknown>
        let checkpoint: unknown = (yield* poll(Option.some({ ...baseline, texts: [] }))).checkpoint
        const samples: Array<number> = []
        const writes: Array<number> = []
        let events = 0
        let size = 0
        for (let i = 0; i < REPEAT; i++) {
          if (activity === "all") yield* runAll
          if (activity === "hot") yield* runHot
          const [took, batch] = yield* timeIt(poll(Option.some(checkpoint)))
          samples.push(took)
          writes.push((yield* timeIt(Effect.orDie(storeCheckpoint(batch.checkpoint))))[0])
          checkpoint = batch.checkpoint
          events = batch.events.length
          size = JSON.stringify(checkpoint).length
        }
        const s = stats(samples)
        pollRows.push(
          `| ${label} | ${events} | ${ms(s.median)} | ${ms(s.p90)} | ${(size / 1024).toFixed(0)} KiB | ${ms(stats(writes).median)} |`
        )
      }).pipe(Effect.provide(layer(config)))
    })

  const first = yield* Effect.gen(function* () {
    const config = yield* Schema.decodeUnknown(Config)({ type: "postgres_pg_stat_statements", url, include_databases: [database] })
    return yield* Effect.gen(function* () {
      const source = yield* SlowQuerySource
      return yield* timeIt(Stream.runCollect(source.read(Option.none())).pipe(Effect.map((c) => Array.from(c)[0]!)))
    }).pipe(Effect.provide(layer(config)))
  })
  pollRows.push(
    `| first poll ever: baseline, every text read | ${first[1].events.length} | ${ms(first[0])} | – | ${(JSON.stringify(first[1].checkpoint).length / 1024).toFixed(0)} KiB | – |`
  )
  yield* measure("all active, every text in the checkpoint (text_cache_bytes: 16 MiB)", { text_cache_bytes: 16 * 1024 * 1024 }, "all")
  yield* measure("all active, default text_cache_bytes (1 MiB)", {}, "all")
  yield* measure("all active, no text cache: texts read every poll (text_cache_bytes: 0)", { text_cache_bytes: 0 }, "all")
  yield* measure("200 hot statements active, default text_cache_bytes (1 MiB)", {}, "hot")
  yield* measure("200 hot statements active, no text cache (text_cache_bytes: 0)", { text_cache_bytes: 0 }, "hot")
  yield* measure("idle (only slowq's own statements ran)", {}, "none")

  console.log("")
  console.log(`Server side, ${entries} entries (${REPEAT} runs each):`)
  console.log("")
  console.log("| statement | median | p90 |")
  console.log("|---|---|---|")
  for (const row of serverRows) console.log(row)
  console.log("")
  console.log(`Source poll (read() of one run, connection already open; ${REPEAT} polls each):`)
  console.log("")
  console.log("| poll | events | median | p90 | checkpoint | storing it (median) |")
  console.log("|---|---|---|---|---|---|")
  for (const row of pollRows) console.log(row)
})

NodeRuntime.runMain(program.pipe(Effect.scoped))
