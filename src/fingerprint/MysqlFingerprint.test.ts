import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  fingerprintMysqlBytes,
  fingerprintMysqlText,
  fingerprintMysqlWithId,
  fingerprintResultText,
  type MysqlFingerprintOptions,
  type MysqlFingerprintResult,
  mysqlQueryId,
  mysqlQueryIdOfBytes
} from "./MysqlFingerprint.js"

// Every expected value below is what pt-query-digest 3.2.1's own QueryRewriter::fingerprint returned for the
// input (third column: with --preserve-embedded-numbers, where it differs).
const PT_CASES: ReadonlyArray<readonly [string, string] | readonly [string, string, string]> = [
  ["SELECT * FROM users WHERE id = 42", "select * from users where id = ?"],
  ["select name,   password from user\n   where id=5", "select name, password from user where id=?"],
  ["SELECT name, password FROM user WHERE id='12823'", "select name, password from user where id=?"],
  ["SELECT * FROM t WHERE a = 'it''s' AND b = \"say \\\"hi\\\"\" AND c = 'O\\'Reilly'", "select * from t where a = ?? and b = ? and c = ?"],
  ["SELECT * FROM t WHERE a = true AND b = FALSE AND c IS NULL", "select * from t where a = ? and b = ? and c is ?"],
  ["select * from t where id in (1, 2, 3, 4)", "select * from t where id in(?+)"],
  ["select * from t where id IN ('a','b' , 'c')", "select * from t where id in(?+)"],
  ["INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "insert into t (a, b) values(?+)"],
  ["insert into t values (1),(2) on duplicate key update a = values(a)", "insert into t values(?+)"],
  ["REPLACE INTO t VALUES (1,2)", "replace into t values(?+)"],
  ["SELECT * FROM t LIMIT 10, 20", "select * from t limit ?"],
  ["SELECT * FROM t LIMIT 10 OFFSET 20", "select * from t limit ?"],
  ["select a from t union select a from t union all select a from t", "select a from t /*repeat union all*/"],
  ["SELECT * FROM t ORDER BY a ASC, b DESC, c ASC", "select * from t order by a, b desc, c"],
  ["SELECT * FROM t ORDER BY created_ascending", "select * from t order by created_ascending"],
  ["SELECT * FROM t ORDER BY a ascending", "select * from t order by aending"],
  ["use shop", "use ?"],
  ["USE `shop`\n", "use ?\n"],
  ["CALL process_orders(1, 'x')", "call process_orders"],
  ["administrator command: Quit", "administrator command: Quit"],
  ["SELECT /*!40001 SQL_NO_CACHE */ * FROM `orders`", "mysqldump"],
  ["REPLACE INTO `percona`.`checksums` (db, tbl) SELECT 'db', 'tbl' FROM `db`.`tbl` /*db.tbl:1/3*/", "percona-toolkit"],
  ["SELECT * FROM users_2009 JOIN tbl1 ON tbl1.x = users_2009.y", "select * from users_? join tbl? on tbl? = users_?y", "select * from users_2009 join tbl1 on tbl1.x = users_2009.y"],
  ["SELECT 0xFF, X'4A', b'0101', 1.5e-3, -7, +3", "select ?ff, x?, ?, ?, ?, ?"],
  ["select /* comment */ a -- trailing\nfrom t # hash comment\nwhere b = 1", "select a from t where b = ?"],
  ["SELECT /*+ INDEX(t i) */ * FROM t", "select * from t"],
  ["SELECT /*!50000 STRAIGHT_JOIN */ a FROM t", "select /*!? straight_join */ a from t"],
  ["select * from t where c = 'unicode ünï 日本語 🎉'", "select * from t where c = ?"],
  ["SELECT café FROM Ünicode WHERE x = 1", "select café from Ünicode where x = ?"],
  ["select 1 \n", "select ? "],
  ["  \t SELECT 1", "select ?"],
  ["SELECT a -- it's\nFROM t", "select a ? it's from t", "select a -- it's from t"],
  ["SELECT '/*' , col , '*/' FROM t", "select ? from t"],
  ["select null, NULL, nullable, is_null", "select ?, ?, nullable, is_null"],
  ["", ""],
  ["SELECT * FROM t WHERE a = 'unterminated", "select * from t where a = 'unterminated"],]

describe("fingerprintMysqlText", () => {
  it("gives pt-query-digest's fingerprint for every rule", () => {
    for (const [sql, expected] of PT_CASES) expect([sql, fingerprintMysqlText(sql)]).toEqual([sql, expected])
  })

  it("keeps embedded numbers like pt-query-digest --preserve-embedded-numbers", () => {
    for (const [sql, expected, embedded] of PT_CASES) {
      expect([sql, fingerprintMysqlText(sql, { matchEmbeddedNumbers: true })]).toEqual([sql, embedded ?? expected])
    }
  })

  it("returns an administrator command as it came, even one that is no well-formed UTF-16", () => {
    const sql = "administrator command: Quit \ud800"
    expect(fingerprintMysqlText(sql)).toBe(sql)
    expect(fingerprintMysqlText("SELECT 1")).toBe("select ?")
  })

  it("keeps true and false like pt-fingerprint 3.2.1 when asked to", () => {
    expect(fingerprintMysqlText("SELECT * FROM t WHERE a = true AND b = FALSE", { keepBooleans: true })).toBe(
      "select * from t where a = true and b = false"
    )
  })
})

describe("mysqlQueryId", () => {
  it("is the checksum pt-query-digest 3.2.1 printed for the same statement", () => {
    // From `pt-query-digest --output json` over a slow log holding `SELECT * FROM t WHERE a = true AND b = 5`
    // and `select 1  \n`: checksums 2099E461… and FF91DB96….
    expect(fingerprintMysqlWithId("SELECT * FROM t WHERE a = true AND b = 5")).toEqual({
      fingerprint: "select * from t where a = ? and b = ?",
      queryId: "2099E461653C675EE338D67BF5959D69"
    })
    expect(fingerprintMysqlWithId("select 1  \n")).toEqual({
      fingerprint: "select ? ",
      queryId: "FF91DB9698814E5155761EAA5F9A4E3A"
    })
  })

  it("hashes the UTF-8 bytes, as pt does", () => {
    const { fingerprint, queryId } = fingerprintMysqlWithId("SELECT café FROM t")
    expect(fingerprint).toBe("select café from t")
    expect(queryId).toBe(mysqlQueryId("select café from t"))
    expect(queryId).toBe(createHash("md5").update(Buffer.from("select café from t", "utf8")).digest("hex").toUpperCase())
  })
})

// Statements made of ordinary SQL (no comments, CALL, USE, administrator commands or repeated UNIONs, whose
// fingerprints pt itself rewrites again when fed back) and literal values that pt's rules treat alike. pt's
// text rules do not treat every literal alike: 'it''s' becomes `??`, 0x1F becomes `?f`, and quotes or
// comment markers or `),(` inside strings interact with its comment and multi-row INSERT rules; those are pinned by the cases above.
const identifier = fc.constantFrom("users", "orders", "t", "customer_id", "`order`", "a.b", "status", "created_at")
const literal = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map((x) => x.toFixed(3)),
  fc.stringMatching(/^[A-Za-z0-9 _.,:@%=<>ü日]{0,12}$/).map((s) => `'${s}'`),
  fc.stringMatching(/^[A-Za-z0-9 _.,:@%]{0,12}$/).map((s) => `"${s}"`),
  fc.constantFrom("NULL", "TRUE", "false", "0x1f", "'2024-01-01'", "1e10", ".5")
)
type Render = (values: ReadonlyArray<string>) => string
const statement: fc.Arbitrary<Render> = fc
  .record({
    verb: fc.constantFrom("select", "update", "delete", "insert", "replace"),
    table: identifier,
    column: identifier,
    count: fc.integer({ min: 1, max: 6 }),
    limit: fc.constantFrom("", " LIMIT 5", " LIMIT 5, 10", " LIMIT 1 OFFSET 2")
  })
  .map(({ verb, table, column, count, limit }): Render => (values) => {
    const list = values.slice(0, count).join(", ")
    switch (verb) {
      case "select":
        return `SELECT ${column} FROM ${table} WHERE ${column} = ${values[0]} AND id IN (${list}) ORDER BY ${column} ASC${limit}`
      case "update":
        return `UPDATE ${table} SET ${column} = ${values[0]} WHERE id IN (${list})${limit}`
      case "delete":
        return `DELETE FROM ${table} WHERE ${column} = ${values[0]}${limit}`
      default:
        return `${verb.toUpperCase()} INTO ${table} (${column}) VALUES (${list}), (${list})`
    }
  })
