import { describe, expect, it } from "@effect/vitest"
import { lex } from "./Lexer.js"
import { castTypedParameters, decide, makePolicy, type Verdict } from "./Policy.js"

const mysql = makePolicy({ dialect: "mysql", extraForbidden: ["my_audit_fn", "into   outfile"], backslashEscapes: true, ansiQuotes: false })
const postgres = makePolicy({ dialect: "postgres", extraForbidden: [], backslashEscapes: false, ansiQuotes: false })

const explain = (text: string, method: "direct" | "rewritten" | "prepared_generic" = "direct", parameters = 0): Verdict => ({
  _tag: "Explain",
  statement: { text, method, parameters }
})
const refuse = (reason: string): Verdict => ({ _tag: "Refuse", reason })

describe("Lexer", () => {
  it("ends the first statement at its first semicolon and sees what follows", () => {
    const result = lex("SELECT 1; -- done\n;", { dialect: "postgres", backslashEscapes: false })
    expect(result._tag === "Ok" && [result.lexed.firstStatementEnd, result.lexed.multiStatement]).toEqual([8, false])
    const multi = lex("SELECT 1;/**/DROP TABLE t", { dialect: "mysql", backslashEscapes: true })
    expect(multi._tag === "Ok" && multi.lexed.multiStatement).toBe(true)
  })

  it("reads MySQL's 1--1 as arithmetic and -- followed by a space as a comment", () => {
    const arithmetic = lex("SELECT 1--1; DROP TABLE t", { dialect: "mysql", backslashEscapes: true })
    expect(arithmetic._tag === "Ok" && arithmetic.lexed.multiStatement).toBe(true)
    const comment = lex("SELECT 1-- ; DROP TABLE t", { dialect: "mysql", backslashEscapes: true })
    expect(comment._tag === "Ok" && comment.lexed.multiStatement).toBe(false)
  })

  it("nests PostgreSQL comments and not MySQL ones", () => {
    const text = "SELECT 1 /* a /* b */ ; DROP TABLE t */"
    const pg = lex(text, { dialect: "postgres", backslashEscapes: false })
    expect(pg._tag === "Ok" && pg.lexed.multiStatement).toBe(false)
    const my = lex(text, { dialect: "mysql", backslashEscapes: true })
    expect(my._tag === "Ok" && my.lexed.multiStatement).toBe(true)
  })

  it("reads MySQL executable comments as code", () => {
    const result = lex("SELECT 1 /*!50000 ; DROP TABLE t */", { dialect: "mysql", backslashEscapes: true })
    expect(result._tag === "Ok" && result.lexed.multiStatement).toBe(true)
    expect(lex("SELECT 1 /*M!100000 , 2 */", { dialect: "mysql", backslashEscapes: true })._tag).toBe("Ok")
    expect(lex("SELECT /*! 1 -- */ 2 */", { dialect: "mysql", backslashEscapes: true })).toEqual({
      _tag: "Error",
      reason: "unterminated: comment inside an executable comment"
    })
  })

  it("knows where backslashes escape", () => {
    const text = "SELECT 'a\\'; DROP TABLE t; --'"
    const my = lex(text, { dialect: "mysql", backslashEscapes: true })
    expect(my._tag === "Ok" && my.lexed.multiStatement).toBe(false)
    const pg = lex(text, { dialect: "postgres", backslashEscapes: false })
    expect(pg._tag === "Ok" && pg.lexed.multiStatement).toBe(true)
    const e = lex("SELECT E'a\\'; DROP TABLE t; --'", { dialect: "postgres", backslashEscapes: false })
    expect(e._tag === "Ok" && e.lexed.multiStatement).toBe(false)
  })

  it("reads dollar quotes and tells them from parameters", () => {
    const result = lex("SELECT $a$ $$; DROP $a$, $1, $$x$$", { dialect: "postgres", backslashEscapes: false })
    expect(result._tag === "Ok" && result.lexed.tokens.map((t) => t.kind)).toEqual([
      "word",
      "string",
      "comma",
      "parameter",
      "comma",
      "string"
    ])
  })

  it("refuses unterminated quotes and comments and unbalanced parentheses", () => {
    const errors = ["SELECT 'abc", "SELECT 1 /* x", "SELECT $q$ x", 'SELECT "x', "SELECT (1", "SELECT 1)"].map(
      (text) => lex(text, { dialect: "postgres", backslashEscapes: false })
    )
    expect(errors.map((e) => (e._tag === "Error" ? e.reason : "ok"))).toEqual([
      "unterminated: quoted string",
      "unterminated: comment",
      "unterminated: dollar-quoted string",
      "unterminated: quoted identifier",
      "unbalanced: parentheses",
      "unbalanced: parentheses"
    ])
  })
})

