import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runCli } from "../support/Cli.js"
import { runMariadb } from "../support/Mariadb.js"
import { mariadbPipeline, pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient, totalsMismatches } from "../support/StoreQueries.js"

// pt-query-digest 3.x: the whole MD5 of the fingerprint, upper case (older versions printed its last 16 digits).
const queryId = (fingerprint: string) => createHash("md5").update(fingerprint).digest("hex").toUpperCase()
/** The reference: Percona Toolkit's own fingerprint of a statement (pt-fingerprint 3.2.1 exits 1 even on success). */
const ptFingerprint = (sql: string) => {
  const run = spawnSync("pt-fingerprint", ["--query", sql], { encoding: "utf8" })
  if (run.stdout === "") throw new Error(`pt-fingerprint gave nothing for ${sql}: ${run.stderr}`)
  return run.stdout.trimEnd()
}

describe("mysql.slow_log → fingerprint → store, through the CLI", () => {
  it.live(
    "stores every statement exactly once with its fingerprint and exact times; a second run writes nothing",
    () =>
      Effect.gen(function* () {
        const marker = `e2e_${Date.now().toString(36)}`
        const table = `test.slowq_${marker}`
        yield* runMariadb(
          [
            `CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(50));`,
            `INSERT INTO ${table} /* ${marker} */ VALUES (1, 'a'), (2, 'b');`,
            `SELECT /* ${marker} */ name FROM ${table} WHERE id = 1;`,
            `SELECT /* ${marker} */ name FROM ${table} WHERE id = 2;`,
            // Two statements sharing one start_time, to the microsecond.
            "SET timestamp = 1700000000.123456;",
            `SELECT /* ${marker} shared */ 1 AS ${marker};`,
            `SELECT /* ${marker} shared */ 2 AS ${marker};`,
            `DROP TABLE ${table};`
          ].join("\n")
        )
        // A literal that is not UTF-8 (latin1 é, 0xFF): the server stores what it can, slowq must not choke.
        yield* runMariadb(Buffer.concat([Buffer.from(`SET NAMES binary; SELECT /* ${marker} bytes */ 'caf`), Buffer.from([0xe9, 0x20, 0xff]), Buffer.from(`' AS ${marker};\n`)]))
        const expected = (yield* runMariadb(
          `SELECT CAST(CAST(UNIX_TIMESTAMP(start_time) * 1000000 AS DECIMAL(20, 0)) AS CHAR), CAST(TIME_TO_SEC(query_time) * 1000 AS CHAR),
                  rows_sent, rows_examined, thread_id, HEX(sql_text)
           FROM mysql.slow_log WHERE sql_text LIKE '%${marker}%' AND sql_text NOT LIKE '%mysql.slow_log%'
           ORDER BY start_time, sql_text`
        ))
          .trim()
          .split("\n")
          .map((line) => {
            const [startUs, queryMs, rowsSent, rowsExamined, threadId, hex] = line.split("\t")
            return {
              start_us: startUs!,
              query_time_ms: Number(queryMs),
              rows_sent: Number(rowsSent),
              rows_examined: Number(rowsExamined),
              thread_id: threadId!,
              sql_text: Buffer.from(hex!, "hex").toString("utf8")
            }
          })
        expect(expected.length).toBe(8)

        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "e2e.yaml": mariadbPipeline("e2e_lab") })
        const env = { SLOWQ_STORE_URL: store.url }
        const first = yield* runCli(["once", "e2e_lab", "--pipelines", dir], env)
        expect(first.stderr).not.toContain("level=ERROR")
        expect(first.code).toBe(0)
        expect(first.stdout).toMatch(/^e2e_lab {2}ok {2}events=\d+ new_fingerprints=\d+ written=\d+ duplicates=0 dropped=0 duration_ms=\d+\n$/)

        const shape = (sample: string, calls: number, type: string) => {
          const fingerprint = ptFingerprint(sample)
          return { fingerprint, query_id: queryId(fingerprint), calls: String(calls), statement_type: type }
        }
        const t = `test.slowq_${marker}`
        const shapes = [
          shape(`CREATE TABLE ${t} (id INT PRIMARY KEY, name VARCHAR(50))`, 1, "ddl"),
          shape(`DROP TABLE ${t}`, 1, "ddl"),
          shape(`INSERT INTO ${t} VALUES (1, 'a'), (2, 'b')`, 1, "insert"),
          shape(`SELECT 1 AS ${marker}`, 3, "select"),
          shape(`SELECT name FROM ${t} WHERE id = 1`, 2, "select")
        ].sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1))
        const ids = shapes.map((s) => s.query_id)

        // Events carry no text: the test's are those of its five queries, each with the slow log row's figures.
        const sql = yield* storeClient(store.url)
        const stored = yield* sql.unsafe<Record<string, unknown>>(
          `SELECT event_key, start_us::text AS start_us, query_time_ms, rows_sent, rows_examined, thread_id::text AS thread_id
           FROM slowq_events WHERE pipeline = 'e2e_lab' AND query_id = ANY($1)`,
          [ids]
        )
        const figures = (row: Record<string, unknown>) =>
          JSON.stringify([row.start_us, row.query_time_ms, row.rows_sent, row.rows_examined, row.thread_id])
        expect(stored.map(figures).sort()).toEqual(expected.map(figures).sort())

        // The texts are the samples (the hour's first and slowest of each query): exactly as the server logged them,
        // non-UTF-8 bytes made storable, each that of the event it was taken from.
        const samples = yield* sql.unsafe<{ event_key: string; sql_text: string }>(
          `SELECT event_key, sql_text FROM slowq_samples WHERE pipeline = 'e2e_lab' AND query_id = ANY($1)`,
          [ids]
        )
        const startOf = new Map(stored.map((row) => [row.event_key as string, row.start_us as string]))
        for (const sample of samples) {
          const texts = expected.filter((e) => e.start_us === startOf.get(sample.event_key)).map((e) => e.sql_text)
          expect(texts).toContain(sample.sql_text)
        }
        const sampled = new Set(samples.map((s) => s.sql_text))
        for (const text of expected.map((e) => e.sql_text)) {
          if (/CREATE TABLE|DROP TABLE|INSERT INTO|bytes/.test(text)) expect([text, sampled.has(text)]).toEqual([text, true])
        }

        const fingerprints = yield* sql.unsafe<{ fingerprint: string; query_id: string; calls: string; statement_type: string }>(
          `SELECT q.fingerprint, q.query_id, q.calls::text AS calls, q.statement_type FROM slowq_queries q
           WHERE q.pipeline = 'e2e_lab' AND q.query_id = ANY($1)
           ORDER BY q.fingerprint`,
          [ids]
        )
        expect(fingerprints).toEqual(shapes)
        expect(yield* totalsMismatches(sql)).toEqual([])

        const second = yield* runCli(["once", "e2e_lab", "--pipelines", dir], env)
        expect(second.code).toBe(0)
        expect(second.stdout).toMatch(/^e2e_lab {2}ok {2}events=\d+ new_fingerprints=0 written=\d+ duplicates=\d+/)
        const again = yield* sql.unsafe<{ n: string }>(
          `SELECT count(*)::text AS n FROM slowq_events WHERE pipeline = 'e2e_lab' AND query_id = ANY($1)`,
          [ids]
        )
        expect(again).toEqual([{ n: "8" }])
        expect(yield* totalsMismatches(sql)).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )
})