const values = fc.array(literal, { minLength: 6, maxLength: 6 })

describe("fingerprint properties", () => {
  it.prop(
    "changing literal values never changes the fingerprint",
    [statement, values, values],
    ([render, a, b]) => {
      expect(fingerprintMysqlText(render(a))).toBe(fingerprintMysqlText(render(b)))
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.prop(
    "fingerprinting a fingerprint changes nothing",
    [statement, values],
    ([render, literals]) => {
      const once = fingerprintMysqlText(render(literals))
      expect(fingerprintMysqlText(once)).toBe(once)
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.prop(
    "never throws on arbitrary text, and the id is always 32 hex digits",
    [fc.string({ unit: "binary", maxLength: 400 })],
    ([text]) => {
      const { fingerprint, queryId } = fingerprintMysqlWithId(text)
      expect(typeof fingerprint).toBe("string")
      expect(queryId).toMatch(/^[0-9A-F]{32}$/)
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it.prop(
    "never throws on arbitrary bytes read as UTF-8 or Latin-1",
    [fc.uint8Array({ maxLength: 400 })],
    ([bytes]) => {
      for (const text of [Buffer.from(bytes).toString("utf8"), Buffer.from(bytes).toString("latin1")]) {
        expect(fingerprintMysqlWithId(text).queryId).toMatch(/^[0-9A-F]{32}$/)
      }
    },
    { fastCheck: { numRuns: 3000 } }
  )
})

// ---------------------------------------------------------------------------------------------------------
// The byte entry point.

const raw = (s: string): Buffer => Buffer.from(s, "latin1")
const resultBytes = (result: MysqlFingerprintResult): Buffer => Buffer.from(result.buffer.subarray(0, result.length))
const md5 = (bytes: Uint8Array): string => createHash("md5").update(bytes).digest("hex").toUpperCase()

// Bytes that would change a fingerprint if they were read as part of the statement between them: an opening
// quote, comment openers and closers, a percona-toolkit marker's end, the rest of a multi-row INSERT, the
// prefixes of the early returns, the ends of `true`, `null` and `asc`, and bytes that are no UTF-8.
const SURROUNDINGS: ReadonlyArray<readonly [string, string]> = [
  ["", ""],
  ["SELECT /*!40001 SQL_NO_CACHE */ * FROM `administrator command: call p(", "2*/(1), (2)' \" -- x\n"],
  ["\xff\xfe'\"/*a.b:1/2*/ ", "ue ll ASC\xe6\x97 # ' "],
  ["INSERT INTO t VALUES (1)", ", (2) -- /*db.tbl:1/2*/"]
]

/** The fingerprint's bytes, the same wherever the statement sits in a buffer; the buffer is left as it was. */
const bytesFingerprint = (statement: Uint8Array, options?: MysqlFingerprintOptions): Buffer => {
  const fingerprints = SURROUNDINGS.map(([before, after]) => {
    const src = Buffer.concat([raw(before), statement, raw(after)])
    const snapshot = Buffer.from(src)
    const start = raw(before).length
    const fingerprint = resultBytes(fingerprintMysqlBytes(src, start, start + statement.length, options))
    expect(src.equals(snapshot)).toBe(true)
    return fingerprint.toString("latin1")
  })
  expect(fingerprints).toEqual(fingerprints.map(() => fingerprints[0]))
  return raw(fingerprints[0]!)
}

// Statements whose every byte matters, beyond the cases above: those that end where a neighbour's bytes
// would complete a comment, a quote, a boolean, a NULL, a percona-toolkit marker or a CALL.
const TRICKY: ReadonlyArray<string> = [
  ...PT_CASES.map(([sql]) => sql),
  "SELECT * FROM tëst WHERE a = 'é'",
  "SELECT 1 /*db.tbl:1/",
  "SELECT 1 /*db.tbl:1/2*/",
  "SELECT 1 /* never closed",
  "SELECT a -",
  "SELECT a /",
  "SELECT tr",
  "SELECT nul",
  "SELECT * FROM t WHERE a = \"dq",
  "SELECT * FROM t ORDER BY a",
  "SELECT a FROM t WHERE b IN (",
  "CALL p",
  "call  Shop.Place_Order(1)",
  "CALL p(1) /* x */",
  "administrator command: ",
  "administrator command: Binlog Dump ÜBER",
  "INSERT INTO t VALUES (1)",
  "INSERT IGNORE INTO t (a) VALUES (1),(2) /*t.x:1/2*/",
  "insert into t values ('a),(b'), ('c')",
  "REPLACE INTO t SELECT * FROM u WHERE v = 'values (1), (2)'",
  "SELECT /*!50000 a */ b FROM t -- c\nWHERE d = 'it\\'s' # e",
  "SELECT a FROM t WHERE b = 'x\\\\' AND c = \"y\\\"z\"",
  "select a from t union select a from t union select b from t",
  "SELECT * FROM t WHERE a IN () AND b IN (1) AND c IN ()",
  "SELECT 1 LIMIT 1, 2",
  "USE `db`",
  "use db\n",
  "\uFEFFSELECT 1",
  "SELECT '日本語' FROM 表 WHERE 🎉 = 1",
  "select 1 \n"
]

const OPTIONS: ReadonlyArray<MysqlFingerprintOptions | undefined> = [
  undefined,
  { matchEmbeddedNumbers: true },
  { keepBooleans: true, keepTrailingNewline: true }
]

// Raw bytes that are no UTF-8, and what pt-query-digest 3.2.1's own QueryRewriter::fingerprint returned for
// them: it works on bytes, so such a byte stays as it is, and only ASCII letters are lowercased.
const RAW_PT_CASES: ReadonlyArray<readonly [string, string]> = [
  ["SELECT * FROM t\xff WHERE a = 1", "select * from t\xff where a = ?"],
  ["SELECT caf\xe9 FROM t WHERE b = 'caf\xe9' AND c = 2", "select caf\xe9 from t where b = ? and c = ?"],
  ["SELECT \x80\xbf FROM T\xc3 WHERE x\xe6\x97 IN (1, 2)", "select \x80\xbf from t\xc3 where x\xe6\x97 in(?+)"],
  ["administrator command: Qu\xefT", "administrator command: Qu\xefT"],
  ["CALL Proc\xe9Dure(1, 'x')", "call proc\xe9dure"],
  ["SELECT /* \xff */ a -- \xfe\nFROM t # \xfd", "select a from t "],
  ["\xef\xbb\xbfSELECT 1", "\xef\xbb\xbfselect ?"],
  [
    "SELECT \xc0\x80 FROM t WHERE \xedSTATUS\xa0= TRUE\xa0AND n IS NULL",
    "select \xc0\x80 from t where \xedstatus\xa0= ?\xa0and n is ?"
  ]
]

describe("fingerprintMysqlBytes", () => {
  it("gives the text entry point's fingerprint, as UTF-8, wherever the statement sits in a buffer", () => {
    for (const options of OPTIONS) {
      for (const sql of TRICKY) {
        const expected = fingerprintMysqlText(sql, options)
        const bytes = bytesFingerprint(Buffer.from(sql, "utf8"), options)
        expect([sql, options, bytes.toString("utf8")]).toEqual([sql, options, expected])
        expect(bytes.equals(Buffer.from(expected, "utf8"))).toBe(true)
      }
    }
  })

  it("gives pt-query-digest's fingerprint for every rule", () => {
    for (const [sql, expected, embedded] of PT_CASES) {
      const src = Buffer.from(sql, "utf8")
      expect([sql, fingerprintResultText(fingerprintMysqlBytes(src, 0, src.length))]).toEqual([sql, expected])
      const kept = fingerprintResultText(fingerprintMysqlBytes(src, 0, src.length, { matchEmbeddedNumbers: true }))
      expect([sql, kept]).toEqual([sql, embedded ?? expected])
    }
  })

  it("leaves bytes that are no UTF-8 as they are, as pt-query-digest does", () => {
    for (const [sql, expected] of RAW_PT_CASES) {
      expect([sql, bytesFingerprint(raw(sql)).toString("latin1")]).toEqual([sql, expected])
    }
    const src = raw("SELECT * FROM t\xff WHERE a = 1")
    const result = fingerprintMysqlBytes(src, 0, src.length)
    expect([...resultBytes(result)]).toEqual([...raw("select * from t"), 0xff, ...raw(" where a = ?")])
    expect(fingerprintResultText(result)).toBe("select * from t\uFFFD where a = ?")
  })

  it("writes every outcome to the buffer, the early returns too", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["SELECT /*!40001 SQL_NO_CACHE */ * FROM `orders` WHERE 1", "mysqldump"],
      ["SELECT 1 /*a_1.b:9/0*/", "percona-toolkit"],
      ["administrator command: Quit", "administrator command: Quit"],
      [" \tCALL Shop.Do_It(1)", "call shop.do_it"],
      ["USE Shop\n", "use ?\n"]
    ]
    for (const [sql, expected] of cases) {
      expect([sql, bytesFingerprint(raw(sql)).toString("latin1")]).toEqual([sql, expected])
    }
  })

  it("has room for the rewrites that lengthen a statement", () => {
    // Each empty list grows by half (`in()` → `in(?+)`): 6,007 bytes in, 9,007 out.
    const sql = `select ${"in()".repeat(1500)}`
    const expected = `select ${"in(?+)".repeat(1500)}`
    expect(bytesFingerprint(raw(sql)).toString("latin1")).toBe(expected)
    expect(fingerprintMysqlText(sql)).toBe(expected)
    const unions = `${"select a in() union ".repeat(400)}select a in()`
    expect(bytesFingerprint(raw(unions)).toString("latin1")).toBe("select a in(?+) /*repeat union*/")
  })

  it("returns one result object, reused by the next call", () => {
    const statements = ["SELECT 1", "SELECT /*!40001 SQL_NO_CACHE */ * FROM `t`", "SELECT 'x' FROM t", "SELECT 2 /*a.b:1/2*/"]
    const results = statements.map((sql) => {
      const src = raw(sql)
      const result = fingerprintMysqlBytes(src, 0, src.length)
      return [result, fingerprintResultText(result)] as const
    })
    expect(results.map(([, text]) => text)).toEqual(["select ?", "mysqldump", "select ? from t", "percona-toolkit"])
    for (const [result] of results) expect(result).toBe(results[0]![0])
    const src = raw("SELECT 3")
    expect(fingerprintResultText(fingerprintMysqlBytes(src, 0, src.length))).toBe("select ?")
  })

  it("can fingerprint a result's own bytes again", () => {
    for (const sql of TRICKY) {
      const once = fingerprintMysqlText(sql)
      const result = fingerprintMysqlBytes(Buffer.from(sql, "utf8"), 0, Buffer.byteLength(sql, "utf8"))
      const again = fingerprintResultText(fingerprintMysqlBytes(result.buffer, 0, result.length))
      expect([sql, again]).toEqual([sql, fingerprintMysqlText(once)])
    }
  })

  it("refuses a range outside the bytes given", () => {
    const src = raw("SELECT 1")
    expect(() => fingerprintMysqlBytes(src, 4, 3)).toThrow(RangeError)
    expect(() => fingerprintMysqlBytes(src, -1, 3)).toThrow(RangeError)
    expect(() => fingerprintMysqlBytes(src, 0, 9)).toThrow(RangeError)
    expect(() => fingerprintMysqlBytes(src, 0.5, 3)).toThrow(RangeError)
    expect(fingerprintResultText(fingerprintMysqlBytes(src, 8, 8))).toBe("")
  })
})

describe("fingerprintResultText", () => {
  it("decodes only buffer[0, length), as UTF-8 with replacement and with a leading U+FEFF kept", () => {
    const ascii = new Uint8Array(new ArrayBuffer(16), 4, 8)
    ascii.set(raw("select ?"))
    expect(fingerprintResultText({ buffer: ascii, length: 6 })).toBe("select")
    expect(fingerprintResultText({ buffer: Buffer.from("select é??", "utf8"), length: 9 })).toBe("select é")
    expect(fingerprintResultText({ buffer: raw("\xef\xbb\xbfa\xffb"), length: 6 })).toBe("\uFEFFa\uFFFDb")
    // Not ASCII in, ASCII out: the fast path still applies, and the text is the same either way.
    const src = Buffer.from("SELECT 'é'", "utf8")
    expect(fingerprintResultText(fingerprintMysqlBytes(src, 0, src.length))).toBe("select ?")
  })
})

describe("mysqlQueryIdOfBytes", () => {
  it("is the checksum pt-query-digest 3.2.1 printed for a statement that is no UTF-8", () => {
    // `pt-query-digest --output json` over a slow log holding `SELECT * FROM t\xff WHERE a = 1;`: checksum
    // D7AD696D…, the MD5 of the fingerprint's raw bytes.
    const src = Buffer.concat([raw("xx"), raw("SELECT * FROM t\xff WHERE a = 1"), raw("yy")])
    const result = fingerprintMysqlBytes(src, 2, src.length - 2)
    const id = mysqlQueryIdOfBytes(result.buffer, 0, result.length)
    expect(id).toBe("D7AD696DCD1B558A0A9FAF069FB0B703")
    expect(id).toBe(md5(raw("select * from t\xff where a = ?")))
  })

  it("is mysqlQueryId of the same bytes as text, and hashes only the range given", () => {
    for (const sql of TRICKY) {
      const fingerprint = fingerprintMysqlText(sql)
      const src = Buffer.concat([raw("\xff\x00"), Buffer.from(fingerprint, "utf8"), raw("\x00\xff")])
      const id = mysqlQueryIdOfBytes(src, 2, src.length - 2)
      expect([sql, id]).toEqual([sql, mysqlQueryId(fingerprint)])
      expect(id).toBe(md5(Buffer.from(fingerprint, "utf8")))
    }
    expect(mysqlQueryIdOfBytes(raw("abc"), 1, 1)).toBe("D41D8CD98F00B204E9800998ECF8427E")
    expect(() => mysqlQueryIdOfBytes(raw("abc"), 1, 4)).toThrow(RangeError)
  })
})

// Strings over the pieces pt's rules react to, and the tricky statements' characters, without lone surrogates
// (a UTF-8 source cannot hold one).
const PIECES = [
  "'", '"', "\\", "/*", "*/", "/*!", "--", "#", "\n", "\r", " ", "\t", "(", ")", ",", "?", "+", "-", ".", "0", "1", "x",
  "b", "é", "日", "🎉", "select ", "SELECT ", " union ", " union all ", "limit ", " offset ", "order by ", " ASC",
  "in", "values", "null", "TRUE", "false", "use ", "call ", "insert ", "replace ", "into ", " ignore",
  "administrator command: ", "db.t:1/2", "select a", "users_2009"
]
const soup = fc.array(fc.constantFrom(...PIECES), { maxLength: 30 }).map((xs) => xs.join(""))

describe("fingerprintMysqlBytes properties", () => {
  it.prop(
    "gives the text entry point's fingerprint for the same text",
    [soup, fc.constantFrom(...OPTIONS)],
    ([sql, options]) => {
      const src = Buffer.from(sql, "utf8")
      const bytes = resultBytes(fingerprintMysqlBytes(src, 0, src.length, options))
      expect(bytes.toString("utf8")).toBe(fingerprintMysqlText(sql, options))
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it.prop(
    "reads nothing around the range and writes nothing to the source, whatever the bytes",
    [fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })],
    ([statement, before, after]) => {
      const alone = resultBytes(fingerprintMysqlBytes(Buffer.from(statement), 0, statement.length))
      const src = Buffer.concat([before, statement, after])
      const snapshot = Buffer.from(src)
      const inside = resultBytes(fingerprintMysqlBytes(src, before.length, before.length + statement.length))
      expect(inside.equals(alone)).toBe(true)
      expect(src.equals(snapshot)).toBe(true)
    },
    { fastCheck: { numRuns: 5000 } }
  )
})

describe("huge statements", () => {
  // Over the 4 MiB past which only the rewritten prefix of a multi-row INSERT is copied.
  const rows = "(1, 'abcdefghij'), ".repeat(300_000)
  it("a multi-row INSERT fingerprints as its first row, by text and by bytes; a marker anywhere still wins", () => {
    const insert = `INSERT INTO t (a, b) VALUES ${rows}(2, 'z')`
    expect(insert.length).toBeGreaterThan(4 << 20)
    expect(fingerprintMysqlText(insert)).toBe("insert into t (a, b) values(?+)")
    const bytes = Buffer.concat([Buffer.from("xx"), Buffer.from(insert), Buffer.from("yy")])
    expect(resultBytes(fingerprintMysqlBytes(bytes, 2, bytes.length - 2)).toString("latin1")).toBe("insert into t (a, b) values(?+)")
    expect(fingerprintMysqlText(`${insert} /*db.t:1/2*/`)).toBe("percona-toolkit")
    // Not a multi-row INSERT: rewritten whole, as ever.
    expect(fingerprintMysqlText(`SELECT * FROM t WHERE id IN (${"1, ".repeat(2_000_000)}2)`)).toBe("select * from t where id in(?+)")
  })
})
