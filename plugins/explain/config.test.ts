import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, JSONSchema, ParseResult, Redacted, Schema } from "effect"
import { parse } from "yaml"
import { Config } from "./config.js"
import { maskLiterals, planHash, planShape } from "./PlanHash.js"

const decode = Schema.decodeUnknownEither(Config)
const problems = (input: unknown) =>
  Either.match(decode(input, { errors: "all" }), {
    onLeft: (error) => ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => `${i.path.join(".")}: ${i.message}`),
    onRight: () => []
  })

describe("explain config", () => {
  it("decodes the sample pipeline's stage with every default filled in", () => {
    const document = parse(readFileSync(new URL("./sample.yaml", import.meta.url), "utf8")) as {
      readonly stages: ReadonlyArray<unknown>
    }
    const config = Either.getOrThrow(decode(document.stages[0]))
    expect(Redacted.value(config.explain_url!)).toBe("mysql://root@127.0.0.1:3306/test")
    expect({
      ...config,
      explain_url: "redacted",
      explain_ttl: Duration.toMillis(config.explain_ttl),
      error_ttl: Duration.toMillis(config.error_ttl)
    }).toEqual({
      type: "explain",
      explain_url: "redacted",
      max_per_run: 50,
      explain_ttl: 3_600_000,
      error_ttl: 3_600_000,
      statement_timeout_ms: 2000,
      lock_timeout_ms: 2000,
      forbidden: [],
      max_connections: 1
    })
  })

  it("takes every option", () => {
    const config = Either.getOrThrow(
      decode({
        type: "explain",
        explain_url: "postgres://explainer@replica:5432/app",
        explain_password: "s3cret",
        max_per_run: 0,
        explain_ttl: "1d",
        error_ttl: "15m",
        statement_timeout_ms: 500,
        lock_timeout_ms: 100,
        forbidden: ["audit_log_fn", "INTO OUTFILE"],
        max_connections: 4
      })
    )
    expect([
      Redacted.value(config.explain_password!),
      config.max_per_run,
      Duration.toMillis(config.explain_ttl),
      Duration.toMillis(config.error_ttl),
      config.forbidden,
      config.max_connections
    ]).toEqual(["s3cret", 0, 86_400_000, 900_000, ["audit_log_fn", "INTO OUTFILE"], 4])
  })

  it("reports every bad value without repeating a URL", () => {
    expect(
      problems({
        type: "explain",
        explain_url: "http://user:pw@host/db",
        explain_ttl: "soon",
        statement_timeout_ms: 0,
        forbidden: ["dblink(", "ok"],
        max_connections: 9
      })
    ).toEqual([
      "explain_url: Expected a URL like postgres://user@host:5432/db or mysql://user@host:3306/db; the value is not shown because it may hold a password",
      'explain_ttl: Expected a positive duration such as 30s, 5m, 1h or 1d, actual "soon"',
      "statement_timeout_ms: Expected a number between 10 and 600000, actual 0",
      'forbidden.0: Expected a word or words separated by spaces such as dblink or INTO OUTFILE, actual "dblink("',
      "max_connections: Expected a number between 1 and 4, actual 9"
    ])
  })

  it("describes every field in the generated JSON schema", () => {
    const schema = JSONSchema.make(Config) as { readonly properties: Record<string, { readonly description?: string }> }
    const undocumented = Object.entries(schema.properties).filter(([, p]) => (p.description ?? "").length < 20)
    expect(Object.keys(schema.properties).length).toBe(10)
    expect(undocumented.map(([name]) => name)).toEqual([])
  })
})

describe("plan hash", () => {
  it("masks literals and folds lists, keeping names with digits", () => {
    expect(maskLiterals("((t2.v)::text = 'a''b'::text) AND (id = ANY ('{1,2}'::int[])) AND x IN (1, 2.5, -3) AND $1 > 10")).toBe(
      "((t2.v)::text = ?::text) AND (id = ANY (?::int[])) AND x IN (?, -?) AND $1 > ?"
    )
  })

  it("ignores costs, rows and widths but not nodes, indexes or conditions", () => {
    const plan = (cost: number, rows: number, index: string, cond: string) => [
      { Plan: { "Node Type": "Index Scan", "Index Name": index, "Startup Cost": cost, "Total Cost": cost * 2, "Plan Rows": rows, "Plan Width": 8, "Index Cond": cond } }
    ]
    const base = planHash("postgres", plan(1, 10, "t_pkey", "(id = 5)"))
    expect(planHash("postgres", plan(7, 99_000, "t_pkey", "(id = 42)"))).toBe(base)
    expect(planHash("postgres", plan(1, 10, "t_other", "(id = 5)"))).not.toBe(base)
    expect(planHash("postgres", plan(1, 10, "t_pkey", "(id > 5)"))).not.toBe(base)
    expect(planShape("mysql", { query_block: { cost: 1, table: { rows: 5, filtered: 100, possible_keys: ["a"], key: "a", r_rows: 3 } } })).toEqual({
      query_block: { table: { key: "a" } }
    })
  })
})
