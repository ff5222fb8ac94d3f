import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Runtime, Schema } from "effect"
import fc from "fast-check"
import { fingerprintMysql } from "../../../src/fingerprint/Fingerprinter.js"
import { fingerprintPostgres, loadPostgresParser } from "../../../src/fingerprint/PostgresFingerprint.js"
import type { SqlDialect } from "../../../src/fingerprint/SqlDialect.js"
import { type AiAdviceInput, AiAdvisor } from "../../../src/plugin/AiAdvisor.js"
import { chatBody } from "./ChatRequest.js"
import { OpenAiCompatibleConfig } from "./config.js"
import { layer } from "./OpenAiCompatible.js"
import { chatServer, completion } from "../../../test/support/ai/TestChatServer.js"

// Issue 12: the AI hook's request carries no literal from any sample. Random string and number literals (and
// comments) are put into statements, plan conditions, table definitions and rule messages built from templates
// of both dialects; the request the local chat-completions server receives must hold none of them.

/** A string literal's value: quotes, backslashes, LIKE wildcards, `$`, non-ASCII. Never a `?`, which stays. */
const stringValue = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") },
      { weight: 1, arbitrary: fc.constantFrom("'", '"', "\\", "%", "_", "@", ".", "-", " ", "$", "é", "€", ";", "*", "/") }
    ),
    { minLength: 6, maxLength: 24 }
  )
  .map((chars) => chars.join(""))

/** A number literal as written in SQL. */
const numberValue = fc.oneof(
  fc.integer({ min: 10_000, max: 2_000_000_000 }).map(String),
  fc.tuple(fc.integer({ min: 100, max: 999_999 }), fc.integer({ min: 1, max: 9_999 })).map(([a, b]) => `${a}.${b}`),
  fc.tuple(fc.integer({ min: 11, max: 99_999 }), fc.integer({ min: 2, max: 30 })).map(([a, b]) => `${a}e${b}`)
)

/** A comment's text: anything that does not close the comment early. */
const commentValue = stringValue.map((text) => `note ${text.replaceAll("*", "x").replaceAll("/", "y")}`)

const Sample = fc.record({
  dialect: fc.constantFrom<SqlDialect>("mysql", "postgres"),
  template: fc.nat({ max: 2 }),
  s1: stringValue,
  s2: stringValue,
  n1: numberValue,
  n2: numberValue,
  comment: commentValue
})
type Sample = typeof Sample extends fc.Arbitrary<infer T> ? T : never

// How each server prints a string inside a plan condition: MariaDB with backslash escapes, PostgreSQL doubling quotes.
const quote = (dialect: SqlDialect, value: string): string =>
  dialect === "mysql"
    ? `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`
    : `'${value.replaceAll("'", "''")}'`

const statementOf = ({ dialect, template, s1, s2, n1, n2, comment }: Sample): string => {
  const [a, b] = [quote(dialect, s1), quote(dialect, s2)]
  switch (template) {
    case 0:
      return `SELECT o.id, o.total FROM shop.orders o WHERE o.status = ${a} AND o.total > ${n1} /* ${comment} */ ORDER BY o.id LIMIT ${n2}`
    case 1:
      return `UPDATE shop.orders SET note = ${a} WHERE id IN (${n1}, ${n2}) AND customer LIKE ${b} -- ${comment}`
    default:
      return `SELECT c.name FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id WHERE c.email = ${b} OR o.total BETWEEN ${n1} AND ${n2} /* ${comment} */`
  }
}

const planOf = ({ dialect, s1, s2, n1, n2, comment }: Sample): unknown => {
  const [a, b] = [quote(dialect, s1), quote(dialect, s2)]
  return dialect === "mysql"
    ? {
        query_block: {
          select_id: 1,
          nested_loop: [
            {
              table: {
                table_name: "o",
                access_type: "range",
                possible_keys: ["total"],
                key: "total",
                used_key_parts: ["total"],
                rows: 31,
                filtered: 100,
                index_condition: `o.total > ${n1} /* ${comment} */`,
                attached_condition: `o.\`status\` = ${a} and (o.customer like ${b} or o.id in (${n1},${n2}))`
              }
            }
          ]
        }
      }
    : [
        {
          Plan: {
            "Node Type": "Bitmap Heap Scan",
            "Relation Name": "orders",
            Alias: "o",
            "Plan Rows": 31,
            "Recheck Cond": `(total > '${n1}'::numeric)`,
            Filter: `((status = ${a}::text) AND ((customer ~~ ${b}::text) OR (id = ANY ('{${n1},${n2}}'::bigint[]))))`,
            Plans: [{ "Node Type": "Bitmap Index Scan", "Index Name": "orders_total", "Index Cond": `(total > ${n2})` }]
          }
        }
      ]
}

