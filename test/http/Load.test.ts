import { type ChildProcess, spawn } from "node:child_process"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { mariadbPipeline } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"
import { runCommand } from "../support/Process.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { type HttpDaemon, request, startHttpDaemon } from "./HttpDaemon.js"
import { sampleValue } from "./PrometheusText.js"

// The HTTP API under a flood of connections, on a store of 20,000 fingerprints: store reads are bounded and
// queued, a full queue answers 503 with Retry-After, probes stay fast, and a request whose client left stops its
// work at once. The one pipeline reads a closed port: it never writes, so the store is the API's alone.

class Daemon extends Context.Tag("test/http/Load/Daemon")<Daemon, HttpDaemon & { readonly storeDb: string }>() {}

const DaemonLive = Layer.scoped(
  Daemon,
  Effect.gen(function* () {
    const store = yield* freshStoreDatabase
    const daemon = yield* startHttpDaemon(
      { "down.yaml": mariadbPipeline("load_down", { every: "1h", url: "mysql://root@127.0.0.1:1/test" }) },
      { SLOWQ_STORE_URL: store.url }
    )
    // The daemon has migrated the store by the time it serves.
    yield* psql(
      store.name,
      `INSERT INTO slowq_queries (pipeline, query_id, fingerprint, dialect, statement_type, read_only, tables, first_seen,
         last_seen, events, calls, total_ms, max_ms, lock_ms, rows_sent, rows_examined, rows_affected, sample)
       SELECT 'load_seed', upper(lpad(to_hex(q), 16, '0')), 'select * from t_' || q || ' where id = ?', 'mysql', 'select',
         true, ARRAY['shop.t_' || q], now() - interval '1 day', now(), q % 7 + 1, q % 7 + 1, q * 1.5, q, 0, 0, q, 0,
         'SELECT * FROM t_' || q || ' WHERE id = 1'
       FROM generate_series(1, 20000) q; ANALYZE slowq_queries;`
    )
    return { ...daemon, storeDb: store.name }
  })
)

const psql = (database: string, sql: string) =>
  runCommand("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-At", "-c", sql])

const metric = (name: string, labels: Record<string, string> = {}) =>
  Effect.flatMap(Daemon, (daemon) => request(daemon, "GET", "/metrics")).pipe(
    Effect.map((answer) => sampleValue(answer.text, name, labels))
  )

/**
 * A monitoring agent's connection: kept alive, opened before the flood; a container health check opens a new
 * connection per probe (`agent: false`). Both must be answered; how fast is the benchmark's to measure
 * (npm run bench:http), not a test's on a shared machine.
 */
const probeAgent = new Http.Agent({ keepAlive: true, maxSockets: 1 })

interface ProbeAnswer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** One GET on the probe's kept-alive connection or on a new one: its status, headers and body. */
const probe = (base: string, path: string, connection: "keep-alive" | "new" = "keep-alive") =>
  Effect.async<ProbeAnswer>((resume) => {
    const req = Http.get(`${base}${path}`, { agent: connection === "new" ? false : probeAgent }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        body += chunk
      })
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body })))
    })
    req.on("error", () => resume(Effect.succeed({ status: 0, headers: {}, body: "" })))
  })

const LoadResult = Schema.parseJson(
  Schema.Struct({
    statuses: Schema.Record({ key: Schema.String, value: Schema.Number }),
    withoutRetryAfter: Schema.Number,
    errors: Schema.Number,
    timeouts: Schema.Number
  })
)

/** autocannon in a child process (see LoadClient.ts), so that its work does not delay this process's probes. */
const load = (url: string, connections: number, seconds: number) =>
  runCommand(process.execPath, [
    "--import",
    "tsx",
    fileURLToPath(new URL("./LoadClient.ts", import.meta.url)),
    url,
    String(connections),
    String(seconds)
  ]).pipe(Effect.map((stdout) => Schema.decodeUnknownSync(LoadResult)(stdout.trim())))