describe("Policy on MySQL/MariaDB", () => {
  it("explains reads as they are, without what follows the first statement", () => {
    expect(decide(mysql, "/* app */ SELECT * FROM t WHERE id = 1;  ")).toEqual(explain("SELECT * FROM t WHERE id = 1"))
    expect(decide(mysql, "WITH c AS (SELECT 1 AS x) SELECT * FROM c")).toEqual(
      explain("WITH c AS (SELECT 1 AS x) SELECT * FROM c")
    )
    expect(decide(mysql, "(SELECT 1) UNION (SELECT 2)")).toEqual(explain("(SELECT 1) UNION (SELECT 2)"))
  })

  it("rewrites UPDATE, DELETE, INSERT … SELECT and REPLACE … SELECT to the SELECT that finds their rows", () => {
    expect(decide(mysql, "UPDATE LOW_PRIORITY t SET a = (SELECT 1 WHERE 1), b = 2 WHERE id = 3 ORDER BY id LIMIT 5")).toEqual(
      explain("SELECT * FROM t WHERE id = 3 ORDER BY id LIMIT 5", "rewritten")
    )
    expect(decide(mysql, "UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.b")).toEqual(
      explain("SELECT * FROM t1 JOIN t2 ON t1.id = t2.id", "rewritten")
    )
    expect(decide(mysql, "DELETE QUICK FROM t WHERE id IN (1, 2) LIMIT 3")).toEqual(
      explain("SELECT * FROM t WHERE id IN (1, 2) LIMIT 3", "rewritten")
    )
    expect(decide(mysql, "DELETE t1 FROM t1 JOIN t2 USING (id) WHERE t2.x = 1")).toEqual(
      explain("SELECT * FROM t1 JOIN t2 USING (id) WHERE t2.x = 1", "rewritten")
    )
    expect(decide(mysql, "DELETE FROM t1 USING t1, t2 WHERE t1.id = t2.id")).toEqual(
      explain("SELECT * FROM t1, t2 WHERE t1.id = t2.id", "rewritten")
    )
    expect(decide(mysql, "DELETE FROM t WHERE id = 1 RETURNING id")).toEqual(
      explain("SELECT * FROM t WHERE id = 1", "rewritten")
    )
    expect(
      decide(mysql, "INSERT IGNORE INTO t (a, b) SELECT x, y FROM u JOIN v ON u.id = v.id ON DUPLICATE KEY UPDATE a = 1")
    ).toEqual(explain("SELECT x, y FROM u JOIN v ON u.id = v.id", "rewritten"))
    expect(decide(mysql, "REPLACE INTO t PARTITION (p1) (SELECT * FROM u)")).toEqual(explain("(SELECT * FROM u)", "rewritten"))
  })

  it("refuses what has no exact rewrite", () => {
    expect(decide(mysql, "INSERT INTO t (a) VALUES (1), (2)")).toEqual(
      refuse("not explainable: INSERT … VALUES has no query to plan")
    )
    expect(decide(mysql, "REPLACE t SET a = 1")).toEqual(refuse("not explainable: REPLACE … SET has no query to plan"))
    expect(decide(mysql, "DELETE HISTORY FROM t")).toEqual(refuse("no exact rewrite: DELETE HISTORY"))
    expect(decide(mysql, "WITH d AS (SELECT 1) UPDATE t SET a = 1")).toEqual(refuse("not explainable: WITH … UPDATE"))
  })

  it("drops a trailing locking clause and refuses one anywhere else", () => {
    expect(decide(mysql, "SELECT * FROM t WHERE id = 1 FOR UPDATE SKIP LOCKED")).toEqual(
      explain("SELECT * FROM t WHERE id = 1", "rewritten")
    )
    expect(decide(mysql, "SELECT * FROM t FOR SHARE OF t, db.u NOWAIT")).toEqual(explain("SELECT * FROM t", "rewritten"))
    expect(decide(mysql, "SELECT * FROM t LOCK IN SHARE MODE")).toEqual(explain("SELECT * FROM t", "rewritten"))
    expect(decide(mysql, "UPDATE t SET a = 1 WHERE id = 2")).toEqual(explain("SELECT * FROM t WHERE id = 2", "rewritten"))
    expect(decide(mysql, "SELECT * FROM (SELECT * FROM t FOR UPDATE) d")).toEqual(refuse("locking read: in a subquery"))
    expect(decide(mysql, "SELECT * FROM t FOR UPDATE ORDER BY 1")).toEqual(refuse("locking read: clause not at the end"))
  })

  it("refuses ANALYZE, a second statement, forbidden words, SELECT … INTO and placeholders", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["ANALYZE SELECT * FROM t", "analyze"],
      ["EXPLAIN ANALYZE SELECT 1", "analyze"],
      ["SELECT 1 AS analyse", "analyze"],
      ["SELECT 1; DROP TABLE t", "multi-statement"],
      ["SELECT 1 /*!; DROP TABLE t*/", "multi-statement"],
      ["SELECT * FROM t INTO OUTFILE '/tmp/x'", "forbidden: INTO OUTFILE"],
      ["SELECT * FROM t WHERE id = My_Audit_Fn(1)", "forbidden: MY_AUDIT_FN"],
      ["SELECT `sleep`(1)", "forbidden: SLEEP"],
      ["SELECT NEXT VALUE FOR s", "forbidden: NEXT VALUE FOR"],
      ["SELECT a INTO @x FROM t", "select into"],
      ["SELECT * FROM t WHERE id = ?", "placeholders: ? without values"],
      ["DROP TABLE t", "not explainable: DROP"],
      ["SET STATEMENT max_statement_time = 1 FOR SELECT 1", "not explainable: SET"],
      ["", "empty"],
      ["SELECT 'abc", "unterminated: quoted string"]
    ]
    expect(cases.map(([text]) => decide(mysql, text))).toEqual(cases.map(([, reason]) => refuse(reason)))
  })

  it("keeps words in strings and comments out of every check", () => {
    expect(decide(mysql, "SELECT 'a; DROP TABLE t; ANALYZE', '\\' ; sleep(1)' /* ; INTO OUTFILE */ FROM t")).toEqual(
      explain("SELECT 'a; DROP TABLE t; ANALYZE', '\\' ; sleep(1)' /* ; INTO OUTFILE */ FROM t")
    )
  })

  it("takes the fingerprint's word on truncation and multiple statements", () => {
    const fingerprint = {
      fingerprint: "select ?",
      queryId: "Q",
      statementType: "select" as const,
      readOnly: true,
      tables: [],
      multiStatement: false,
      truncated: true,
      tags: {},
      parser: "tokenizer" as const
    }
    expect(decide(mysql, "SELECT 1", fingerprint)).toEqual(refuse("truncated"))
    expect(decide(mysql, "SELECT 1", { ...fingerprint, truncated: false, multiStatement: true })).toEqual(
      refuse("multi-statement")
    )
  })
})