let queries = 0

const inputOf = (sample: Sample): AiAdviceInput => {
  const sql = statementOf(sample)
  const fingerprinted = sample.dialect === "mysql" ? fingerprintMysql(sql) : fingerprintPostgres(sql)
  return {
    queryId: `Q${++queries}`,
    planHash: "h",
    dialect: sample.dialect,
    serverVersion: sample.dialect === "mysql" ? "10.11.19-MariaDB" : "15.18",
    normalizedSql: fingerprinted.fingerprint,
    plan: planOf(sample),
    tables: [
      {
        name: "shop.orders",
        // Numbers of a definition are kept (type sizes, CHECK bounds: the schema's, not a sample's); strings go.
        definition: `CREATE TABLE orders (id bigint, status varchar(20) DEFAULT ${quote(sample.dialect, sample.s1)}, total numeric CHECK (total > 0)) /* ${sample.comment} */`,
        rows: 200000,
        bytes: 25165824
      }
    ],
    findings: [{ rule: "stmt_large_offset", severity: "warn", message: `OFFSET ${sample.n1} skips ${sample.n1} rows near ${quote(sample.dialect, sample.s2)}` }]
  }
}

// The request's text with the sample's values all taken out: what any literal is looked for in must not already
// hold it (a value such as "200000" is the table's row count, not a leak).
const NEUTRAL = { s1: "NEUTRAL", s2: "NEUTRAL", n1: "7", n2: "7", comment: "note" }

const literalsOf = (sample: Sample): ReadonlyArray<string> => [
  sample.s1,
  sample.s2,
  sample.n1,
  sample.n2,
  sample.comment,
  quote(sample.dialect, sample.s1),
  quote(sample.dialect, sample.s2)
]

// Each literal as it would appear in the raw HTTP body: itself, and JSON-escaped once (the body) and twice (the
// user message is JSON inside a JSON string).
const spellings = (literal: string): ReadonlyArray<string> => {
  const once = JSON.stringify(literal).slice(1, -1)
  return [literal, once, JSON.stringify(once).slice(1, -1)]
}

describe("AI request: no literal of any sample", () => {
  it.scopedLive(
    "the body the chat-completions server receives never holds a literal, a comment or a key",
    () =>
      Effect.gen(function* () {
        yield* Effect.promise(() => loadPostgresParser())
        const server = yield* chatServer(() => ({ status: 200, body: completion('{"findings": []}') }))
        const config = Schema.decodeUnknownSync(OpenAiCompatibleConfig)({
          type: "openai_compatible",
          base_url: server.baseUrl,
          model: "m",
          daily_budget: 1_000_000
        })
        const advisor = Context.get(yield* Layer.build(layer(config)), AiAdvisor)
        const runtime = yield* Effect.runtime<never>()
        let runs = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(Sample, (sample) => {
              const neutral = JSON.stringify(chatBody("m", inputOf({ ...sample, ...NEUTRAL })))
              const literals = literalsOf(sample)
              fc.pre(literals.every((literal) => spellings(literal).every((text) => !neutral.includes(text))))
              return Runtime.runPromise(runtime)(
                Effect.gen(function* () {
                  const before = server.received.length
                  yield* advisor.advise(inputOf(sample))
                  expect(server.received.length).toBe(before + 1)
                  const body = server.received[before]!.body
                  for (const literal of literals) {
                    for (const text of spellings(literal)) expect(body).not.toContain(text)
                  }
                  runs++
                })
              )
            }),
            { numRuns: 300 }
          )
        )
        expect(runs).toBeGreaterThan(250)
      }),
    120_000
  )
})
