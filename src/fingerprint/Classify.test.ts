import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { classifyTokens } from "./Classify.js"

type Case = readonly [sql: string, type: string, readOnly: boolean, tables: ReadonlyArray<string>]

describe("classifyTokens (MySQL)", () => {
  it("tells statement type, read-only and tables", () => {
    const cases: ReadonlyArray<Case> = [
      ["SELECT * FROM users WHERE id = 1", "select", true, ["users"]],
      ["select a.id from shop.orders a join `shop`.`customers` b on a.c = b.id where x in (select id from t4)", "select", true, ["shop.orders", "shop.customers", "t4"]],
      ["SELECT * FROM t1 USE INDEX (i1) JOIN t2 FORCE INDEX FOR JOIN (i2) ON 1=1, t3 AS x", "select", true, ["t1", "t2"]],
      ["SELECT * FROM t1, t2 AS b, `db`.`t 3` c WHERE 1", "select", true, ["t1", "t2", "db.t 3"]],
      ["SELECT extract(year from created_at), substring(name from 2) FROM events", "select", true, ["events"]],
      ["(SELECT a FROM t1) UNION (SELECT a FROM t2)", "select", true, ["t1", "t2"]],
      ["SELECT * FROM t FOR UPDATE", "select", false, ["t"]],
      ["SELECT * FROM t LOCK IN SHARE MODE", "select", false, ["t"]],
      ["SELECT a INTO @x FROM t", "select", false, ["t"]],
      ["SELECT a FROM t INTO OUTFILE '/tmp/x'", "select", false, ["t"]],
      ["INSERT INTO t (a,b) VALUES (1,2) ON DUPLICATE KEY UPDATE a = 1", "insert", false, ["t"]],
      ["INSERT IGNORE t2 SELECT * FROM t1", "insert", false, ["t2", "t1"]],
      ["REPLACE INTO `Shop`.`Orders` VALUES (1)", "replace", false, ["Shop.Orders"]],
      ["UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = 1", "update", false, ["t1", "t2"]],
      ["UPDATE LOW_PRIORITY t1, t2 SET t1.a = t2.a", "update", false, ["t1", "t2"]],
      ["DELETE FROM t WHERE id = 1", "delete", false, ["t"]],
      ["DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", "delete", false, ["t1", "t2"]],
      ["LOAD DATA INFILE '/tmp/x' INTO TABLE imports", "insert", false, ["imports"]],
      ["CALL proc(1)", "call", false, []],
      ["SET NAMES utf8mb4", "set", true, []],
      ["SET GLOBAL long_query_time = 0", "set", false, []],
      ["CREATE TABLE IF NOT EXISTS s.t (id int, o int REFERENCES other(id))", "ddl", false, ["s.t", "other"]],
      ["ALTER TABLE t2 ADD COLUMN c3 INT NOT NULL DEFAULT 0", "ddl", false, ["t2"]],
      ["DROP TABLE IF EXISTS a, b", "ddl", false, ["a", "b"]],
      ["TRUNCATE TABLE logs", "ddl", false, ["logs"]],
      ["RENAME TABLE a TO b, c TO d", "ddl", false, ["a", "b", "c", "d"]],
      ["CREATE INDEX i ON t (a)", "ddl", false, ["t"]],
      ["LOCK TABLES t1 READ, t2 WRITE", "utility", false, ["t1", "t2"]],
      ["UNLOCK TABLES", "utility", true, []],
      ["SHOW TABLES", "utility", true, []],
      ["DESCRIBE t", "utility", true, ["t"]],
      ["EXPLAIN SELECT * FROM t", "utility", true, ["t"]],
      ["EXPLAIN FORMAT=JSON DELETE FROM t", "utility", true, ["t"]],
      ["ANALYZE TABLE t", "utility", false, ["t"]],
      ["ANALYZE UPDATE t SET a = 1", "utility", false, ["t"]],
      ["ANALYZE SELECT * FROM t", "utility", true, ["t"]],
      ["BEGIN", "utility", true, []],
      ["COMMIT", "utility", true, []],
      ["USE shop", "utility", true, []],
      ["/*!40101 SET character_set_client = utf8 */", "set", true, []],
      ["", "other", false, []],
      ["hello world", "other", false, []]
    ]
    for (const [sql, type, readOnly, tables] of cases) {
      const c = classifyTokens(sql, "mysql")
      expect([sql, c.statementType, c.readOnly, c.tables]).toEqual([sql, type, readOnly, tables])
    }
  })

  it("counts statements and spots text that was cut off", () => {
    expect(classifyTokens("DELETE FROM t WHERE id = 1; SELECT 1", "mysql")).toMatchObject({
      statementType: "delete",
      readOnly: false,
      multiStatement: true,
      truncated: false
    })
    expect(classifyTokens("SELECT 1;", "mysql").multiStatement).toBe(false)
    expect(classifyTokens("SELECT 1; ;", "mysql").multiStatement).toBe(false)
    expect(classifyTokens("SELECT ';' FROM t", "mysql").multiStatement).toBe(false)
    expect(classifyTokens("SELECT 1 -- ; SELECT 2", "mysql").multiStatement).toBe(false)
    expect(classifyTokens("SELECT 1; SELECT 2", "mysql").readOnly).toBe(true)
    expect(classifyTokens("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", "mysql").multiStatement).toBe(false)
    const truncated: ReadonlyArray<string> = [
      "SELECT * FROM t WHERE a = 'unterminated",
      "SELECT * FROM t WHERE a IN (1, 2",
      "SELECT * FROM `t",
      "SELECT * FROM t /* cut"
    ]
    for (const sql of truncated) expect([sql, classifyTokens(sql, "mysql").truncated]).toEqual([sql, true])
    for (const sql of ["SELECT * FROM t WHERE a = 'it\\'s'", "SELECT '(' FROM t", "SELECT 1 # (", "SELECT \"a\"\"b\""]) {
      expect([sql, classifyTokens(sql, "mysql").truncated]).toEqual([sql, false])
    }
  })

  it("reads sqlcommenter and marginalia tags from comments", () => {
    expect(
      classifyTokens(
        "SELECT * FROM t /*controller='orders',action='show',framework='django%3A4.2',traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01'*/",
        "mysql"
      ).tags
    ).toEqual({
      controller: "orders",
      action: "show",
      framework: "django:4.2",
      traceparent: "00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01"
    })
    expect(classifyTokens("/*application:BookShop,controller:books,action:index*/ SELECT 1", "mysql").tags).toEqual({
      application: "BookShop",
      controller: "books",
      action: "index"
    })
  })
})

