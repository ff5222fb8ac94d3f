import { appendFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, Option, type Scope } from "effect"
import type { PipelineSpec } from "../../src/pipeline/PipelineSpec.js"
import { Runner } from "../../src/pipeline/Runner.js"
import { slowLogFileSpec, tempDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

/** One entry as MariaDB 10.11 writes it to its slow log file (copied from the lab server's log, values changed). */
const entry = (seconds: number, statement: string, threadId = 18) =>
  `# User@Host: root[root] @  [127.0.0.1]\n# Thread_id: ${threadId}  Schema: shop  QC_hit: No\n` +
  `# Query_time: 0.000814  Lock_time: 0.000071  Rows_sent: 1  Rows_examined: 115\n# Rows_affected: 0  Bytes_sent: 0\n` +
  `SET timestamp=${1796603360 + seconds};\n${statement};\n`

/**
 * What the explain stage sends on MariaDB for one statement (plugins/explain/MysqlExplainer.ts), as the slow log of
 * the server it explains on records it: with `explain_url` on the logged server, these lines follow the statement.
 */
const explainOf = (seconds: number, statement: string) =>
  [
    "/* slowq */ SET SESSION max_statement_time = 10, lock_wait_timeout = 1, innodb_lock_wait_timeout = 1, idle_readonly_transaction_timeout = 12",
    "/* slowq */ START TRANSACTION READ ONLY",
    `/* slowq */ EXPLAIN FORMAT=JSON ${statement}`,
    "/* slowq */ ROLLBACK",
    "/* slowq */ SELECT RELEASE_ALL_LOCKS()"
  ]
    .map((text) => entry(seconds, text, 19))
    .join("")

/** Runs a pipeline once and returns its summary with the `events_own` its "run finished" line reported. */
const runCountingOwn = (runner: Runner["Type"], spec: PipelineSpec, run: string) =>
  Effect.gen(function* () {
    const own: Array<unknown> = []
    const logger = Logger.make(({ message, annotations }) => {
      if (String(message) === "run finished") own.push(Option.getOrUndefined(HashMap.get(annotations, "events_own")))
    })
    const summary = yield* runner.runOnce(spec, run).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { summary, own }
  })

const storeWith = <A, E>(body: (url: string) => Effect.Effect<A, E, Runner | Scope.Scope>) =>
  Effect.gen(function* () {
    const db = yield* freshStoreDatabase
    const layer = Runner.layer.pipe(Layer.provideMerge(storeAt(db.url)))
    return yield* body(db.url).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped)

describe("slowq's own statements", () => {
  it.live("a slow log file with slowq's own EXPLAIN stores only the application's statements, and the checkpoint moves past it", () =>
    storeWith((url) =>
      Effect.gen(function* () {
        const dir = yield* tempDir("slowq-own-")
        const path = join(dir, "slow.log")
        const statement = "SELECT * FROM orders WHERE id = 5"
        writeFileSync(
          path,
          `# Time: 261207  0:29:22\n${entry(0, statement)}${entry(1, "SELECT '/* slowq */' AS tag")}${explainOf(2, statement)}`
        )
        const spec = slowLogFileSpec("own", path)
        const runner = yield* Runner
        const sql = yield* storeClient(url)
        const storedTexts = sql
          // One query per statement here, so its hour's first sample is its one event.
          .unsafe<{ sql_text: string }>(`SELECT sql_text FROM slowq_samples WHERE kind = 'first' ORDER BY start_time, sql_text`)
          .pipe(Effect.map((rows) => rows.map((row) => row.sql_text)))

        const { summary: first, own } = yield* runCountingOwn(runner, spec, "r1")
        // The explain stage's five statements: counted apart, and neither read nor stored.
        expect(own).toEqual([5])
        expect([first.eventsRead, first.rowsWritten, first.duplicates, first.eventsDropped]).toEqual([2, 2, 0, 0])
        // The marker inside a string literal is the application's.
        expect(yield* storedTexts).toEqual([statement, "SELECT '/* slowq */' AS tag"])

        // The own statements were the file's last entries: the next run starts after them and reads only the new one.
        appendFileSync(path, entry(3, "SELECT 2 AS after"))
        const { summary: next, own: ownNext } = yield* runCountingOwn(runner, spec, "r2")
        expect([next.eventsRead, next.rowsWritten, next.duplicates, next.eventsDropped]).toEqual([1, 1, 0, 0])
        expect(ownNext).toEqual([0])
        expect(yield* storedTexts).toEqual([statement, "SELECT '/* slowq */' AS tag", "SELECT 2 AS after"])
      })
    )
  )
})
