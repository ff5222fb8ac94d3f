import { randomBytes } from "node:crypto"
import { bucketOf, bucketValueMs } from "../../src/domain/LatencyHistogram.js"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { validate } from "@readme/openapi-parser"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { ExplainView, PlanView } from "../../plugins/explain/PlanStore.js"
import {
  MAX_SERIES_IDS,
  PipelineDetail,
  PipelineList,
  PipelineView,
  QueryDetail,
  QueryList,
  RunAccepted,
  SeriesBatch
} from "../../src/http/Api.js"
import { QueryListItem, QueryStats } from "../../src/store/QueryReads.js"
import { runMariadb } from "../support/Mariadb.js"
import { mariadbPipeline } from "../support/Pipelines.js"
import { eventually } from "../support/Poll.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { type HttpAnswer, type HttpDaemon, json, request, startHttpDaemon } from "./HttpDaemon.js"
import { expositionProblems, parsePrometheus, sampleValue } from "./PrometheusText.js"

// One daemon for the file, on a fresh store and the local MariaDB: `http_lab` collects and explains, `http_idle` is
// paused and resumed, `http_down` reads from a closed port with a password in its URL that must never show.
const token = randomBytes(16).toString("hex")
const password = `pw_${randomBytes(6).toString("hex")}`
// Letters only: fingerprints replace digits, even inside identifiers.
const marker = `httpapi_${Array.from(randomBytes(10), (b) => String.fromCharCode(97 + (b % 26))).join("")}`

class Daemon extends Context.Tag("test/http/Daemon")<Daemon, HttpDaemon>() {}

const DaemonLive = Layer.scoped(
  Daemon,
  Effect.gen(function* () {
    const store = yield* freshStoreDatabase
    return yield* startHttpDaemon(
      {
        "lab.yaml": mariadbPipeline("http_lab", {
          every: "1h",
          stages: ["  - type: explain", "    explain_url: mysql://root@127.0.0.1:3306/test"]
        }),
        "idle.yaml": mariadbPipeline("http_idle", { every: "1h" }),
        "down.yaml": mariadbPipeline("http_down", { every: "1h", url: `mysql://root:${password}@127.0.0.1:1/test` })
      },
      { SLOWQ_STORE_URL: store.url, SLOWQ_API_TOKEN: token }
    )
  })
)

const call = (method: string, path: string, options: Parameters<typeof request>[3] = {}) =>
  Effect.flatMap(Daemon, (daemon) => request(daemon, method, path, options))
const get = (path: string) => call("GET", path, { token })
const post = (path: string) => call("POST", path, { token })

const ErrorBody = Schema.Struct({ _tag: Schema.String, message: Schema.String })
const DecodeErrorBody = Schema.Struct({
  _tag: Schema.Literal("HttpApiDecodeError"),
  message: Schema.String,
  issues: Schema.Array(Schema.Struct({ path: Schema.Array(Schema.Union(Schema.String, Schema.Number)) }))
})

const status = (answer: HttpAnswer) => answer.status

// The query answers of a daemon whose explain stage is registered: the core's fields and the explain enrichment's.
const ExplainedList = Schema.Struct({
  ...QueryList.fields,
  queries: Schema.Array(Schema.Struct({ ...QueryListItem.fields, plan_known: Schema.Boolean }))
})
const ExplainedDetail = Schema.Struct({
  ...QueryDetail.fields,
  plan_known: Schema.Boolean,
  explain: Schema.Array(ExplainView),
  plans: Schema.Array(PlanView)
})
const pipeline = (name: string) => get(`/api/v1/pipelines/${name}`).pipe(Effect.map((a) => json(PipelineDetail, a)))
/** Waits until the pipeline's current run is over and it has finished at least `runs` runs. */
const settled = (name: string, runs = 1) =>
  eventually(
    `${name} to finish ${runs} run(s)`,
    pipeline(name).pipe(Effect.map((p) => p.running === null && p.totals.runs >= runs)),
    "90 seconds"
  )

const mutating = [
  "/api/v1/pipelines/http_idle/run",
  "/api/v1/pipelines/http_idle/pause",
  "/api/v1/pipelines/http_idle/resume",
  "/api/v1/scheduler/pause",
  "/api/v1/scheduler/resume"
]
const reads = ["/api/v1/pipelines", "/api/v1/pipelines/http_idle", "/api/v1/queries", "/api/v1/queries/ABCDEF"]

