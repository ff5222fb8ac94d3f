import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Either, HashMap, Layer, Logger, Schema, TestClock } from "effect"
import { fingerprintMysql } from "../../../src/fingerprint/Fingerprinter.js"
import { type AiAdviceInput, AiAdvisor, AiAdvisorError } from "../../../src/plugin/AiAdvisor.js"
import { systemPrompt } from "./ChatRequest.js"
import { AiConfig, OpenAiCompatibleConfig } from "./config.js"
import { layer } from "./OpenAiCompatible.js"
import { type ChatReply, chatServer, completion, type ReceivedRequest } from "../../../test/support/ai/TestChatServer.js"

const KEY = "sk-test-0123456789abcdef"

const keyFile = (content: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), "slowq-ai-")), "key")
  writeFileSync(path, content)
  return path
}

/** A decoded config; `undefined` in `extra` removes a key. */
const configFor = (baseUrl: string, extra: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(OpenAiCompatibleConfig)(
    Object.fromEntries(
      Object.entries({
        type: "openai_compatible",
        base_url: baseUrl,
        model: "test-model",
        api_key_file: keyFile(`${KEY}\n`),
        ...extra
      }).filter(([, value]) => value !== undefined)
    )
  )

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** The advisor built from `config`, in the test's scope, with its log lines collected. */
const advisorWith = (config: OpenAiCompatibleConfig, provide: Layer.Layer<never> = Layer.empty) =>
  Effect.gen(function* () {
    const logs: Array<LogLine> = []
    const logger = Logger.make(({ logLevel, message, annotations }) => {
      logs.push({
        level: logLevel.label,
        message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        annotations: Object.fromEntries(HashMap.toEntries(annotations))
      })
    })
    const context = yield* Layer.build(
      layer(config).pipe(Layer.provide(provide), Layer.provide(Logger.replace(Logger.defaultLogger, logger)))
    )
    const advisor = Context.get(context, AiAdvisor)
    const advise = (input: AiAdviceInput) =>
      advisor.advise(input).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return { advise, logs }
  })

// A MariaDB sample as the explain stage sees it: the statement, the plan and the table with their literals.
const SAMPLE =
  "SELECT c.id, c.email FROM shop.customers c WHERE c.email = 'alice.secret@example.org' AND c.credit > 31337 /* ticket 8675309 */ ORDER BY c.id LIMIT 10 OFFSET 4000"

const sampleInput = (overrides: Partial<AiAdviceInput> = {}): AiAdviceInput => ({
  queryId: "A1B2C3D4E5F60718",
  planHash: "plan-1",
  dialect: "mysql",
  serverVersion: "10.11.19-MariaDB",
  normalizedSql: fingerprintMysql(SAMPLE).fingerprint,
  plan: {
    query_block: {
      select_id: 1,
      nested_loop: [
        {
          read_sorted_file: {
            filesort: {
              sort_key: "c.`id`",
              table: {
                table_name: "c",
                access_type: "ALL",
                rows: 200000,
                filtered: 0.5,
                attached_condition: "c.email = 'alice.secret@example.org' and c.credit > 31337"
              }
            }
          }
        }
      ]
    }
  },
  tables: [
    {
      name: "shop.customers",
      definition:
        "CREATE TABLE `customers` (\n  `id` int NOT NULL,\n  `email` varchar(190) DEFAULT 'nobody@example.org' COMMENT 'owner: bob',\n  `credit` int DEFAULT 0,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB /* made 2024 */",
      rows: 200000,
      bytes: 25165824
    }
  ],
  findings: [
    { rule: "mysql_full_scan", severity: "warn", message: "full scan of c: 200,000 rows examined" },
    { rule: "stmt_large_offset", severity: "warn", message: "OFFSET 4000 skips 4000 rows" }
  ],
  ...overrides
})

const SAMPLE_LITERALS = ["alice.secret@example.org", "31337", "8675309", "ticket", "nobody@example.org", "owner: bob", "4000", "2024"]

const GOOD_ANSWER = JSON.stringify({
  findings: [
    {
      rule: "full_scan_for_equality",
      severity: "warn",
      message: "  200000 rows read to find one email  ",
      evidence: "query_block.nested_loop[0] c (ALL)",
      advice: "Add an index on customers(email).",
      index: { table: "shop.customers", columns: ["email"] }
    },
    {
      rule: "ai_sort_after_scan",
      severity: "info",
      message: "filesort over the scanned rows",
      evidence: "read_sorted_file",
      advice: "An index on email serves the filter; the sort is then small."
    }
  ]
})

const replyWith =
  (...replies: ReadonlyArray<ChatReply>) =>
  (_: ReceivedRequest, index: number): ChatReply =>
    replies[Math.min(index, replies.length - 1)]!

describe("OpenAI-compatible AI advisor", () => {
  it.scopedLive("posts the exact request, with the key from the file, and no literal of the sample", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(replyWith({ status: 200, body: completion(GOOD_ANSWER) }))
      const { advise, logs } = yield* advisorWith(configFor(server.baseUrl))
      yield* advise(sampleInput())

      expect(server.received).toHaveLength(1)
      const [request] = server.received
      expect(request!.method).toBe("POST")
      expect(request!.url).toBe("/v1/chat/completions")
      expect(request!.headers).toEqual({
        host: server.host,
        connection: "keep-alive",
        accept: "application/json",
        authorization: `Bearer ${KEY}`,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(request!.body))
      })
      expect(JSON.parse(request!.body)).toEqual({
        model: "test-model",
        messages: [
          { role: "system", content: systemPrompt("mysql") },
          {
            role: "user",
            content: JSON.stringify({
              dialect: "MySQL/MariaDB",
              server_version: "10.11.19-MariaDB",
              sql: "select c.id, c.email from shop.customers c where c.email = ? and c.credit > ? order by c.id limit ?",
              plan: {
                query_block: {
                  select_id: 1,
                  nested_loop: [
                    {
                      read_sorted_file: {
                        filesort: {
                          sort_key: "c.`id`",
                          table: {
                            table_name: "c",
                            access_type: "ALL",
                            rows: 200000,
                            filtered: 0.5,
                            attached_condition: "c.email = ? and c.credit > ?"
                          }
                        }
                      }
                    }
                  ]
                }
              },
              tables: [
                {
                  name: "shop.customers",
                  definition:
                    "CREATE TABLE `customers` (\n  `id` int NOT NULL,\n  `email` varchar(190) DEFAULT ? COMMENT ?,\n  `credit` int DEFAULT 0,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB",
                  rows: 200000,
                  bytes: 25165824
                }
              ],
              findings: [
                { rule: "mysql_full_scan", severity: "warn", message: "full scan of c: ?,? rows examined" },
                { rule: "stmt_large_offset", severity: "warn", message: "OFFSET ? skips ? rows" }
              ]
            })
          }
        ],
        response_format: { type: "json_object" }
      })
      for (const literal of SAMPLE_LITERALS) expect(request!.body).not.toContain(literal)
      // The key goes in the header and nowhere else: not in the body, not in a log line.
      expect(request!.body).not.toContain(KEY)
      expect(JSON.stringify(logs)).not.toContain(KEY)
    })
  )

  it.scopedLive("a good answer gives exactly its suggestions, rule ids prefixed ai_", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(replyWith({ status: 200, body: completion(GOOD_ANSWER) }))
      const { advise, logs } = yield* advisorWith(configFor(server.baseUrl))
      expect(yield* advise(sampleInput())).toEqual([
        {
          rule: "ai_full_scan_for_equality",
          severity: "warn",
          message: "200000 rows read to find one email",
          evidence: "query_block.nested_loop[0] c (ALL)",
          advice: "Add an index on customers(email).",
          index: { table: "shop.customers", columns: ["email"] }
        },
        {
          rule: "ai_sort_after_scan",
          severity: "info",
          message: "filesort over the scanned rows",
          evidence: "read_sorted_file",
          advice: "An index on email serves the filter; the sort is then small."
        }
      ])
      expect(logs.filter((line) => line.level !== "DEBUG")).toEqual([])
    })
  )

  it.scopedLive("a malformed or misshapen answer gives no suggestion and a logged rejection", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(
        replyWith(
          { status: 200, body: completion('{"findings": [') },
          {
            status: 200,
            body: completion(
              JSON.stringify({
                findings: [{ rule: "x", severity: "urgent", message: "m", evidence: "e", advice: "a" }]
              })
            )
          },
          { status: 200, body: "<html>gateway</html>" },
          { status: 200, body: JSON.stringify({ choices: [] }) }
        )
      )
      const { advise, logs } = yield* advisorWith(configFor(server.baseUrl))
      for (let i = 0; i < 4; i++) expect(yield* advise(sampleInput({ queryId: `Q${i}` }))).toEqual([])
      expect(server.received).toHaveLength(4)
      const rejections = logs.filter((line) => line.level === "WARN")
      expect(rejections.map((line) => line.message)).toEqual([
        `AI answer from ${server.host} rejected: the model's answer is not the findings JSON: Unexpected end of JSON input`,
        `AI answer from ${server.host} rejected: the model's answer is not the findings JSON: findings.0.severity: Expected "info", "warn" or "crit", actual "urgent"`,
        `AI answer from ${server.host} rejected: the response body is not JSON`,
        `AI answer from ${server.host} rejected: not a chat completion: choices.0: is missing`
      ])
      expect(rejections.map((line) => line.annotations.query_id)).toEqual(["Q0", "Q1", "Q2", "Q3"])
      expect(rejections[0]!.annotations).toMatchObject({ ai: "openai_compatible", model: "test-model", endpoint: server.host })
    })
  )

  it.scopedLive("an answer slower than the timeout is a timeout error", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(replyWith({ status: 200, body: completion(GOOD_ANSWER), delayMs: 3000 }))
      const { advise } = yield* advisorWith(configFor(server.baseUrl, { timeout: "200ms" }))
      const started = Date.now()
      const result = yield* Effect.either(advise(sampleInput()))
      expect(Date.now() - started).toBeLessThan(2000)
      expect(result).toEqual(
        Either.left(
          new AiAdvisorError({
            provider: "openai_compatible",
            reason: "timeout",
            message: `${server.host} did not answer within 200ms`
          })
        )
      )
    })
  )

  it.scopedLive("an HTTP 500 is an error carrying the status; an unreachable endpoint a transport error", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(replyWith({ status: 500, body: JSON.stringify({ error: { message: "boom" } }) }))
      const { advise } = yield* advisorWith(configFor(server.baseUrl))
      expect(yield* Effect.either(advise(sampleInput()))).toEqual(
        Either.left(
          new AiAdvisorError({
            provider: "openai_compatible",
            reason: "status",
            status: 500,
            message: `${server.host} answered HTTP 500`
          })
        )
      )
      // A failed call is not cached: the next one asks again.
      yield* Effect.either(advise(sampleInput()))
      expect(server.received).toHaveLength(2)

      const closed = yield* advisorWith(configFor("http://127.0.0.1:9/v1"))
      const failure = yield* Effect.flip(closed.advise(sampleInput()))
      expect([failure.reason, failure.status, failure.message.startsWith("127.0.0.1:9: ")]).toEqual([
        "transport",
        undefined,
        true
      ])
      expect(JSON.stringify(failure)).not.toContain(KEY)
    })
  )

  it.scoped("the daily budget stops the second call of a day of budget 1; the next UTC day allows one again", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.parse("2026-12-07T23:00:00Z"))
      const server = yield* chatServer(replyWith({ status: 200, body: completion(GOOD_ANSWER) }))
      const { advise, logs } = yield* advisorWith(configFor(server.baseUrl, { daily_budget: 1 }))
      expect(yield* advise(sampleInput({ queryId: "Q1" }))).toHaveLength(2)
      expect(yield* advise(sampleInput({ queryId: "Q2" }))).toEqual([])
      expect(yield* advise(sampleInput({ queryId: "Q3" }))).toEqual([])
      expect(server.received).toHaveLength(1)
      expect(logs.filter((line) => line.level === "INFO").map((line) => line.message)).toEqual([
        "AI call budget spent: 1 calls on 2026-12-07 (UTC); no more calls until 00:00 UTC"
      ])
      yield* TestClock.adjust("1 hour")
      expect(yield* advise(sampleInput({ queryId: "Q2" }))).toHaveLength(2)
      expect(server.received).toHaveLength(2)
    })
  )

  it.scopedLive("the same (query id, plan hash) is answered from the cache, a new plan hash is asked", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(
        replyWith({ status: 200, body: completion(GOOD_ANSWER) }, { status: 200, body: completion('{"findings": []}') })
      )
      const { advise } = yield* advisorWith(configFor(server.baseUrl))
      const first = yield* advise(sampleInput())
      expect(first).toHaveLength(2)
      expect(yield* advise(sampleInput())).toEqual(first)
      expect(server.received).toHaveLength(1)
      expect(yield* advise(sampleInput({ planHash: "plan-2" }))).toEqual([])
      expect(yield* advise(sampleInput({ planHash: "plan-2" }))).toEqual([])
      expect(server.received).toHaveLength(2)
    })
  )

  it.scopedLive("the key comes from an environment variable, or is absent for a local server", () =>
    Effect.gen(function* () {
      const server = yield* chatServer(replyWith({ status: 200, body: completion('{"findings": []}') }))
      const env = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["SLOWQ_TEST_AI_KEY", "sk-env-key"]])))
      const fromEnv = yield* advisorWith(
        configFor(server.baseUrl, { api_key_file: undefined, api_key_env: "SLOWQ_TEST_AI_KEY" }),
        env
      )
      yield* fromEnv.advise(sampleInput())
      const keyless = yield* advisorWith(
        Schema.decodeUnknownSync(OpenAiCompatibleConfig)({ type: "openai_compatible", base_url: server.baseUrl, model: "m" })
      )
      yield* keyless.advise(sampleInput())
      expect(server.received.map((request) => request.headers.authorization)).toEqual(["Bearer sk-env-key", undefined])
    })
  )

  it.scoped("a key that cannot be read stops the advisor at start, naming where it looked and never a key", () =>
    Effect.gen(function* () {
      const env = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["EMPTY_KEY", " "]])))
      const failureOf = (extra: Record<string, unknown>, provide: Layer.Layer<never> = Layer.empty) =>
        Effect.flip(advisorWith(configFor("http://127.0.0.1:9/v1", { api_key_file: undefined, ...extra }), provide))
      expect((yield* failureOf({ api_key_env: "SLOWQ_TEST_UNSET_KEY" })).message).toBe(
        "the API key's environment variable SLOWQ_TEST_UNSET_KEY is not set"
      )
      expect((yield* failureOf({ api_key_env: "EMPTY_KEY" }, env)).message).toBe(
        "the API key's environment variable EMPTY_KEY is empty"
      )
      const empty = keyFile("\n")
      expect((yield* failureOf({ api_key_file: empty })).message).toBe(`the API key file ${empty} is empty`)
      const missing = yield* failureOf({ api_key_file: "/nonexistent/slowq/key" })
      expect([missing.reason, missing.message]).toEqual([
        "key",
        expect.stringMatching(/^the API key file cannot be read: .*\/nonexistent\/slowq\/key/)
      ])
    })
  )
})