layer(DaemonLive, { timeout: "120 seconds", excludeTestServices: true })("the HTTP API under load", (it) => {
  it.effect("300 connections: 200 or 503 with Retry-After, never 500; every /healthz and /readyz probe is answered 200", () =>
    Effect.gen(function* () {
      const daemon = yield* Daemon
      // Ordered by average: a sort over every fingerprint, slow enough for the queue to fill.
      yield* probe(daemon.base, "/healthz")
      const flood = yield* Effect.fork(load(`${daemon.base}/api/v1/queries?limit=50&order=avg_ms`, 300, 5))
      // The probes start once the load has (autocannon takes a moment to open its connections).
      yield* Effect.sleep("1500 millis")
      const probes = yield* Effect.forEach(
        Array.from({ length: 10 }),
        () =>
          Effect.all([
            probe(daemon.base, "/healthz"),
            probe(daemon.base, "/readyz"),
            probe(daemon.base, "/healthz", "new"),
            probe(daemon.base, "/readyz", "new")
          ]).pipe(Effect.zipLeft(Effect.sleep("100 millis"))),
        { concurrency: 1 }
      )
      const result = yield* flood
      expect([result.errors, result.timeouts, result.withoutRetryAfter]).toEqual([0, 0, 0])
      expect(Object.keys(result.statuses).sort()).toEqual(["200", "503"])
      expect(result.statuses["200"]).toBeGreaterThan(0)
      expect(result.statuses["503"]).toBeGreaterThan(0)
      // Answered by Node before the API (Admission.ts), with the API's own bodies and headers.
      const answers = probes.flat().map((answer) => [
        answer.status,
        answer.body,
        answer.headers["content-type"],
        answer.headers["cache-control"],
        answer.headers["x-content-type-options"]
      ])
      const health = [200, '{"status":"ok"}', "application/json", "no-store", "nosniff"]
      const ready = [200, '{"status":"ready","store":true,"pipelines":1}', "application/json", "no-store", "nosniff"]
      expect(answers).toEqual(Array.from({ length: 10 }, () => [health, ready, health, ready]).flat())

      // Nothing is left running once the load is over, nothing was a 500, and each refusal was counted.
      yield* eventually("no store read in flight", Effect.map(metric("slowq_http_store_reads_in_flight"), (n) => n === 0), "10 seconds")
      expect(yield* metric("slowq_http_requests_total", { method: "GET", status: "500" })).toBe(undefined)
      expect(yield* metric("slowq_http_requests_refused_total")).toBeGreaterThanOrEqual(result.statuses["503"]!)
      expect(daemon.log()).toContain("HTTP API overloaded: requests refused with 503, too many in flight")
      expect(daemon.log()).not.toContain("HTTP request failed")
      const after = yield* probe(daemon.base, "/readyz")
      expect(after.status).toBe(200)
    }),
    60_000
  )

  it.effect("a request whose client went away stops at once: its slot is freed and its query cancelled", () =>
    Effect.gen(function* () {
      const daemon = yield* Daemon
      const before = (yield* metric("slowq_http_requests_total", { method: "GET", status: "499" })) ?? 0
      // A lock held for 20 s blocks every read of slowq_queries: only an interruption can end them sooner.
      const holder = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", daemon.storeDb, "-c",
            "BEGIN; LOCK TABLE slowq_queries IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT;"], { stdio: "ignore" })
        ),
        (child: ChildProcess) => Effect.sync(() => child.kill("SIGKILL"))
      )
      yield* eventually(
        "the lock",
        Effect.map(
          psql(daemon.storeDb, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'slowq_queries' AND l.mode = 'AccessExclusiveLock' AND l.granted"),
          (out) => out.trim() === "1"
        ),
        "10 seconds"
      )
      const clients = Array.from({ length: 6 }, () => {
        const req = Http.get(`${daemon.base}/api/v1/queries?limit=5`, { agent: false })
        req.on("error", () => undefined)
        return req
      })
      // 2 reading (blocked by the lock in PostgreSQL), 4 waiting for a slot.
      yield* eventually("6 requests in flight", Effect.map(metric("slowq_http_store_reads_in_flight"), (n) => n === 6), "10 seconds")
      const waitingInStore = `SELECT count(*) FROM pg_stat_activity WHERE datname = '${daemon.storeDb}' AND application_name = 'slowq-store' AND wait_event_type = 'Lock'`
      yield* eventually("2 reads blocked in the store", Effect.map(psql(daemon.storeDb, waitingInStore), (out) => out.trim() === "2"), "10 seconds")
      for (const req of clients) req.destroy()
      yield* eventually("no request in flight", Effect.map(metric("slowq_http_store_reads_in_flight"), (n) => n === 0), "5 seconds")
      yield* eventually("no read blocked in the store", Effect.map(psql(daemon.storeDb, waitingInStore), (out) => out.trim() === "0"), "5 seconds")
      // All this while the lock is still held: the reads were cancelled, not completed.
      expect(holder.exitCode).toBe(null)
      expect(yield* metric("slowq_http_requests_total", { method: "GET", status: "499" })).toBe(before + 6)
      expect(yield* metric("slowq_http_requests_total", { method: "GET", status: "500" })).toBe(undefined)
    }).pipe(Effect.scoped),
    60_000
  )
})