layer(DaemonLive, { timeout: "120 seconds", excludeTestServices: true })("HTTP API of `slowq run`", (it) => {
  it.effect("health, readiness, and the routes that need no token", () =>
    Effect.gen(function* () {
      const health = yield* call("GET", "/healthz")
      expect([health.status, JSON.parse(health.text)]).toEqual([200, { status: "ok" }])
      const ready = yield* call("GET", "/readyz")
      expect([ready.status, JSON.parse(ready.text)]).toEqual([200, { status: "ready", store: true, pipelines: 3 }])
      expect(status(yield* call("GET", "/metrics"))).toBe(200)
      expect(status(yield* call("GET", "/openapi.json"))).toBe(200)
      expect(status(yield* call("GET", "/docs"))).toBe(200)
    })
  )

  it.effect("answers 401 without a token and 403 with a wrong one, and nothing changes", () =>
    Effect.gen(function* () {
      yield* settled("http_idle")
      const before = yield* pipeline("http_idle")
      for (const path of mutating) {
        const none = yield* call("POST", path)
        expect([path, none.status, json(ErrorBody, none)._tag, none.headers.get("www-authenticate")]).toEqual([
          path,
          401,
          "UnauthorizedError",
          'Bearer realm="slowq"'
        ])
        const wrong = yield* call("POST", path, { token: `${token}x` })
        expect([path, wrong.status, json(ErrorBody, wrong)._tag]).toEqual([path, 403, "ForbiddenError"])
        const basic = yield* call("POST", path, { headers: { authorization: `Basic ${btoa(`slowq:${token}`)}` } })
        expect([path, basic.status]).toEqual([path, 401])
      }
      for (const path of reads) {
        expect([path, status(yield* call("GET", path))]).toEqual([path, 401])
        expect([path, status(yield* call("GET", path, { token: "x".repeat(32) }))]).toEqual([path, 403])
      }
      // Auth is checked before parameters: a bad request without a token is still a 401.
      expect(status(yield* call("GET", "/api/v1/queries?limit=nope"))).toBe(401)
      const after = yield* pipeline("http_idle")
      expect([after.state, after.totals.runs, after.recent_runs.map((r) => r.trigger)]).toEqual([
        before.state,
        before.totals.runs,
        before.recent_runs.map((r) => r.trigger)
      ])
      expect(json(PipelineList, yield* get("/api/v1/pipelines")).scheduler_paused).toBe(false)
    })
  )

  it.effect("lists every pipeline with its state, and 404/400 for unknown or malformed names", () =>
    Effect.gen(function* () {
      const list = json(PipelineList, yield* get("/api/v1/pipelines"))
      expect(list.pipelines.map((p) => [p.name, p.source_type, p.schedule]).sort()).toEqual([
        ["http_down", "mysql_slow_log_table", "1h"],
        ["http_idle", "mysql_slow_log_table", "1h"],
        ["http_lab", "mysql_slow_log_table", "1h"]
      ])
      const missing = yield* get("/api/v1/pipelines/no_such_pipeline")
      expect([missing.status, json(ErrorBody, missing)]).toEqual([
        404,
        { _tag: "NotFoundError", message: "no pipeline named no_such_pipeline" }
      ])
      expect(status(yield* post("/api/v1/pipelines/no_such_pipeline/run"))).toBe(404)
      expect(status(yield* post("/api/v1/pipelines/no_such_pipeline/pause"))).toBe(404)
      const bad = yield* get("/api/v1/pipelines/Not-A-Name")
      expect(bad.status).toBe(400)
      expect(json(DecodeErrorBody, bad).message).toBe(
        'invalid parameter name: Expected a pipeline name (snake_case: a-z, 0-9, _), actual "Not-A-Name"'
      )
      const route = yield* get("/api/v1/nothing/here")
      expect([route.status, json(ErrorBody, route)]).toEqual([
        404,
        { _tag: "NotFoundError", message: "no route GET /api/v1/nothing/here" }
      ])
      expect(status(yield* call("DELETE", "/api/v1/pipelines/http_lab", { token }))).toBe(404)
    })
  )

  it.effect("run now: 202 with the run id, 409 while it runs, and the failure shows without the password", () =>
    Effect.gen(function* () {
      // http_down's first run retries for seconds (1 s, 2 s, 4 s backoff) against a closed port.
      yield* settled("http_down")
      const first = yield* pipeline("http_down")
      expect([first.state, first.consecutive_failures, first.last_run?.trigger]).toEqual(["failing", 1, "schedule"])
      const started = yield* post("/api/v1/pipelines/http_down/run")
      expect(started.status).toBe(202)
      const accepted = json(RunAccepted, started)
      expect(accepted.pipeline).toBe("http_down")
      const again = yield* post("/api/v1/pipelines/http_down/run")
      expect([again.status, JSON.parse(again.text)]).toEqual([
        409,
        {
          _tag: "PipelineRunningError",
          pipeline: "http_down",
          run: accepted.run,
          message: `pipeline http_down is running already (run ${accepted.run})`
        }
      ])
      const running = yield* pipeline("http_down")
      expect([running.state, running.running?.run]).toEqual(["running", accepted.run])
      yield* settled("http_down", 2)
      const failed = yield* pipeline("http_down")
      expect([failed.state, failed.consecutive_failures, failed.last_run?.run, failed.last_run?.trigger]).toEqual([
        "failing",
        2,
        accepted.run,
        "manual"
      ])
      expect(failed.last_run?.error).toContain("127.0.0.1:1")
      expect(failed.recent_runs.map((r) => r.trigger)).toEqual(["manual", "schedule"])
      const everything = [
        (yield* get("/api/v1/pipelines")).text,
        (yield* get("/api/v1/pipelines/http_down")).text,
        (yield* call("GET", "/metrics")).text,
        (yield* call("GET", "/openapi.json")).text
      ].join("\n")
      expect(everything).not.toContain(password)
      expect(everything).not.toContain(token)
    })
  )

  it.effect("pause and resume one pipeline, then the whole scheduler, visible in GET", () =>
    Effect.gen(function* () {
      yield* settled("http_idle")
      const paused = yield* post("/api/v1/pipelines/http_idle/pause")
      expect([paused.status, json(PipelineView, paused).state]).toEqual([200, "paused"])
      expect((yield* pipeline("http_idle")).state).toBe("paused")
      const listed = json(PipelineList, yield* get("/api/v1/pipelines"))
      expect(listed.pipelines.find((p) => p.name === "http_idle")?.state).toBe("paused")
      const resumed = yield* post("/api/v1/pipelines/http_idle/resume")
      expect([resumed.status, json(PipelineView, resumed).state]).toEqual([200, "scheduled"])
      expect((yield* pipeline("http_idle")).state).toBe("scheduled")

      const all = yield* post("/api/v1/scheduler/pause")
      expect([all.status, JSON.parse(all.text)]).toEqual([200, { scheduler_paused: true }])
      const whilePaused = json(PipelineList, yield* get("/api/v1/pipelines"))
      expect(whilePaused.scheduler_paused).toBe(true)
      expect(whilePaused.pipelines.find((p) => p.name === "http_idle")?.state).toBe("paused")
      // A run asked for explicitly still happens while paused.
      expect(status(yield* post("/api/v1/pipelines/http_idle/run"))).toBe(202)
      yield* settled("http_idle", 2)
      expect((yield* pipeline("http_idle")).state).toBe("paused")
      const back = yield* post("/api/v1/scheduler/resume")
      expect([back.status, JSON.parse(back.text)]).toEqual([200, { scheduler_paused: false }])
      const afterResume = json(PipelineList, yield* get("/api/v1/pipelines"))
      expect([afterResume.scheduler_paused, afterResume.pipelines.find((p) => p.name === "http_idle")?.state]).toEqual([
        false,
        "scheduled"
      ])
    })
  )

  it.effect("queries: what http_lab collected, ranked, windowed, paged and described", () =>
    Effect.gen(function* () {
      yield* settled("http_lab")
      const since = new Date(Date.now() - 1000).toISOString()
      // A statement that takes a few ms and has a plan (SLEEP would be refused by the explain policy), and a fast one.
      const slowText = `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) SELECT COUNT(*) AS ${marker}_slow FROM s a JOIN s b ON a.n >= b.n`
      yield* runMariadb([`${slowText};`, `${slowText};`, ...[1, 2, 3, 4, 5].map((i) => `SELECT ${i} AS ${marker}_fast;`)].join("\n"))
      const runNow = Effect.gen(function* () {
        const ran = yield* post("/api/v1/pipelines/http_lab/run")
        expect(ran.status).toBe(202)
        const run = json(RunAccepted, ran).run
        yield* eventually(
          "the manual run of http_lab",
          pipeline("http_lab").pipe(Effect.map((p) => p.running === null && p.last_run?.run === run)),
          "90 seconds"
        )
        expect((yield* pipeline("http_lab")).last_run?.error).toBe(null)
      })
      yield* runNow

      const mine = (list: typeof ExplainedList.Type) => list.queries.filter((q) => q.fingerprint.includes(marker))
      const window = `pipeline=http_lab&since=${encodeURIComponent(since)}&limit=1000`
      const byTotal = json(ExplainedList, yield* get(`/api/v1/queries?${window}&totals=true`))
      expect(byTotal.since).toEqual(new Date(since))
      const ranked = mine(byTotal)
      expect(ranked.map((q) => [q.fingerprint.includes("recursive"), q.calls, q.events, q.pipeline])).toEqual([
        [true, 2, 2, "http_lab"],
        [false, 5, 5, "http_lab"]
      ])
      const [slow, fast] = ranked
      expect(slow!.total_ms).toBeGreaterThan(fast!.total_ms)
      expect(slow!.max_ms).toBeGreaterThan(0)
      expect(slow!.avg_ms).toBeCloseTo(slow!.total_ms / 2, 6)
      expect([slow!.statement_type, slow!.read_only]).toEqual(["select", true])
      // Both are new: every execution is in the window. The window's totals are those of every row (one page).
      expect(ranked.map((q) => q.first_seen_ever)).toEqual(ranked.map((q) => q.first_seen))
      expect(byTotal.next_offset).toBe(null)
      expect(byTotal.totals?.calls).toBe(byTotal.queries.reduce((sum, q) => sum + q.calls, 0))
      expect(byTotal.totals?.total_ms).toBeCloseTo(byTotal.queries.reduce((sum, q) => sum + q.total_ms, 0), 6)
      expect(json(ExplainedList, yield* get(`/api/v1/queries?${window}`)).totals).toBe(null)
      const selects = json(ExplainedList, yield* get(`/api/v1/queries?${window}&statement_type=select&totals=true`))
      expect(selects.queries.filter((q) => q.statement_type !== "select")).toEqual([])
      expect(mine(selects).map((q) => q.id)).toEqual([slow!.id, fast!.id])
      expect(selects.totals?.calls).toBe(selects.queries.reduce((sum, q) => sum + q.calls, 0))
      // Their series at once, per step of the window: every call of each, in the order asked for.
      const batch = json(SeriesBatch, yield* get(`/api/v1/series?ids=${fast!.id},${slow!.id},NO_SUCH_QUERY&pipeline=http_lab&since=10m`))
      expect(batch.step_seconds).toBe(60)
      expect(batch.series.map((s) => [s.query_id, s.pipeline, s.calls.length, s.calls.reduce((a, b) => a + b, 0)])).toEqual([
        [fast!.id, "http_lab", batch.starts.length, 5],
        [slow!.id, "http_lab", batch.starts.length, 2]
      ])
      expect(batch.series[1]!.total_ms.reduce((a, b) => a + b, 0)).toBeCloseTo(slow!.total_ms, 6)
      expect(mine(json(ExplainedList, yield* get(`/api/v1/queries?${window}&order=calls`))).map((q) => q.id)).toEqual([
        fast!.id,
        slow!.id
      ])
      // By p95 over the window: each one's is its slowest call's bucket (2 and 5 calls: the p95 is the last).
      const byP95 = mine(json(ExplainedList, yield* get(`/api/v1/queries?${window}&order=p95_ms`)))
      expect(byP95.map((q) => [q.id, q.p95_ms])).toEqual([
        [slow!.id, expect.closeTo(bucketValueMs(bucketOf(slow!.max_ms)), 9)],
        [fast!.id, expect.closeTo(bucketValueMs(bucketOf(fast!.max_ms)), 9)]
      ])
      // All time (no window) holds them too, with the same totals.
      const allTime = mine(json(ExplainedList, yield* get("/api/v1/queries?pipeline=http_lab&limit=1000")))
      expect(allTime.map((q) => [q.id, q.calls])).toEqual([
        [slow!.id, 2],
        [fast!.id, 5]
      ])
      // Paging.
      const page1 = json(ExplainedList, yield* get("/api/v1/queries?pipeline=http_lab&limit=1"))
      expect([page1.limit, page1.offset, page1.next_offset, page1.queries.length]).toEqual([1, 0, 1, 1])
      const beyond = json(ExplainedList, yield* get("/api/v1/queries?pipeline=http_lab&offset=10000000"))
      expect([beyond.next_offset, beyond.queries]).toEqual([null, []])

      // One query: totals, series, samples in the window, and its plan. The explain stage takes the slowest
      // statements first, at most 50 a run: with other traffic on the server the next run may be the one.
      const describe = get(`/api/v1/queries/${slow!.id}?pipeline=http_lab&since=10m&samples=5`).pipe(
        Effect.map((answer) => json(ExplainedDetail, answer))
      )
      for (let runs = 1; runs < 4 && (yield* describe).explain.length === 0; runs++) yield* runNow
      const detail = yield* describe
      const relisted = mine(json(ExplainedList, yield* get(`/api/v1/queries?${window}`)))
      expect(relisted.find((q) => q.id === slow!.id)?.plan_known).toBe(true)
      expect([detail.id, detail.pipelines, detail.calls, detail.fingerprint]).toEqual([
        slow!.id,
        ["http_lab"],
        2,
        slow!.fingerprint
      ])
      expect(detail.series.bucket_seconds).toBe(60)
      expect(detail.series.intervals.reduce((sum, i) => sum + i.calls, 0)).toBe(2)
      // The hour's first and slowest of the two: one sample when the first was also the slower.
      expect(detail.samples.map((s) => [s.pipeline, s.sql_text, s.calls])).toEqual(
        detail.samples.map(() => ["http_lab", slowText, 1])
      )
      expect(detail.samples.map((s) => s.kind).sort()).toEqual(detail.samples.length === 1 ? ["slowest"] : ["first", "slowest"])
      expect(detail.slowest_sample).toBe(slowText)
      expect(detail.explain.map((e) => [e.pipeline, e.status, e.reason])).toEqual([["http_lab", "plan", null]])
      expect(detail.plans.map((p) => [p.pipeline, p.hash, p.method])).toEqual([
        ["http_lab", detail.explain[0]!.hash, detail.explain[0]!.method]
      ])
      expect([detail.plan_known, JSON.stringify(detail.plans[0]!.plan)]).toEqual([true, expect.stringContaining("query_block")])
      // Keys in the order answers had before enrichments: the core's, the enrichment's, then series and samples.
      const raw = yield* get(`/api/v1/queries/${slow!.id}?pipeline=http_lab&since=10m&samples=5`)
      expect(Object.keys(JSON.parse(raw.text))).toEqual([
        ...Object.keys(QueryStats.fields),
        "plan_known",
        "explain",
        "plans",
        "series",
        "samples"
      ])
      const rawList = yield* get("/api/v1/queries?pipeline=http_lab&limit=1")
      expect(Object.keys(JSON.parse(rawList.text).queries[0])).toEqual([...Object.keys(QueryListItem.fields), "plan_known"])
      const noSamples = json(ExplainedDetail, yield* get(`/api/v1/queries/${slow!.id}?samples=0&bucket=1h`))
      expect([noSamples.samples, noSamples.series.bucket_seconds]).toEqual([[], 3600])

      const unknown = yield* get("/api/v1/queries/NO_SUCH_QUERY")
      expect([unknown.status, json(ErrorBody, unknown)]).toEqual([
        404,
        { _tag: "NotFoundError", message: "no query NO_SUCH_QUERY" }
      ])
      expect(status(yield* get(`/api/v1/queries/${slow!.id}?pipeline=http_down`))).toBe(404)
    })
  )

  it.effect("a bad parameter is a 400 naming it", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["/api/v1/queries?limit=0", "limit"],
        ["/api/v1/queries?limit=abc", "limit"],
        ["/api/v1/queries?limit=1001", "limit"],
        ["/api/v1/queries?offset=-1", "offset"],
        ["/api/v1/queries?order=slowest", "order"],
        ["/api/v1/queries?since=yesterday", "since"],
        ["/api/v1/queries?until=2024-13-45", "until"],
        ["/api/v1/queries?pipeline=Bad-Name", "pipeline"],
        ["/api/v1/queries?limt=5", "limt"],
        ["/api/v1/queries/bad%20id", "id"],
        ["/api/v1/queries/ABC?samples=101", "samples"],
        ["/api/v1/queries/ABC?bucket=soon", "bucket"],
        ["/api/v1/pipelines?verbose=1", "verbose"],
        ["/api/v1/queries?statement_type=SELECT", "statement_type"],
        ["/api/v1/queries?totals=yes", "totals"],
        ["/api/v1/series", "ids"],
        ["/api/v1/series?ids=a,,b", "ids"],
        ["/api/v1/series?ids=bad%20id", "ids"],
        ["/api/v1/series?ids=a&step=90s", "step"]
      ]
      for (const [path, parameter] of cases) {
        const answer = yield* get(path)
        expect([path, answer.status, answer.text]).toEqual([path, 400, expect.stringContaining('"_tag":"HttpApiDecodeError"')])
        const body = json(DecodeErrorBody, answer)
        expect([path, answer.status, body.issues.map((i) => i.path.join("."))]).toEqual([path, 400, [parameter]])
        expect(body.message.startsWith(`invalid parameter ${parameter}: `)).toBe(true)
      }
      const order = json(DecodeErrorBody, yield* get("/api/v1/queries?order=slowest"))
      expect(order.message).toBe('invalid parameter order: Expected one of total_ms | avg_ms | calls | max_ms | rows_examined | p95_ms, actual "slowest"')
      const window = yield* get("/api/v1/queries?since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z")
      expect([window.status, JSON.parse(window.text)]).toEqual([
        400,
        {
          _tag: "BadRequestError",
          parameter: "since",
          message: "since (2024-01-02T00:00:00.000Z) must be before until (2024-01-01T00:00:00.000Z)"
        }
      ])
      const p95AllTime = yield* get("/api/v1/queries?order=p95_ms")
      expect([p95AllTime.status, JSON.parse(p95AllTime.text)]).toEqual([
        400,
        {
          _tag: "BadRequestError",
          parameter: "order",
          message:
            "order=p95_ms ranks a window: give since or until (e.g. since=24h); slowq keeps no all-time latency histogram per query"
        }
      ])
      const many = Array.from({ length: MAX_SERIES_IDS + 1 }, (_, i) => `Q${i}`).join(",")
      const tooMany = yield* get(`/api/v1/series?ids=${many}`)
      expect([tooMany.status, JSON.parse(tooMany.text)]).toEqual([
        400,
        { _tag: "BadRequestError", parameter: "ids", message: "ids names 101 queries; at most 100 are read at once" }
      ])
      const enough = json(SeriesBatch, yield* get(`/api/v1/series?ids=${many.replace(/,Q100$/, "")}&since=1h&step=5m`))
      expect([enough.step_seconds, enough.starts.length >= 12, enough.series]).toEqual([300, true, []])
      const buckets = yield* get("/api/v1/queries/ABC?since=30d&bucket=1m")
      expect([buckets.status, JSON.parse(buckets.text).parameter]).toEqual([400, "bucket"])
    })
  )

  it.effect("/metrics is valid Prometheus text with the pipeline, HTTP and process metrics", () =>
    Effect.gen(function* () {
      yield* settled("http_lab")
      const answer = yield* call("GET", "/metrics")
      expect(answer.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
      const text = answer.text
      expect(expositionProblems(text)).toEqual([])
      const families = parsePrometheus(text)
      const names = families.map((f) => f.name)
      expect(names.filter((n) => !/^(slowq_|process_|nodejs_)/.test(n))).toEqual([])
      const type = (name: string) => families.find((f) => f.name === name)?.type
      expect(
        [
          "slowq_pipeline_runs_total",
          "slowq_pipeline_failures_total",
          "slowq_pipeline_events_total",
          "slowq_pipeline_events_stored_total",
          "slowq_pipeline_last_success_timestamp_seconds",
          "slowq_pipeline_run_duration_seconds",
          "slowq_store_write_duration_seconds",
          "slowq_http_requests_total",
          "slowq_http_request_duration_seconds",
          "slowq_explain_queries",
          "process_cpu_seconds_total",
          "process_resident_memory_bytes",
          "process_start_time_seconds",
          "nodejs_heap_size_used_bytes"
        ].map((name) => [name, type(name)])
      ).toEqual([
        ["slowq_pipeline_runs_total", "COUNTER"],
        ["slowq_pipeline_failures_total", "COUNTER"],
        ["slowq_pipeline_events_total", "COUNTER"],
        ["slowq_pipeline_events_stored_total", "COUNTER"],
        ["slowq_pipeline_last_success_timestamp_seconds", "GAUGE"],
        ["slowq_pipeline_run_duration_seconds", "HISTOGRAM"],
        ["slowq_store_write_duration_seconds", "HISTOGRAM"],
        ["slowq_http_requests_total", "COUNTER"],
        ["slowq_http_request_duration_seconds", "HISTOGRAM"],
        ["slowq_explain_queries", "GAUGE"],
        ["process_cpu_seconds_total", "COUNTER"],
        ["process_resident_memory_bytes", "GAUGE"],
        ["process_start_time_seconds", "GAUGE"],
        ["nodejs_heap_size_used_bytes", "GAUGE"]
      ])
      const labs = yield* pipeline("http_lab")
      const down = yield* pipeline("http_down")
      const runs = families.find((f) => f.name === "slowq_pipeline_runs_total")!.metrics
      const runsOf = (name: string) => Number(runs.find((m) => m.labels?.pipeline === name)?.value)
      expect(runsOf("http_lab")).toBeGreaterThanOrEqual(labs.totals.runs)
      expect(sampleValue(text, "slowq_pipeline_failures_total", { pipeline: "http_down" })).toBe(down.totals.failures)
      expect(sampleValue(text, "slowq_pipeline_failures_total", { pipeline: "http_lab" })).toBe(0)
      expect(sampleValue(text, "slowq_pipeline_run_duration_seconds_count", { pipeline: "http_down" })).toBe(down.totals.runs)
      expect(sampleValue(text, "slowq_http_requests_total", { method: "POST", status: "401" })).toBeGreaterThanOrEqual(5)
      expect(sampleValue(text, "process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
      // The queries test left at least one plan of http_lab in the store; the other pipelines explain nothing.
      expect(sampleValue(text, "slowq_explain_queries", { pipeline: "http_lab", status: "plan" })).toBeGreaterThanOrEqual(1)
      expect(sampleValue(text, "slowq_explain_queries", { pipeline: "http_idle" })).toBe(undefined)
      const lastSuccess = sampleValue(text, "slowq_pipeline_last_success_timestamp_seconds", { pipeline: "http_lab" })
      expect(Math.abs(Date.now() / 1000 - lastSuccess!)).toBeLessThan(600)
    })
  )

  it.scoped("/openapi.json is a valid OpenAPI document listing every route; /docs is served from the process", () =>
    Effect.gen(function* () {
      const answer = yield* call("GET", "/openapi.json")
      const doc: unknown = JSON.parse(answer.text)
      // The validator reads the document as served, from a file as a client generator would.
      const file = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const dir = mkdtempSync(join(tmpdir(), "slowq-openapi-"))
          writeFileSync(join(dir, "openapi.json"), answer.text)
          return dir
        }),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ).pipe(Effect.map((dir) => join(dir, "openapi.json")))
      const result = yield* Effect.promise(() => validate(file))
      expect(result).toEqual({ valid: true, warnings: [], specification: "OpenAPI" })
      const Spec = Schema.Struct({
        openapi: Schema.String,
        paths: Schema.Record({
          key: Schema.String,
          value: Schema.Record({
            key: Schema.String,
            value: Schema.Struct({ security: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })) })
          })
        }),
        components: Schema.Struct({ securitySchemes: Schema.Unknown })
      })
      const spec = Schema.decodeUnknownSync(Spec)(doc)
      const routes = Object.entries(spec.paths).flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => [`${method.toUpperCase()} ${path}`, operation.security.length > 0])
      )
      expect(routes.sort()).toEqual(
        [
          ["GET /api/v1/pipelines", true],
          ["GET /api/v1/pipelines/{name}", true],
          ["POST /api/v1/pipelines/{name}/run", true],
          ["POST /api/v1/pipelines/{name}/pause", true],
          ["POST /api/v1/pipelines/{name}/resume", true],
          ["POST /api/v1/scheduler/pause", true],
          ["POST /api/v1/scheduler/resume", true],
          ["GET /api/v1/queries", true],
          ["GET /api/v1/queries/facets", true],
          ["GET /api/v1/queries/{id}", true],
          ["GET /api/v1/findings", true],
          ["GET /api/v1/queries/{id}/findings", true],
          ["GET /api/v1/queries/{id}/series", true],
          ["GET /api/v1/series", true],
          ["GET /api/v1/suggestions", true],
          ["GET /healthz", false],
          ["GET /readyz", false],
          ["GET /metrics", false]
        ].sort()
      )
      expect([spec.openapi, spec.components.securitySchemes]).toEqual(["3.1.0", { bearer: { type: "http", scheme: "bearer" } }])

      const docs = yield* call("GET", "/docs")
      expect([docs.status, docs.headers.get("content-type")]).toEqual([200, "text/html"])
      expect(docs.text).toContain("SwaggerUIBundle")
      // Nothing is loaded from elsewhere, and the policy forbids it anyway.
      expect(docs.text.match(/<(script|link|img)[^>]+(src|href)=["']?https?:/gi)).toBe(null)
      expect(docs.headers.get("content-security-policy")).toContain("default-src 'none'")
    })
  )

  it.effect("limits: a large body is refused, a slow or broken client is cut off, the server carries on", () =>
    Effect.gen(function* () {
      const daemon = yield* Daemon
      const big = yield* call("POST", "/api/v1/scheduler/pause", { token, body: "x".repeat(1024 * 1024) })
      expect([big.status, json(ErrorBody, big)._tag]).toEqual([413, "PayloadTooLargeError"])
      expect(json(PipelineList, yield* get("/api/v1/pipelines")).scheduler_paused).toBe(false)
      const { port } = new URL(daemon.base)
      // Headers that never end: Node's headersTimeout (10 s) answers 408 and closes the socket.
      const slow = yield* Effect.async<{ readonly reply: string; readonly ms: number }>((resume) => {
        const started = Date.now()
        let reply = ""
        const socket = connect(Number(port), "127.0.0.1", () => socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "))
        socket.on("data", (chunk) => {
          reply += chunk.toString("utf8")
        })
        socket.on("close", () => resume(Effect.succeed({ reply, ms: Date.now() - started })))
        socket.on("error", () => undefined)
      })
      expect(slow.reply.startsWith("HTTP/1.1 408")).toBe(true)
      expect(slow.ms).toBeLessThan(15_000)
      const garbage = yield* Effect.async<string>((resume) => {
        let reply = ""
        const socket = connect(Number(port), "127.0.0.1", () => socket.write("NOT HTTP AT ALL\r\n\r\n"))
        socket.on("data", (chunk) => {
          reply += chunk.toString("utf8")
        })
        socket.on("close", () => resume(Effect.succeed(reply)))
        socket.on("error", () => undefined)
      })
      expect(garbage.startsWith("HTTP/1.1 400")).toBe(true)
      expect(status(yield* call("GET", "/healthz"))).toBe(200)
    }),
    30_000
  )

  it.effect("SIGTERM stops the API and the daemon at once, and the log holds no secret", () =>
    Effect.gen(function* () {
      const daemon = yield* Daemon
      const started = Date.now()
      const result = yield* daemon.stop
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null })
      expect(Date.now() - started).toBeLessThan(5_000)
      const log = daemon.log()
      expect(log).toContain("HTTP API stopped")
      expect(log).toContain("slowq stopped")
      expect(log).not.toContain(token)
      expect(log).not.toContain(password)
      const refused = yield* Effect.either(call("GET", "/healthz").pipe(Effect.timeout("2 seconds")))
      expect(refused._tag).toBe("Left")
    })
  )
})