describe("AI config", () => {
  const decode = Schema.decodeUnknownEither(AiConfig)

  it("defaults: 60s timeout, 100 calls a day; none is a type of its own", () => {
    const config = Schema.decodeUnknownSync(AiConfig)({
      type: "openai_compatible",
      base_url: "http://127.0.0.1:11434/v1",
      model: "llama3.1"
    })
    expect(config).toMatchObject({ type: "openai_compatible", daily_budget: 100 })
    expect(config.type === "openai_compatible" && config.timeout).toEqual(expect.objectContaining({ value: { _tag: "Millis", millis: 60_000 } }))
    expect(Schema.decodeUnknownSync(AiConfig)({ type: "none" })).toEqual({ type: "none" })
  })

  it("refuses credentials in the URL, both key sources at once, and a bad duration", () => {
    const problems = (input: Record<string, unknown>) =>
      Either.match(decode({ type: "openai_compatible", model: "m", base_url: "http://127.0.0.1/v1", ...input }), {
        onLeft: (error) => error.message,
        onRight: () => "valid"
      })
    const withPassword = problems({ base_url: "https://user:pw-s3cret@api.example.com/v1" })
    expect(withPassword).toContain("Expected an http(s) URL without credentials or query")
    expect(withPassword).not.toContain("s3cret")
    expect(problems({ api_key_env: "K", api_key_file: "/k" })).toContain(
      "conflicts with api_key_env; give only one of: api_key_env | api_key_file"
    )
    expect(problems({ timeout: "soon" })).toContain('Expected a positive duration such as 500ms, 30s or 2m, actual "soon"')
    expect(problems({ api_key_env: "not a name" })).toContain("Expected the name of an environment variable")
    expect(problems({})).toBe("valid")
  })
})
