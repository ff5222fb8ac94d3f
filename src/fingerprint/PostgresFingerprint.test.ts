import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { fingerprintPostgres, loadPostgresParser, MAX_PARSER_INPUT, normalizeTokens } from "./PostgresFingerprint.js"

beforeAll(async () => {
  expect(await loadPostgresParser()).toBe(true)
})

describe("fingerprintPostgres", () => {
  it("gives a statement with literals and its pg_stat_statements form the same id", () => {
    const pairs: ReadonlyArray<readonly [string, string]> = [
      ["SELECT * FROM users WHERE id = 5 AND name = 'bob'", "select * from users where id = $1 and name = $2"],
      ["SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN ($1, $2)"],
      ["SELECT * FROM t WHERE created_at > now() - interval '1 day'", "SELECT * FROM t WHERE created_at > now() - interval $1"],
      ["UPDATE t SET a = -1.5, b = true WHERE c IS NULL AND d = E'x\\'y'", "UPDATE t SET a = $1, b = $2 WHERE c IS NULL AND d = $3"],
      ["SELECT $$dollar$$ || 'x'::text LIMIT 10 OFFSET 5", "SELECT $1 || $2::text LIMIT $3 OFFSET $4"]
    ]
    for (const [literal, normalized] of pairs) {
      const a = fingerprintPostgres(literal)
      const b = fingerprintPostgres(normalized)
      expect([a.parser, b.parser]).toEqual(["libpg_query", "libpg_query"])
      expect(a.queryId).toMatch(/^[0-9a-f]{16}$/)
      expect([literal, a.queryId]).toEqual([literal, b.queryId])
    }
    expect(fingerprintPostgres("SELECT * FROM users WHERE id = 5 AND name = 'bob'").queryId).toBe("eb6afdd7040bea4c")
    expect(fingerprintPostgres("SELECT * FROM users WHERE id = 5").queryId).not.toBe(
      fingerprintPostgres("SELECT * FROM orders WHERE id = 5").queryId
    )
  })

  it("classifies from the parse tree", () => {
    expect(
      fingerprintPostgres(
        "/* controller='orders',action='show' */ SELECT o.id FROM shop.orders o JOIN customers c ON c.id = o.customer_id"
      )
    ).toEqual({
      fingerprint: "/* controller='orders',action='show' */ SELECT o.id FROM shop.orders o JOIN customers c ON c.id = o.customer_id",
      queryId: "bca754b8427a6bb5",
      statementType: "select",
      readOnly: true,
      tables: ["shop.orders", "customers"],
      multiStatement: false,
      truncated: false,
      tags: { controller: "orders", action: "show" },
      parser: "libpg_query"
    })
    const cases: ReadonlyArray<readonly [string, string, boolean, ReadonlyArray<string>, boolean]> = [
      ["WITH gone AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM gone", "select", false, ["orders"], false],
      ["WITH recent AS (SELECT * FROM orders) SELECT * FROM recent", "select", true, ["orders"], false],
      ["INSERT INTO t (a) VALUES (1), (2) ON CONFLICT (a) DO NOTHING", "insert", false, ["t"], false],
      ["UPDATE t SET a = 1 WHERE b = 2; DELETE FROM u", "update", false, ["t", "u"], true],
      ["SELECT * FROM t FOR UPDATE", "select", false, ["t"], false],
      ["EXPLAIN ANALYZE DELETE FROM t", "utility", false, ["t"], false],
      ["EXPLAIN DELETE FROM t", "utility", true, ["t"], false],
      ["EXPLAIN (ANALYZE false) DELETE FROM t", "utility", true, ["t"], false],
      ["CREATE TABLE s.t (id int)", "ddl", false, ["s.t"], false],
      ["COPY t TO STDOUT", "utility", true, ["t"], false],
      ["COPY t FROM STDIN", "utility", false, ["t"], false],
      ["SELECT 1 INTO newtab", "select", false, ["newtab"], false],
      ['SELECT * FROM "Users" u WHERE u.id = ANY($1::int[])', "select", true, ["Users"], false],
      ["BEGIN", "utility", true, [], false],
      ["SET search_path = public", "set", true, [], false],
      ["CALL refresh_all()", "call", false, [], false],
      ["MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "merge", false, ["t", "s"], false],
      ["VACUUM ANALYZE t", "utility", false, ["t"], false]
    ]
    for (const [sql, type, readOnly, tables, multi] of cases) {
      const result = fingerprintPostgres(sql)
      expect([sql, result.parser, result.statementType, result.readOnly, result.tables, result.multiStatement]).toEqual([
        sql,
        "libpg_query",
        type,
        readOnly,
        tables,
        multi
      ])
    }
  })

  it("normalizes with libpg_query: constants become $n, the text stays as written", () => {
    expect(fingerprintPostgres("  SELECT * FROM t WHERE a = 'x' AND b IN (1, 2)  ").fingerprint).toBe(
      "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"
    )
  })

  it("falls back to the tokenizer for text the parser refuses, and flags cut-off text", () => {
    expect(fingerprintPostgres("SELECT * FROM t WHERE a = 'cut")).toEqual({
      fingerprint: "select * from t where a = ?",
      queryId: "55f0ca467be0a818",
      statementType: "select",
      readOnly: true,
      tables: ["t"],
      multiStatement: false,
      truncated: true,
      tags: {},
      parser: "tokenizer_fallback"
    })
    const endOfInput = fingerprintPostgres("SELECT * FROM t WHERE")
    expect([endOfInput.parser, endOfInput.truncated, endOfInput.fingerprint]).toEqual([
      "tokenizer_fallback",
      true,
      "select * from t where"
    ])
    const garbage = fingerprintPostgres("SELEC * FROM t")
    expect([garbage.parser, garbage.truncated, garbage.statementType]).toEqual(["tokenizer_fallback", false, "other"])
    const empty = fingerprintPostgres("")
    expect([empty.parser, empty.fingerprint, empty.statementType]).toEqual(["tokenizer_fallback", "", "other"])
  })

  it("gives cut-off copies of one statement the same fallback id whatever their literals", () => {
    expect(fingerprintPostgres("SELECT * FROM t WHERE a IN (1, 2, 3) AND b = 'x").queryId).toBe(
      fingerprintPostgres("SELECT * FROM t WHERE a IN (7) AND b = 'yy").queryId
    )
    expect(normalizeTokens("SELECT * FROM t WHERE a IN (1, 2, 3) AND b = 'x")).toBe(
      "select * from t where a in (?+) and b = ?"
    )
  })

  it("sends statements longer than the parser limit to the tokenizer", () => {
    const long = `SELECT * FROM t WHERE id IN (${"1,".repeat(MAX_PARSER_INPUT / 2)}1)`
    const result = fingerprintPostgres(long)
    expect([result.parser, result.fingerprint, result.tables]).toEqual([
      "tokenizer_fallback",
      "select * from t where id in (?+)",
      ["t"]
    ])
  })

  it.prop(
    "never throws on arbitrary text",
    [fc.string({ unit: "binary", maxLength: 300 })],
    ([text]) => {
      const result = fingerprintPostgres(text)
      expect(result.queryId).toMatch(/^[0-9a-f]{16}$/)
    },
    { fastCheck: { numRuns: 2000 } }
  )
})