describe("Policy on PostgreSQL", () => {
  it("explains reads and DML as they are, generic when they carry $n", () => {
    expect(decide(postgres, "-- app\nSELECT * FROM t WHERE id = $1 AND b = $12;")).toEqual(
      explain("-- app\nSELECT * FROM t WHERE id = $1 AND b = $12", "prepared_generic", 12)
    )
    expect(decide(postgres, "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d")).toEqual(
      explain("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d")
    )
    expect(decide(postgres, "UPDATE t SET a = 1 WHERE id = 2")).toEqual(explain("UPDATE t SET a = 1 WHERE id = 2"))
    expect(decide(postgres, "INSERT INTO t SELECT * FROM u")).toEqual(explain("INSERT INTO t SELECT * FROM u"))
    expect(decide(postgres, "SELECT * FROM t FOR UPDATE")).toEqual(explain("SELECT * FROM t FOR UPDATE"))
    expect(decide(postgres, "TABLE t")).toEqual(explain("TABLE t"))
  })

  it("refuses what could change something or is no plannable statement", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["EXPLAIN (ANALYZE) SELECT 1", "analyze"],
      ["EXPLAIN (ANALYSE true) DELETE FROM t", "analyze"],
      ["SELECT * INTO new_t FROM t", "select into"],
      ["SELECT dblink_exec('x', 'DELETE FROM t')", "forbidden: DBLINK_EXEC"],
      ['SELECT "nextval"(\'s\')', "forbidden: NEXTVAL"],
      ["SELECT public.pg_sleep(1)", "forbidden: PG_SLEEP"],
      ["SELECT 'a\\'; DROP TABLE t; --'", "multi-statement"],
      ["SELECT $$ x $$; DROP TABLE t", "multi-statement"],
      ["COPY t TO '/tmp/x'", "not explainable: COPY"],
      ["CREATE TABLE x AS SELECT 1", "not explainable: CREATE"],
      ["SELECT $0", "not explainable: parameter number out of range"]
    ]
    expect(cases.map(([text]) => decide(postgres, text))).toEqual(cases.map(([, reason]) => refuse(reason)))
  })

  it("repairs interval $1 and friends into casts", () => {
    expect(castTypedParameters("SELECT now() - interval $1, date $2, 'interval $3' FROM t", false)).toBe(
      "SELECT now() - $1::interval, $2::date, 'interval $3' FROM t"
    )
    expect(castTypedParameters("SELECT $1::interval", false)).toBeUndefined()
  })
})
