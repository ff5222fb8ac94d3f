import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import mysql from "mysql2"
import { parseDocument } from "yaml"
import {
  allStatements,
  analyzeStatement,
  type Dialect,
  schemaStatements,
  seedStatements,
  seededCheck,
  statementsPerDeck
} from "../../scripts/lab/ShopMix.js"
import { fingerprintMysql, fingerprintPostgres } from "../../src/fingerprint/Fingerprinter.js"
import { loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"
import { type HttpDaemon, request, startHttpDaemon } from "../http/HttpDaemon.js"
import { projectRoot } from "../support/Cli.js"
import { runMariadb, truncateSlowLog } from "../support/Mariadb.js"
import { tempDir } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"
import { adminUrl, freshStoreDatabase } from "../support/StoreDatabase.js"

/**
 * The compose lab's topology without containers (no Docker engine runs here): the workload generator
 * (npm run lab:workload) → the local MariaDB and PostgreSQL (fresh databases) → `slowq run` with the lab pipelines
 * of pipelines/ (their URLs from LAB_MYSQL_URL and LAB_POSTGRES_URL, as docker-compose.yml sets them) → its HTTP API.
 *
 * The workload is seeded, so what the databases saw is known exactly: every statement shape of the shop's mix (a
 * deck of 100 requests holds them all), its schema and its seed. The pipelines run once at start and are then run
 * over the API once the load is stopped, so that each collects everything.
 */

const TOKEN = "lab-test-token-0123456789abcdef"
const RATE = 25

/** Every statement of the workload on a fresh database: schema, seed, then the whole mix. */
const workloadTexts = (dialect: Dialect): ReadonlyArray<string> => [
  ...schemaStatements(dialect),
  seededCheck,
  ...seedStatements(dialect),
  analyzeStatement(dialect),
  // mysql2 puts the values in the text (its query(sql, values)), as the slow log then holds it; pg sends them apart.
  ...allStatements(dialect).map((s) => (dialect === "mysql" ? mysql.format(s.sql, [...s.params]) : s.sql))
]

const queryIdOf = (dialect: Dialect, sql: string) =>
  dialect === "mysql" ? fingerprintMysql(sql).queryId : fingerprintPostgres(sql).queryId

/** The lab pipelines as they are, the PostgreSQL one kept to the test's database (the server is shared). */
const labPipelines = (postgresDatabase: string) => {
  const mariadb = readFileSync(join(projectRoot, "pipelines/lab_mariadb.yaml"), "utf8")
  const postgres = parseDocument(readFileSync(join(projectRoot, "pipelines/lab_postgres.yaml"), "utf8"))
  postgres.setIn(["source", "include_databases"], [postgresDatabase])
  return { "lab_mariadb.yaml": mariadb, "lab_postgres.yaml": postgres.toString() }
}

const getJson = (daemon: HttpDaemon, path: string) =>
  request(daemon, "GET", path, { token: TOKEN }).pipe(
    Effect.map((answer) => {
      if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${answer.text}`)
      return JSON.parse(answer.text) as unknown
    })
  )

interface RunView {
  readonly run: string
  readonly error: string | null
  readonly events_read: number
}

/** Runs a pipeline now (after the one in progress, if any) and waits for that run to finish. */
const runNow = (daemon: HttpDaemon, pipeline: string) =>
  Effect.gen(function* () {
    let run: string | undefined
    yield* eventually(
      `a run of ${pipeline} to start`,
      request(daemon, "POST", `/api/v1/pipelines/${pipeline}/run`, { token: TOKEN }).pipe(
        Effect.map((answer) => {
          if (answer.status === 202) run = (JSON.parse(answer.text) as { run: string }).run
          else if (answer.status !== 409) throw new Error(`POST run ${pipeline}: ${answer.status} ${answer.text}`)
          return answer.status === 202
        })
      ),
      "60 seconds"
    )
    let last: RunView | null = null
    yield* eventually(
      `run ${run} of ${pipeline} to finish`,
      getJson(daemon, `/api/v1/pipelines/${pipeline}`).pipe(
        Effect.map((view) => {
          last = (view as { last_run: RunView | null }).last_run
          return last?.run === run
        })
      ),
      "60 seconds"
    )
    return last! as RunView
  })

interface QueryRow {
  readonly id: string
  readonly plan_known: boolean
}

interface Finding {
  readonly query_id: string
  readonly rule: string
  readonly subject: string
  readonly severity: string
  readonly suggestion: { readonly kind: string; readonly ddl: string } | null
  readonly verified: { readonly cost_before: number; readonly cost_after: number } | null
}

interface QueryDetail {
  readonly explain: ReadonlyArray<{ readonly pipeline: string; readonly status: string }>
  readonly plans: ReadonlyArray<{ readonly plan: unknown }>
}

/** Collects a child's stdout as it comes. */
const output = (child: ChildProcess) => {
  let text = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8")
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8")
  })
  return () => text
}

describe("the compose lab without containers", () => {
  it.live(
    "workload → MariaDB and PostgreSQL → slowq run with the lab pipelines: fingerprints of both, plans, verified index advice",
    () =>
      Effect.gen(function* () {
        const started = Date.now()
        yield* Effect.promise(() => loadPostgresParser())
        const lab = `slowq_lab_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`
        const mysqlUrl = `mysql://root@127.0.0.1:3306/${lab}`
        const postgresUrl = (() => {
          const url = new URL(adminUrl)
          url.pathname = `/${lab}`
          return url.toString()
        })()

        // Fresh lab databases, dropped at the end (after the daemon and the workload have stopped: finalizers run
        // in reverse order).
        yield* truncateSlowLog
        yield* Effect.acquireRelease(runMariadb(`CREATE DATABASE ${lab}`), () =>
          runMariadb(`DROP DATABASE IF EXISTS ${lab}`).pipe(Effect.zipRight(truncateSlowLog), Effect.orDie)
        )
        const admin = yield* PgClient.make({ url: Redacted.make(adminUrl), maxConnections: 1 }).pipe(
          Effect.provide(Reactivity.layer)
        )
        yield* Effect.acquireRelease(admin.unsafe(`CREATE DATABASE ${lab}`), () =>
          admin.unsafe(`DROP DATABASE IF EXISTS ${lab} WITH (FORCE)`).pipe(Effect.orDie)
        )
        // As docker/lab-postgres/init.sql does in the lab database.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const db = yield* PgClient.make({ url: Redacted.make(postgresUrl), maxConnections: 1 }).pipe(
              Effect.provide(Reactivity.layer)
            )
            yield* db.unsafe("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            yield* db.unsafe("CREATE EXTENSION IF NOT EXISTS hypopg")
          })
        )
        // From the postgres database: pg_stat_statements forgets the lab database's statements so far (the above).
        yield* admin.unsafe("SELECT pg_stat_statements_reset(0, oid, 0) FROM pg_database WHERE datname = $1", [lab])
        const store = yield* freshStoreDatabase

        const daemon = yield* startHttpDaemon(labPipelines(lab), {
          SLOWQ_STORE_URL: store.url,
          SLOWQ_API_TOKEN: TOKEN,
          LAB_MYSQL_URL: mysqlUrl,
          LAB_POSTGRES_URL: postgresUrl
        })

        const statusFile = join(yield* tempDir("slowq-lab-"), "workload.status")
        // npm run lab:workload -- …, as its script runs it (tsx), without npm in between so that the signal is its own.
        const workload = yield* Effect.acquireRelease(
          Effect.sync(() =>
            spawn(
              process.execPath,
              [
                "--import",
                "tsx",
                "scripts/lab/main.ts",
                "--mysql",
                mysqlUrl,
                "--postgres",
                postgresUrl,
                "--rate",
                String(RATE),
                "--seed",
                "7",
                "--status-file",
                statusFile
              ],
              { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] }
            )
          ),
          (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
        )
        const workloadLog = output(workload)
        const exited = new Promise<number | null>((resolve) => workload.on("close", (code) => resolve(code)))
        // Until a report line shows a whole deck of each run: every statement shape has been sent.
        const report = /^lab:workload: \d+s {2}mysql \d+ statements in 10 s \(total (\d+), 0 failed\) {2}postgres \d+ statements in 10 s \(total (\d+), 0 failed\)$/gm
        yield* eventually(
          "the workload to report a whole deck sent to each database",
          Effect.sync(() =>
            [...workloadLog().matchAll(report)].some(
              (m) => Number(m[1]) >= statementsPerDeck("mysql") && Number(m[2]) >= statementsPerDeck("postgres")
            )
          ),
          "75 seconds"
        )
        // The compose lab's health check of the workload reads this file's age: it is written while the load runs.
        const status = JSON.parse(readFileSync(statusFile, "utf8")) as {
          databases: Record<string, { state: string; statements: number; failed: number }>
        }
        expect(Object.entries(status.databases).map(([db, d]) => [db, d.state, d.statements > 0, d.failed])).toEqual([
          ["mysql", "running", true, 0],
          ["postgres", "running", true, 0]
        ])
        workload.kill("SIGTERM")
        expect(yield* Effect.promise(() => exited)).toBe(0)
        const lines = workloadLog().trimEnd().split("\n")
        expect(lines[0]).toBe(`lab:workload: mysql and postgres: about ${RATE} statements/s each, seed 7, until SIGINT/SIGTERM`)
        expect(lines.filter((line) => line.includes("seeded the shop")).map((line) => line.replace(/[\d.]+ s$/, "X s")).sort()).toEqual([
          "lab:workload: mysql: seeded the shop in X s",
          "lab:workload: postgres: seeded the shop in X s"
        ])
        expect(lines.at(-2)).toBe("lab:workload: SIGTERM: stopping after the requests in flight")
        expect(lines.at(-1)).toMatch(/^lab:workload: stopped \(SIGTERM\) after [\d.]+ s: mysql \d+ statements \(0 failed\), postgres \d+ statements \(0 failed\)$/)
        const loadedAt = Date.now()

        // The image's HEALTHCHECK command, against this daemon.
        const health = spawnSync(process.execPath, ["docker/healthcheck.mjs"], {
          cwd: projectRoot,
          env: { PATH: process.env.PATH ?? "", SLOWQ_HTTP_ADDR: new URL(daemon.base).host },
          encoding: "utf8"
        })
        expect({ status: health.status, stderr: health.stderr }).toEqual({ status: 0, stderr: "" })

        // Each pipeline collects what is left, explains it and analyzes it.
        for (const pipeline of ["lab_mariadb", "lab_postgres"]) {
          const run = yield* runNow(daemon, pipeline)
          expect({ pipeline, error: run.error }).toEqual({ pipeline, error: null })
        }

        // Fingerprints from both databases: exactly the workload's statements (and the probe slowq's own MySQL
        // client sends untagged when it connects, LAB.md).
        for (const [pipeline, dialect] of [
          ["lab_mariadb", "mysql"],
          ["lab_postgres", "postgres"]
        ] as const) {
          const page = (yield* getJson(daemon, `/api/v1/queries?pipeline=${pipeline}&database=${lab}&limit=1000`)) as {
            queries: ReadonlyArray<QueryRow>
          }
          const ids = new Set(page.queries.map((q) => q.id))
          const expected = new Set(workloadTexts(dialect).map((sql) => queryIdOf(dialect, sql)))
          const probe = queryIdOf(dialect, "SELECT 1")
          expect({ pipeline, missing: [...expected].filter((id) => !ids.has(id)) }).toEqual({ pipeline, missing: [] })
          expect({ pipeline, unexpected: [...ids].filter((id) => !expected.has(id) && id !== probe) }).toEqual({
            pipeline,
            unexpected: []
          })
          expect(expected.size).toBe(dialect === "mysql" ? 28 : 30)
        }

        // A plan: the login by e-mail, a scan of the customers in both databases.
        const login = "SELECT id, name FROM customers WHERE email = ?"
        const mysqlLogin = queryIdOf("mysql", mysql.format(login, ["c1@example.com"]))
        const postgresLogin = queryIdOf("postgres", login.replace("?", "$1"))
        const mysqlDetail = (yield* getJson(daemon, `/api/v1/queries/${mysqlLogin}?samples=0`)) as QueryDetail
        expect(mysqlDetail.explain.map((e) => [e.pipeline, e.status])).toEqual([["lab_mariadb", "plan"]])
        // The pipeline's normalized sample policy keeps the names and takes the value out of the condition.
        expect(JSON.stringify(mysqlDetail.plans[0]!.plan)).toMatch(
          /"table_name":"customers","access_type":"ALL","attached_condition":"customers\.email = \?"/
        )
        const postgresDetail = (yield* getJson(daemon, `/api/v1/queries/${postgresLogin}?samples=0`)) as QueryDetail
        expect(postgresDetail.explain.map((e) => [e.pipeline, e.status])).toEqual([["lab_postgres", "plan"]])
        expect(JSON.stringify(postgresDetail.plans[0]!.plan)).toMatch(/"Node Type":"Seq Scan",.*"Relation Name":"customers"/)

        // Index advice: HypoPG proves on PostgreSQL the index each unindexed filter needs, and the prefix search's.
        const pgAdvice = (
          (yield* getJson(daemon, "/api/v1/findings?pipeline=lab_postgres&rule=pg_index_suggestion&limit=1000")) as {
            findings: ReadonlyArray<Finding>
          }
        ).findings
        expect(pgAdvice.filter((f) => f.verified !== null).map((f) => f.subject).sort()).toEqual([
          "customers(email)",
          "order_items(product_id)",
          "orders(created_at)",
          "products(title)"
        ])
        for (const finding of pgAdvice.filter((f) => f.verified !== null)) {
          expect({ subject: finding.subject, severity: finding.severity, halved: finding.verified!.cost_after * 2 <= finding.verified!.cost_before }).toEqual({
            subject: finding.subject,
            severity: "warn",
            halved: true
          })
        }
        const loginAdvice = pgAdvice.find((f) => f.query_id === postgresLogin)
        expect(loginAdvice?.suggestion).toEqual({ kind: "create_index", ddl: "CREATE INDEX CONCURRENTLY ON public.customers (email);" })
        // On MariaDB the lab pipeline has no sandbox: the same indexes are suggested, unverified.
        const myAdvice = (
          (yield* getJson(daemon, "/api/v1/findings?pipeline=lab_mariadb&rule=mysql_index_suggestion&limit=1000")) as {
            findings: ReadonlyArray<Finding>
          }
        ).findings
        for (const subject of ["customers(email)", "order_items(product_id)", "orders(created_at)"]) {
          expect(myAdvice.filter((f) => f.subject === subject).map((f) => [f.severity, f.verified])).toContainEqual(["info", null])
        }
        console.log(
          `lab test: load ${((loadedAt - started) / 1000).toFixed(1)} s, runs and checks ${((Date.now() - loadedAt) / 1000).toFixed(1)} s\n${lines.join("\n")}`
        )
      }).pipe(Effect.scoped),
    150_000
  )
})
