import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, HashMap, Layer, Logger, Option, Schema } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import { AiAdvisor } from "../../src/plugin/AiAdvisor.js"
import type { QueryFindings } from "../../src/plugin/Finding.js"
import { StageError } from "../../src/plugin/PipelineStage.js"
import type { StageMemory } from "../../src/plugin/StageMemory.js"
import { SLOWQ_MARKER } from "../../src/plugin/OwnStatement.js"
import { runCli } from "../../test/support/Cli.js"
import { type ChatReply, chatServer, completion, type ReceivedRequest } from "../../test/support/ai/TestChatServer.js"
import { eventOf, memoryIn, pgDatabase } from "../../test/support/explain/Harness.js"
import { pipelinesDir } from "../../test/support/Pipelines.js"
import { freshStoreDatabase } from "../../test/support/StoreDatabase.js"
import { storeClient } from "../../test/support/StoreQueries.js"
import { systemPrompt } from "./ai/ChatRequest.js"
import { OpenAiCompatibleConfig } from "./ai/config.js"
import { normalizePlan, normalizeSqlText } from "../../src/fingerprint/NormalizeLiterals.js"
import { layer as openAiCompatible } from "./ai/OpenAiCompatible.js"
import type { BatchView } from "./AnalyzeStep.js"
import { aiStep } from "./steps/AiStep.js"

// test group: other
// (MySQL/MariaDB is named only as a dialect: the step runs without a connection there, on PostgreSQL otherwise.)

// pg_stat_statements → explain → analyze with `ai: openai_compatible`, each collection a `slowq once` process, the
// model played by a local chat-completions server (no model is reachable from the test machines): what it receives,
// exactly; what the store keeps of its answers; the cache and the budget across processes (the stage's memory in the
// store); malformed, failing and slow answers; an index it proposes, checked with HypoPG.

const KEY = "sk-test-ai-step-0123456789"
const env = (storeUrl: string) => ({ SLOWQ_STORE_URL: storeUrl, SLOWQ_TEST_AI_KEY: KEY })

/** A pipeline of `db` with the AI pointed at `baseUrl`; explain_ttl is short so that each run explains again. */
const pipelineYaml = (name: string, db: { url: string; name: string }, baseUrl: string, ai: ReadonlyArray<string> = []) =>
  [
    `name: ${name}`,
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: postgres_pg_stat_statements",
    `  url: ${db.url}`,
    `  include_databases: [${db.name}]`,
    "stages:",
    "  - type: explain",
    "    explain_ttl: 100ms",
    "  - type: analyze",
    "    ai:",
    "      type: openai_compatible",
    `      base_url: ${baseUrl}`,
    "      model: test-model",
    "      api_key_env: SLOWQ_TEST_AI_KEY",
    ...ai.map((line) => `      ${line}`),
    ""
  ].join("\n")

const once = (pipeline: string, dir: string, storeUrl: string) =>
  runCli(["once", pipeline, "--pipelines", dir], env(storeUrl)).pipe(
    Effect.tap((result) => {
      expect(result.stderr).not.toContain("level=ERROR")
      expect(result.stdout).toMatch(new RegExp(`^${pipeline} {2}ok {2}events=\\d+ `, "m"))
      expect(result.code).toBe(0)
      // The key goes in the Authorization header, and nowhere a log line could show it.
      expect(result.stdout + result.stderr).not.toContain(KEY)
    })
  )

const SETUP = `
  CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
  CREATE EXTENSION IF NOT EXISTS hypopg;
  CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL,
    note text NOT NULL DEFAULT 'seed-default-7731') WITH (autovacuum_enabled = off);
  INSERT INTO orders SELECT g, g % 5000, g % 97, 'seed-note-' || g FROM generate_series(1, 200000) g;
  SELECT pg_stat_force_next_flush();`