describe("classifyTokens (PostgreSQL)", () => {
  it("knows PostgreSQL quoting, CTEs and folding", () => {
    const cases: ReadonlyArray<Case> = [
      ["WITH x AS (SELECT * FROM t1), y AS (DELETE FROM t2 RETURNING *) SELECT * FROM x JOIN y USING (id)", "select", false, ["t1", "t2"]],
      ['SELECT * FROM "Public"."Users" u, Orders', "select", true, ["Public.Users", "orders"]],
      ["SELECT $tag$ FROM not_a_table $tag$, E'\\' FROM nor_this' FROM real_one", "select", true, ["real_one"]],
      ["SELECT 1 /* outer /* nested */ FROM hidden */ FROM shown", "select", true, ["shown"]],
      ["COPY t TO STDOUT", "utility", true, ["t"]],
      ["COPY t FROM STDIN", "utility", false, ["t"]],
      ["EXPLAIN ANALYZE DELETE FROM t", "utility", false, ["t"]],
      ["EXPLAIN (FORMAT JSON) DELETE FROM t", "utility", true, ["t"]],
      ["MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = 1", "merge", false, ["t", "s"]],
      ["CREATE INDEX CONCURRENTLY i ON public.t (a)", "ddl", false, ["public.t"]],
      ["TRUNCATE logs, audit", "ddl", false, ["logs", "audit"]]
    ]
    for (const [sql, type, readOnly, tables] of cases) {
      const c = classifyTokens(sql, "postgres")
      expect([sql, c.statementType, c.readOnly, c.tables]).toEqual([sql, type, readOnly, tables])
    }
  })

  it.prop(
    "never throws on arbitrary text, in either dialect",
    [fc.string({ unit: "binary", maxLength: 300 })],
    ([text]) => {
      for (const dialect of ["mysql", "postgres"] as const) {
        const c = classifyTokens(text, dialect)
        expect(Array.isArray(c.tables)).toBe(true)
      }
    },
    { fastCheck: { numRuns: 3000 } }
  )
})
