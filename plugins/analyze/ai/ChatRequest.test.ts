import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { AiAdvisor } from "../../../src/plugin/AiAdvisor.js"
import { decodeAnswer, safePayload } from "./ChatRequest.js"
import { completion } from "../../../test/support/ai/TestChatServer.js"

const finding = (extra: Record<string, unknown> = {}) => ({
  rule: "seq_scan_on_filter",
  severity: "crit",
  message: "m",
  evidence: "e",
  advice: "a",
  ...extra
})

const answer = (findings: ReadonlyArray<unknown>) => completion(JSON.stringify({ findings }))

describe("decodeAnswer", () => {
  it("keeps a well-formed answer, prefixing rule ids with ai_ once", () => {
    expect(decodeAnswer(answer([finding(), finding({ rule: "ai_x", index: { table: "t", columns: ["a", "b"] } })]))).toEqual(
      Either.right([
        { rule: "ai_seq_scan_on_filter", severity: "crit", message: "m", evidence: "e", advice: "a" },
        { rule: "ai_x", severity: "crit", message: "m", evidence: "e", advice: "a", index: { table: "t", columns: ["a", "b"] } }
      ])
    )
    expect(decodeAnswer(answer([]))).toEqual(Either.right([]))
  })

  it("rejects the whole answer for one bad finding, saying where", () => {
    expect(decodeAnswer(answer([finding(), finding({ index: { table: "t", columns: [] } })]))).toEqual(
      Either.left("the model's answer is not the findings JSON: findings.1.index.columns: Expected an array of at least 1 item(s), actual []")
    )
    expect(decodeAnswer(answer([finding({ rule: "Not Snake" })]))).toEqual(
      Either.left(
        `the model's answer is not the findings JSON: findings.0.rule: Expected a string matching the pattern ^[a-z][a-z0-9_]{0,63}$, actual "Not Snake"`
      )
    )
    expect(decodeAnswer(answer([finding({ advice: "   " })]))).toEqual(
      Either.left(`the model's answer is not the findings JSON: findings.0.advice: Expected a non empty string, actual ""`)
    )
    expect(Either.isLeft(decodeAnswer(answer(Array.from({ length: 21 }, () => finding()))))).toBe(true)
    expect(decodeAnswer(completion("Sure! Here is the JSON: {}"))).toEqual(
      Either.left(`the model's answer is not the findings JSON: Unexpected token 'S', "Sure! Here"... is not valid JSON`)
    )
    expect(decodeAnswer(completion("{}"))).toEqual(
      Either.left("the model's answer is not the findings JSON: findings: is missing")
    )
  })
})

describe("safePayload", () => {
  it("normalizes a PostgreSQL input whatever the caller passed, and sends no id or hash", () => {
    expect(
      safePayload({
        queryId: "-123456789",
        planHash: "abcdef0123",
        dialect: "postgres",
        serverVersion: "15.18",
        normalizedSql: "SELECT * FROM t WHERE a = $1 AND b = 'x' /* c */",
        plan: [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "((a = $1) AND (b = 'x'::text))" } }],
        tables: [{ name: "public.t", definition: "CREATE TABLE t (a int, b text DEFAULT 'd', c numeric(10,2));", rows: 5, bytes: 8192 }],
        findings: [{ rule: "pg_seq_scan_filter", severity: "warn", message: "seq scan of t: 5 rows, filter 'x'" }]
      })
    ).toEqual({
      dialect: "PostgreSQL",
      server_version: "15.18",
      sql: "SELECT * FROM t WHERE a = ? AND b = ?",
      plan: [{ Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Filter: "((a = ?) AND (b = ?::text))" } }],
      tables: [{ name: "public.t", definition: "CREATE TABLE t (a int, b text DEFAULT ?, c numeric(10,2));", rows: 5, bytes: 8192 }],
      findings: [{ rule: "pg_seq_scan_filter", severity: "warn", message: "seq scan of t: ? rows, filter ?" }]
    })
  })
})

describe("AiAdvisor.none", () => {
  it.effect("returns nothing", () =>
    Effect.gen(function* () {
      const advisor = yield* AiAdvisor
      expect(
        yield* advisor.advise({
          queryId: "q",
          planHash: "h",
          dialect: "mysql",
          serverVersion: "10.11.19-MariaDB",
          normalizedSql: "select ?",
          plan: {},
          tables: [],
          findings: []
        })
      ).toEqual([])
    }).pipe(Effect.provide(AiAdvisor.none))
  )
})