/** The database of SETUP, analyzed, with pg_stat_statements emptied for it. */
const ordersDatabase = Effect.gen(function* () {
  const db = yield* pgDatabase(SETUP)
  // ANALYZE once the INSERT's counters were flushed (see EndToEnd.test.ts): pg_stale_statistics stays quiet.
  yield* db.sql.unsafe("ANALYZE orders")
  yield* db.sql.unsafe("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
  return db
})

interface StoredAiFinding {
  readonly query_id: string
  readonly rule: string
  readonly subject: string
  readonly severity: string
  readonly source: string
  readonly message: string
  readonly evidence: string
  readonly advice: string
  readonly suggestion: unknown
  readonly verified: { readonly cost_before: number; readonly cost_after: number } | null
  readonly reduction: number
  readonly open: boolean
}

const aiFindings = (storeUrl: string, pipeline: string) =>
  Effect.flatMap(storeClient(storeUrl), (sql) =>
    sql.unsafe<StoredAiFinding>(
      `SELECT query_id, rule, subject, severity, source, message, evidence, advice, suggestion, verified, reduction,
              resolved_at IS NULL AS open
       FROM slowq_findings WHERE pipeline = $1 AND scope = 'ai' ORDER BY query_id, rule, subject`,
      [pipeline]
    )
  )

const GOOD_ANSWER = JSON.stringify({
  findings: [
    {
      rule: "seq_scan_for_one_customer",
      severity: "warn",
      message: "200000 rows read to return about 40",
      evidence: "Seq Scan on orders",
      advice: "Index orders(customer).",
      index: { table: "public.orders", columns: ["customer"] }
    },
    {
      rule: "ai_index_on_total",
      severity: "info",
      message: "total is not filtered on",
      evidence: "Filter",
      advice: "An index on total would not help this query.",
      index: { table: "orders", columns: ["total"] }
    },
    {
      rule: "note_filter",
      severity: "info",
      message: "the note filter keeps almost every row",
      evidence: "Filter: note <> ?",
      advice: "Drop the note condition if the application does not need it."
    }
  ]
})

const utcDay = () => new Date().toISOString().slice(0, 10)

const memoryOf = (storeUrl: string, pipeline: string) =>
  Effect.flatMap(storeClient(storeUrl), (sql) =>
    sql.unsafe<{ key: string; value: unknown }>(
      "SELECT key, value FROM slowq_stage_memory WHERE pipeline = $1 AND stage = 'analyze' AND key LIKE 'ai%' ORDER BY key",
      [pipeline]
    )
  )

const queryIdOf = (storeUrl: string, pipeline: string, sample: string) =>
  Effect.flatMap(storeClient(storeUrl), (sql) =>
    sql.unsafe<{ query_id: string }>("SELECT query_id FROM slowq_queries WHERE pipeline = $1 AND sample = $2", [pipeline, sample])
  ).pipe(
    Effect.map((rows) => {
      expect(rows).toHaveLength(1)
      return rows[0]!.query_id
    })
  )

/** How many times `text` occurs in `haystack`. */
const occurrences = (haystack: string, text: string) => haystack.split(text).length - 1

const COST = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

describe("the AI step through the pipeline (pg_stat_statements → explain → analyze → store)", () => {
  it.live(
    "sends the exact literal-free request, stores the answer as ai findings with the proposed index checked by HypoPG, and asks once per plan across processes",
    () =>
      Effect.gen(function* () {
        const server = yield* chatServer((_, index) => ({
          status: 200,
          body: completion(index === 0 ? GOOD_ANSWER : '{"findings": []}')
        }))
        const db = yield* ordersDatabase
        // A comment and literals of the sample's own: pg_stat_statements keeps the comment, the fingerprint drops it.
        const statement = "SELECT /* ai-comment-marker */ id, total FROM orders WHERE customer = 42 AND note <> 'ai-literal-marker'"
        const sample = "SELECT /* ai-comment-marker */ id, total FROM orders WHERE customer = $1 AND note <> $2"
        yield* db.sql.unsafe(statement)
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({ "ai.yaml": pipelineYaml("ai_pg", db, server.baseUrl) })
        yield* once("ai_pg", dir, store.url)

        // The request: one, exactly this, with no literal or comment of the sample, the seeded rows or the table.
        expect(server.received).toHaveLength(1)
        const request = server.received[0]!
        expect([request.method, request.url]).toEqual(["POST", "/v1/chat/completions"])
        expect(request.headers).toEqual({
          host: server.host,
          connection: "keep-alive",
          accept: "application/json",
          authorization: `Bearer ${KEY}`,
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(request.body))
        })
        const queryId = yield* queryIdOf(store.url, "ai_pg", sample)
        const sql = yield* storeClient(store.url)
        const [stored] = yield* sql.unsafe<{ plan: unknown; hash: string }>(
          "SELECT plan, hash FROM slowq_plans WHERE pipeline = 'ai_pg' AND query_id = $1",
          [queryId]
        )
        const ruleFindings = yield* sql.unsafe<{ rule: string; severity: string; message: string }>(
          `SELECT rule, severity, message FROM slowq_findings WHERE pipeline = 'ai_pg' AND query_id = $1 AND scope <> 'ai'
           ORDER BY array_position(ARRAY['statement', 'plan', 'index_advice'], scope), rule`,
          [queryId]
        )
        expect(ruleFindings.map((f) => f.rule)).toEqual(["pg_seq_scan_filter", "pg_index_suggestion"])
        const [{ version }] = (yield* db.sql.unsafe<{ version: string }>(`${SLOWQ_MARKER} SELECT current_setting('server_version') AS version`)) as [
          { version: string }
        ]
        const [{ bytes }] = (yield* db.sql.unsafe<{ bytes: number }>(
          // slowq's marker: the pipeline leaves the test's own statements out, as it leaves out its own.
          `${SLOWQ_MARKER} SELECT pg_total_relation_size('orders')::float8 AS bytes`
        )) as [{ bytes: number }]
        const body = JSON.parse(request.body) as { messages: ReadonlyArray<{ role: string; content: string }> }
        expect({ ...body, messages: body.messages.map((m) => ({ ...m, content: m.role === "user" ? JSON.parse(m.content) : m.content })) }).toEqual({
          model: "test-model",
          messages: [
            { role: "system", content: systemPrompt("postgres") },
            {
              role: "user",
              content: {
                dialect: "PostgreSQL",
                server_version: version,
                sql: "SELECT id, total FROM orders WHERE customer = ? AND note <> ?",
                plan: normalizePlan(stored!.plan, "postgres"),
                tables: [
                  {
                    name: "public.orders",
                    // No DEFAULT: a default is a value; the indexes as the catalog defines them.
                    definition:
                      "CREATE TABLE public.orders (id integer NOT NULL, customer integer NOT NULL, total integer NOT NULL, note text NOT NULL);\nCREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id);",
                    rows: 200000,
                    bytes
                  }
                ],
                findings: ruleFindings.map((f) => ({ ...f, message: normalizeSqlText(f.message, "postgres") }))
              }
            }
          ],
          response_format: { type: "json_object" }
        })
        expect(JSON.stringify(normalizePlan(stored!.plan, "postgres"))).toContain('"Filter":"((note <> ?) AND (customer = ?))"')
        for (const literal of ["ai-comment-marker", "ai-literal-marker", "seed-", "7731", "$1", KEY]) {
          expect(request.body).not.toContain(literal)
        }

        // The answer, as findings of source ai: the index that helps verified with the planner's costs, the one that
        // does not left unverified with the reason, the plain finding as it came, rule ids prefixed ai_.
        const found = yield* aiFindings(store.url, "ai_pg")
        const cost = found.find((f) => f.rule === "ai_seq_scan_for_one_customer")!.verified!
        const planCost = (stored!.plan as ReadonlyArray<{ Plan: { "Total Cost": number } }>)[0]!.Plan["Total Cost"]
        expect(cost.cost_before).toBe(planCost)
        expect(cost.cost_after).toBeLessThanOrEqual(planCost / 2)
        const reduction = 1 - cost.cost_after / cost.cost_before
        expect(found).toEqual([
          {
            query_id: queryId,
            rule: "ai_index_on_total",
            subject: "orders(total)",
            severity: "info",
            source: "ai",
            message: `total is not filtered on (index not verified: the planner does not use it (cost ${COST.format(planCost)}))`,
            evidence: "Filter",
            advice: "An index on total would not help this query.",
            suggestion: { kind: "create_index", ddl: "CREATE INDEX CONCURRENTLY ON public.orders (total);" },
            verified: null,
            reduction: 0.02,
            open: true
          },
          {
            query_id: queryId,
            rule: "ai_note_filter",
            subject: "",
            severity: "info",
            source: "ai",
            message: "the note filter keeps almost every row",
            evidence: "Filter: note <> ?",
            advice: "Drop the note condition if the application does not need it.",
            suggestion: null,
            verified: null,
            reduction: 0.02,
            open: true
          },
          {
            query_id: queryId,
            rule: "ai_seq_scan_for_one_customer",
            subject: "orders(customer)",
            severity: "warn",
            source: "ai",
            message: `200000 rows read to return about 40 (index checked with a hypothetical index: the planner's cost goes from ${COST.format(cost.cost_before)} to ${COST.format(cost.cost_after)}, −${Math.round(reduction * 100)}%)`,
            evidence: "Seq Scan on orders",
            advice: "Index orders(customer).",
            suggestion: { kind: "create_index", ddl: "CREATE INDEX CONCURRENTLY ON public.orders (customer);" },
            verified: { cost_before: cost.cost_before, cost_after: cost.cost_after },
            reduction: expect.closeTo(reduction, 9),
            open: true
          }
        ])
        const day = utcDay()
        expect(yield* memoryOf(store.url, "ai_pg")).toEqual([
          { key: `ai-budget:${day}`, value: 1 },
          { key: `ai:${queryId}`, value: { hash: stored!.hash, findings: expect.any(Array), at: expect.any(Number) } }
        ])

        // A second process, the same plan: the answer comes from the stage's memory, re-emitted (last_seen moves), no call.
        const seenBefore = yield* sql.unsafe<{ last_seen: Date }>(
          "SELECT max(last_seen) AS last_seen FROM slowq_findings WHERE pipeline = 'ai_pg' AND scope = 'ai'"
        )
        yield* db.sql.unsafe(statement)
        yield* once("ai_pg", dir, store.url)
        expect(server.received).toHaveLength(1)
        const again = yield* aiFindings(store.url, "ai_pg")
        expect(again).toEqual(found)
        const [explained] = yield* sql.unsafe<{ n: number }>(
          "SELECT count(DISTINCT hash)::int AS n FROM slowq_plans WHERE pipeline = 'ai_pg' AND query_id = $1",
          [queryId]
        )
        expect(explained!.n).toBe(1)
        const [seenAfter] = yield* sql.unsafe<{ n: number }>(
          "SELECT count(*)::int AS n FROM slowq_findings WHERE pipeline = 'ai_pg' AND scope = 'ai' AND last_seen > $1",
          [seenBefore[0]!.last_seen]
        )
        expect(seenAfter!.n).toBe(3)

        // The index really created: a new plan, so the model is asked again; it finds nothing now, which resolves
        // the earlier AI findings of the query.
        yield* db.sql.unsafe("CREATE INDEX orders_customer ON orders (customer)")
        yield* db.sql.unsafe("ANALYZE orders")
        yield* db.sql.unsafe(statement)
        yield* once("ai_pg", dir, store.url)
        expect(server.received).toHaveLength(2)
        expect((yield* aiFindings(store.url, "ai_pg")).map((f) => [f.rule, f.open])).toEqual([
          ["ai_index_on_total", false],
          ["ai_note_filter", false],
          ["ai_seq_scan_for_one_customer", false]
        ])
        expect((yield* memoryOf(store.url, "ai_pg")).map((entry) => entry.value)).toEqual([
          2,
          { hash: expect.not.stringMatching(`^${stored!.hash}$`), findings: [], at: expect.any(Number) }
        ])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "malformed, failing and slow answers store nothing and are logged once each with the endpoint's host, the events are stored, and the daily budget stops calls past it, across processes",
    () =>
      Effect.gen(function* () {
        const statements = {
          malformed: "SELECT id FROM orders WHERE total = 13",
          failing: "SELECT id FROM orders WHERE customer = 77",
          slow: "SELECT count(*) FROM orders WHERE note = 'ai-slow-marker'",
          // A primary-key lookup: the least time of the batch, so the one the budget leaves out.
          unasked: "SELECT total FROM orders WHERE id = 5"
        }
        const replyFor = (request: ReceivedRequest): ChatReply => {
          const content = (JSON.parse(request.body) as { messages: ReadonlyArray<{ content: string }> }).messages[1]!.content
          const sql = (JSON.parse(content) as { sql: string }).sql
          if (sql.includes("total = ?")) return { status: 200, body: completion('{"findings": [') }
          if (sql.includes("customer = ?")) return { status: 500, body: JSON.stringify({ error: { message: "boom" } }) }
          if (sql.includes("note = ?")) return { status: 200, body: completion('{"findings": []}'), delayMs: 3000 }
          return { status: 200, body: completion(GOOD_ANSWER) }
        }
        const server = yield* chatServer(replyFor)
        const db = yield* ordersDatabase
        const run = Effect.forEach(Object.values(statements), (statement) => db.sql.unsafe(statement), { discard: true })
        yield* run
        const store = yield* freshStoreDatabase
        const dir = yield* pipelinesDir({
          "ai.yaml": pipelineYaml("ai_fail", db, server.baseUrl, ["timeout: 500ms", "daily_budget: 3"])
        })
        const first = yield* once("ai_fail", dir, store.url)

        // Three calls, the most time first; the fourth query is past the budget.
        expect(server.received).toHaveLength(3)
        const asked = server.received.map(
          (request) =>
            (JSON.parse((JSON.parse(request.body) as { messages: ReadonlyArray<{ content: string }> }).messages[1]!.content) as { sql: string }).sql
        )
        expect([...asked].sort()).toEqual([
          "SELECT count(*) FROM orders WHERE note = ?",
          "SELECT id FROM orders WHERE customer = ?",
          "SELECT id FROM orders WHERE total = ?"
        ])
        expect(server.received.map((r) => r.body).join("\n")).not.toContain("ai-slow-marker")
        const ids = {
          malformed: yield* queryIdOf(store.url, "ai_fail", "SELECT id FROM orders WHERE total = $1"),
          failing: yield* queryIdOf(store.url, "ai_fail", "SELECT id FROM orders WHERE customer = $1"),
          slow: yield* queryIdOf(store.url, "ai_fail", "SELECT count(*) FROM orders WHERE note = $1"),
          unasked: yield* queryIdOf(store.url, "ai_fail", "SELECT total FROM orders WHERE id = $1")
        }
        // Each logged once, naming the endpoint's host and the reason.
        const host = server.host
        const day = utcDay()
        for (const line of [
          `AI answer from ${host} rejected: the model's answer is not the findings JSON: Unexpected end of JSON input`,
          `analyze: no AI advice for query ${ids.failing}: ${host} answered HTTP 500`,
          `analyze: no AI advice for query ${ids.slow}: ${host} did not answer within 500ms`,
          `analyze: AI call budget spent: 3 calls on ${day} (UTC); 1 queries not asked, no more calls until 00:00 UTC`
        ]) {
          expect([line, occurrences(first.stderr, line)]).toEqual([line, 1])
        }
        expect(first.stderr).toMatch(new RegExp(`level=WARN .*AI answer from ${host} rejected.* query_id=${ids.malformed}`))

        // Nothing from the AI in the store; the run's events and the rules' findings are there.
        expect(yield* aiFindings(store.url, "ai_fail")).toEqual([])
        const sql = yield* storeClient(store.url)
        const events = yield* sql.unsafe<{ query_id: string; n: number }>(
          "SELECT query_id, count(*)::int AS n FROM slowq_events WHERE pipeline = 'ai_fail' AND query_id = ANY($1) GROUP BY query_id ORDER BY query_id",
          [Object.values(ids)]
        )
        expect(events).toEqual(Object.values(ids).sort().map((query_id) => ({ query_id, n: 1 })))
        const [rules] = yield* sql.unsafe<{ n: number }>(
          "SELECT count(*)::int AS n FROM slowq_findings WHERE pipeline = 'ai_fail' AND rule = 'pg_seq_scan_filter'"
        )
        expect(rules!.n).toBe(3)
        // The malformed answer is remembered as no findings (asking the same plan again would pay for the same
        // answer); the failed calls are not, but all three count.
        expect((yield* memoryOf(store.url, "ai_fail")).map((entry) => [entry.key, entry.value])).toEqual([
          [`ai-budget:${day}`, 3],
          [`ai:${ids.malformed}`, { hash: expect.any(String), findings: [], at: expect.any(Number) }]
        ])

        // A new process the same day: the budget in the store is spent, so no call at all, the failed ones included.
        yield* run
        const second = yield* once("ai_fail", dir, store.url)
        expect(server.received).toHaveLength(3)
        expect(second.stderr).not.toContain("AI call budget spent")
        expect(yield* aiFindings(store.url, "ai_fail")).toEqual([])
        const [stored] = yield* sql.unsafe<{ n: number }>(
          "SELECT count(*)::int AS n FROM slowq_events WHERE pipeline = 'ai_fail' AND query_id = ANY($1)",
          [Object.values(ids)]
        )
        expect(stored!.n).toBe(8)
      }).pipe(Effect.scoped),
    120_000
  )
})

// The step alone, on MySQL/MariaDB (no connection: no tables, no version, no planner check), with the stage memory
// in a map and a batch made by hand: what it remembers, and what it does without its memory.
describe("the AI step on its own", () => {
  const NOW = Date.parse("2026-12-07T12:00:00Z")
  const PLAN = { query_block: { select_id: 1, table: { table_name: "customers", access_type: "ALL", rows: 200000, attached_condition: "customers.email = 'x@example.org'" } } }

  const batchOf = (events: ReadonlyArray<CollectedEvent>, hash = "h1"): BatchView => ({
    dialect: "mysql",
    events,
    slowest: new Map(events.map((e) => [e.fingerprint.queryId, e])),
    plans: new Map(events.map((e) => [e.fingerprint.queryId, { plan: PLAN, hash, method: "direct", capturedAt: new Date(NOW) }])),
    totals: new Map(events.map((e) => [e.fingerprint.queryId, { calls: 1, totalMs: e.event.queryTimeMs, firstAt: NOW, lastAt: NOW }])),
    now: NOW
  })

  const ANSWER = JSON.stringify({
    findings: [
      {
        rule: "email_lookup",
        severity: "warn",
        message: "a full scan to find one email",
        evidence: "customers ALL",
        advice: "Index email.",
        index: { table: "shop.customers", columns: ["email"] }
      }
    ]
  })

  const stepWith = (baseUrl: string, memory: StageMemory, dailyBudget = 100) =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const logger = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message, annotations }) => {
          const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
          logs.push(`${logLevel.label} ${text} ${JSON.stringify(Object.fromEntries(HashMap.toEntries(annotations)))}`)
        })
      )
      const config = Schema.decodeUnknownSync(OpenAiCompatibleConfig)({
        type: "openai_compatible",
        base_url: baseUrl,
        model: "test-model",
        daily_budget: dailyBudget
      })
      const advisor = Context.get(yield* Layer.build(openAiCompatible(config)), AiAdvisor)
      const step = aiStep(advisor, { dialect: "mysql", dailyBudget, checkTimeoutMs: 1000 }, memory, Option.none())
      const run = (batch: BatchView, earlier: ReadonlyArray<QueryFindings> = []) =>
        step.run(batch, earlier).pipe(Effect.provide(logger))
      return { run, logs }
    })

  it.scopedLive("MySQL: the index stays unverified and says why; the answer and the call are remembered; the same plan is not asked again", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(() => ({ status: 200, body: completion(ANSWER) }))
      const map = new Map<string, unknown>()
      const { run } = yield* stepWith(server.baseUrl, memoryIn(map))
      const event = eventOf("SELECT * FROM shop.customers WHERE email = ?", { queryTimeMs: 80 })
      const id = event.fingerprint.queryId
      const earlier: ReadonlyArray<QueryFindings> = [
        {
          queryId: id,
          scope: "plan",
          findings: [
            { rule: "mysql_full_scan", severity: "warn", message: "full scan of customers: 200,000 rows", evidence: "e", advice: "a", source: "rule" }
          ]
        },
        { queryId: "other", scope: "plan", findings: [{ rule: "x", severity: "crit", message: "m", evidence: "e", advice: "a", source: "rule" }] }
      ]
      const first = yield* run(batchOf([event]), earlier)
      const finding = {
        rule: "ai_email_lookup",
        severity: "warn",
        evidence: "customers ALL",
        advice: "Index email.",
        source: "ai",
        subject: "shop.customers(email)",
        message: "a full scan to find one email (index not verified: MySQL/MariaDB has no hypothetical indexes to check it with)",
        suggestion: null,
        verified: null,
        reduction: 0.05
      }
      expect(first).toEqual({
        findings: [{ queryId: id, scope: "ai", findings: [finding] }],
        remember: [
          { key: `ai:${id}`, value: { hash: "h1", findings: [finding], at: NOW } },
          { key: "ai-budget:2026-12-07", value: 1 }
        ]
      })
      const sent = JSON.parse((JSON.parse(server.received[0]!.body) as { messages: ReadonlyArray<{ content: string }> }).messages[1]!.content)
      expect(sent).toEqual({
        dialect: "MySQL/MariaDB",
        server_version: "unknown",
        sql: "SELECT * FROM shop.customers WHERE email = ?",
        plan: { query_block: { select_id: 1, table: { table_name: "customers", access_type: "ALL", rows: 200000, attached_condition: "customers.email = ?" } } },
        tables: [],
        findings: [{ rule: "mysql_full_scan", severity: "warn", message: "full scan of customers: ?,? rows" }]
      })
      for (const { key, value } of first.remember) map.set(key, value)

      // The same plan: the remembered findings, no call, nothing new to remember. A new plan hash: asked again.
      expect(yield* run(batchOf([event]))).toEqual({ findings: [{ queryId: id, scope: "ai", findings: [finding] }], remember: [] })
      expect(server.received).toHaveLength(1)
      const renewed = yield* run(batchOf([event], "h2"))
      expect(server.received).toHaveLength(2)
      expect(renewed.remember).toEqual([
        { key: `ai:${id}`, value: { hash: "h2", findings: [finding], at: NOW } },
        { key: "ai-budget:2026-12-07", value: 2 }
      ])
    })
  )

  it.scopedLive("the budget is the memory's count: spent, no call; a day's count of another day does not count", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(() => ({ status: 200, body: completion(ANSWER) }))
      const slow = eventOf("SELECT * FROM shop.customers WHERE email = ?", { queryTimeMs: 900 })
      const fast = eventOf("SELECT * FROM shop.customers WHERE name = ?", { queryTimeMs: 5 })
      const spent = yield* stepWith(server.baseUrl, memoryIn(new Map([["ai-budget:2026-12-07", 2]])), 2)
      expect(yield* spent.run(batchOf([slow, fast]))).toEqual({ findings: [], remember: [] })
      expect(server.received).toHaveLength(0)
      expect(spent.logs.filter((line) => line.startsWith("INFO") || line.startsWith("WARN"))).toEqual([])
      // Yesterday's count: one call left of 2 after the first; the slower query gets it, the other waits.
      const fresh = yield* stepWith(server.baseUrl, memoryIn(new Map([["ai-budget:2026-12-06", 2], ["ai-budget:2026-12-07", 1]])), 2)
      const output = yield* fresh.run(batchOf([fast, slow]))
      expect(output.findings.map((q) => q.queryId)).toEqual([slow.fingerprint.queryId])
      expect(output.remember.map((entry) => entry.key)).toEqual([`ai:${slow.fingerprint.queryId}`, "ai-budget:2026-12-07"])
      expect(output.remember[1]!.value).toBe(2)
      expect(fresh.logs.filter((line) => line.startsWith("INFO")).map((line) => line.split(" {")[0])).toEqual([
        "INFO analyze: AI call budget spent: 2 calls on 2026-12-07 (UTC); 1 queries not asked, no more calls until 00:00 UTC"
      ])
    })
  )

  it.scopedLive("without its memory the step asks nothing: it could not know the cache or the day's count", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(() => ({ status: 200, body: completion(ANSWER) }))
      const broken: StageMemory = { get: () => Effect.fail(new StageError({ stage: "analyze", message: "stage memory in the store failed: connection refused" })) }
      const { run, logs } = yield* stepWith(server.baseUrl, broken)
      expect(yield* run(batchOf([eventOf("SELECT 1 FROM shop.customers")]))).toEqual({ findings: [], remember: [] })
      expect(server.received).toHaveLength(0)
      expect(logs.map((line) => line.split(" {")[0])).toEqual([
        "WARN analyze: no AI advice this batch: stage memory in the store failed: connection refused"
      ])
    })
  )
})
