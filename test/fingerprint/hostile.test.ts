import { beforeAll, describe, expect, it } from "@effect/vitest"
import { classifyTokens } from "../../src/fingerprint/Classify.js"
import { fingerprintMysql } from "../../src/fingerprint/Fingerprinter.js"
import { fingerprintMysqlText } from "../../src/fingerprint/MysqlFingerprint.js"
import { fingerprintPostgres, loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"
import { makeRandom } from "./corpus.js"

// Statements of 1 to 10 MB built to hurt a normalizer: unterminated quotes, deep parentheses, millions of
// commas, endless comment openers, thousands of distinct UNION arms. Nothing here is timed; every scan is
// linear, so each finishes in well under the test timeout, and each result is checked exactly.

const MB = 1 << 20

beforeAll(async () => {
  expect(await loadPostgresParser()).toBe(true)
})

// Five-letter names, all distinct and all the same length, so that no UNION arm is a prefix of another, and
// made of letters that spell no TRUE, FALSE or NULL and take no part in pt's number rule.
const LETTERS = "ghijkmopqsvwyz"
const name = (i: number): string => {
  let out = ""
  for (let k = 0; k < 5; k++) {
    out += LETTERS[i % LETTERS.length]
    i = Math.floor(i / LETTERS.length)
  }
  return out
}

describe("hostile statements", () => {
  it("an unterminated string of 10 MB", () => {
    const sql = `SELECT * FROM t WHERE a = '${"Ab".repeat(5 * MB)}`
    expect(fingerprintMysqlText(sql)).toBe(`select * from t where a = '${"ab".repeat(5 * MB)}`)
    const c = classifyTokens(sql, "mysql")
    expect([c.statementType, c.tables, c.truncated]).toEqual(["select", ["t"], true])
    const pg = fingerprintPostgres(sql)
    expect([pg.parser, pg.truncated, pg.fingerprint]).toEqual(["tokenizer_fallback", true, "select * from t where a = ?"])
  })

  it("a million nested parentheses", () => {
    const depth = 1_000_000
    const sql = `SELECT ${"(".repeat(depth)}1${")".repeat(depth)} FROM t`
    expect(fingerprintMysqlText(sql)).toBe(`select ${"(".repeat(depth)}?${")".repeat(depth)} from t`)
    const my = fingerprintMysql(sql)
    expect([my.statementType, my.tables, my.truncated]).toEqual(["select", ["t"], false])
    const pg = fingerprintPostgres(sql)
    expect([pg.parser, pg.fingerprint]).toEqual([
      "tokenizer_fallback",
      `select ${"( ".repeat(depth - 1)}(?+)${" )".repeat(depth - 1)} from t`
    ])
  })

  it("nesting the PostgreSQL parser refuses, under its size limit", () => {
    const depth = 100_000
    const pg = fingerprintPostgres(`SELECT ${"(".repeat(depth)}1${")".repeat(depth)}`)
    expect([pg.parser, pg.statementType, pg.truncated]).toEqual(["tokenizer_fallback", "select", false])
    // The parser still works after refusing it.
    expect(fingerprintPostgres("SELECT 1").parser).toBe("libpg_query")
  })

  it("an IN list of two million items", () => {
    const sql = `SELECT * FROM t WHERE id IN (${"12345,".repeat(2_000_000)}1)`
    expect(fingerprintMysqlText(sql)).toBe("select * from t where id in(?+)")
    expect(fingerprintPostgres(sql).fingerprint).toBe("select * from t where id in (?+)")
  })

  it("four million commas and nothing else", () => {
    const sql = ",".repeat(4 * MB)
    expect(fingerprintMysqlText(sql)).toBe(sql)
    expect(fingerprintMysql(sql).statementType).toBe("other")
  })

  it("a multi-row INSERT of 10 MB is cut after its first row", () => {
    const sql = `INSERT INTO t (a, b) VALUES ${"(1, 'x'), ".repeat(MB)}(2, 'y')`
    expect(fingerprintMysqlText(sql)).toBe("insert into t (a, b) values(?+)")
  })

  it("comment openers that never close, and line comments that never end", () => {
    expect(fingerprintMysqlText(`SELECT 1 ${"/* ".repeat(2 * MB)}`)).toBe(`select ? ${"/* ".repeat(2 * MB)}`)
    expect(fingerprintMysqlText(`SELECT 1 ${"-".repeat(4 * MB)}'`)).toBe("select ? ?'")
    expect(fingerprintMysqlText(`SELECT 1 ${"#".repeat(4 * MB)}`)).toBe("select ? ")
    expect(classifyTokens(`SELECT 1 /*${"*".repeat(4 * MB)}`, "postgres").truncated).toBe(true)
  })

  it("millions of quotes and escaped quotes", () => {
    expect(fingerprintMysqlText(`SELECT ${"''".repeat(2 * MB)}`)).toBe(`select ${"?".repeat(2 * MB)}`)
    expect(fingerprintMysqlText(`SELECT '${"\\'".repeat(2 * MB)}'`)).toBe("select ?")
    expect(fingerprintMysqlText(`SELECT "${"'".repeat(2 * MB + 1)}"`)).toBe("select ?")
  })

  it("ORDER BY with a million ASC columns, and a million NULLs", () => {
    expect(fingerprintMysqlText(`SELECT a FROM t ORDER BY ${"a ASC, ".repeat(MB)}b`)).toBe(
      `select a from t order by ${"a, ".repeat(MB)}b`
    )
    expect(fingerprintMysqlText(`SELECT ${"NULL,".repeat(MB)}null`)).toBe(`select ${"?,".repeat(MB)}?`)
  })

  it("a hundred thousand distinct UNION arms (pt's own regex needs quadratic time here)", () => {
    const arms = Array.from({ length: 100_000 }, (_, i) => `SELECT ${name(i)} FROM t`)
    const sql = arms.join(" UNION ALL ")
    expect(fingerprintMysqlText(sql)).toBe(sql.toLowerCase())
  })

  it("a hundred thousand identical UNION arms collapse into one", () => {
    const sql = Array.from({ length: 100_000 }, () => "SELECT a FROM t WHERE b = 1").join(" UNION ")
    expect(fingerprintMysqlText(sql)).toBe("select a from t where b = ? /*repeat union*/")
  })

  it("10 MB of random bytes, read as UTF-8 and as Latin-1", () => {
    const r = makeRandom(4242)
    const bytes = Buffer.alloc(10 * MB)
    for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256)
    for (const text of [bytes.toString("utf8"), bytes.toString("latin1")]) {
      const my = fingerprintMysql(text)
      expect(my.queryId).toMatch(/^[0-9A-F]{32}$/)
      const pg = fingerprintPostgres(text)
      expect([pg.parser, pg.queryId.length]).toEqual(["tokenizer_fallback", 16])
    }
  })
})
