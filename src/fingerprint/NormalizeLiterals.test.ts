import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import mysql from "mysql2/promise"
import pg from "pg"
import { newMarker } from "../../test/support/Marker.js"
import { normalizePlan, normalizeSqlText } from "./NormalizeLiterals.js"

describe("normalizeSqlText", () => {
  it("replaces MySQL strings, numbers and placeholders with ? and drops comments", () => {
    expect(
      normalizeSqlText("t.email = 'it\\'s \\\\ s3cret' and t.n > 42 /* note 77 */ and t.x in (1,2,3) # tail 9", "mysql")
    ).toBe("t.email = ? and t.n > ? and t.x in (?,?,?)")
    expect(normalizeSqlText(`a.name = "dq 5" and b.hex = 0x1F and c.s = _utf8mb4'z' -- end 3`, "mysql")).toBe(
      "a.name = ? and b.hex = ? and c.s = ?"
    )
    expect(normalizeSqlText("`col 1` = ? /*!50001 and d = 12 */", "mysql")).toBe("`col 1` = ? and d = ?")
  })

  it("replaces PostgreSQL strings, dollar-quoted text and parameters, keeps quoted identifiers and casts", () => {
    expect(normalizeSqlText(`(("Weird Col" = 'it''s'::text) AND (n > $1) AND (d < $tag$x 1$tag$))`, "postgres")).toBe(
      `(("Weird Col" = ?::text) AND (n > ?) AND (d < ?))`
    )
    expect(normalizeSqlText("(id = ANY ('{3,4,5}'::integer[])) /* a /* nested */ 7 */ AND (v = E'a\\'b')", "postgres")).toBe(
      "(id = ANY (?::integer[])) AND (v = ?)"
    )
  })

  it("swallows the rest of an unterminated string or comment", () => {
    expect(normalizeSqlText("a = 'open 123 and b = 4", "mysql")).toBe("a = ?")
    expect(normalizeSqlText("a = 1 /* open 123", "postgres")).toBe("a = ?")
  })

  it("keeps whitespace between tokens, and numbers when asked (table definitions)", () => {
    expect(
      normalizeSqlText(
        "CREATE TABLE t (\n  id int NOT NULL,\n  v varchar(255) DEFAULT 'dflt 9' COMMENT 'who 7'\n) ENGINE=InnoDB -- x 1",
        "mysql",
        { keepNumbers: true }
      )
    ).toBe("CREATE TABLE t (\n  id int NOT NULL,\n  v varchar(255) DEFAULT ? COMMENT ?\n) ENGINE=InnoDB")
  })
})

describe("normalizePlan", () => {
  it("normalizes known expression fields, keeps names and numbers, and normalizes unknown strings with quotes or digits", () => {
    const plan = {
      Plan: {
        "Node Type": "Seq Scan",
        "Relation Name": "orders-2024",
        Alias: "o'1",
        "Subplan Name": "InitPlan 1 (returns $0)",
        "Plan Rows": 31337,
        Filter: "(status = 'shipped'::text)",
        Output: ["id", "(total * 1.5)"],
        "Sort Method": "quicksort",
        "Future Field": "(note = 'x')",
        "Future Count": "about 7 rows",
        "Future Word": "plain words stay",
        "Parallel Aware": false,
        Nothing: null
      }
    }
    expect(normalizePlan(plan, "postgres")).toEqual({
      Plan: {
        "Node Type": "Seq Scan",
        "Relation Name": "orders-2024",
        Alias: "o'1",
        "Subplan Name": "InitPlan 1 (returns $0)",
        "Plan Rows": 31337,
        Filter: "(status = ?::text)",
        Output: ["id", "(total * ?)"],
        "Sort Method": "quicksort",
        "Future Field": "(note = ?)",
        "Future Count": "about ? rows",
        "Future Word": "plain words stay",
        "Parallel Aware": false,
        Nothing: null
      }
    })
    // The input is left as it was.
    expect(plan.Plan.Filter).toBe("(status = 'shipped'::text)")
  })

  it("normalizes MySQL 8.3+ v2 operation texts and ranges", () => {
    const plan = {
      query: "/* select#1 */ select `t`.`a` from `t` where (`t`.`b` = 'b 1')",
      operation: "Filter: (t.b = 'b 1')",
      access_type: "filter",
      inputs: [{ operation: "Index range scan on t using ib over (7 <= b <= 9)", ranges: ["(7 <= b <= 9)"], index_name: "ib" }]
    }
    expect(normalizePlan(plan, "mysql")).toEqual({
      query: " select `t`.`a` from `t` where (`t`.`b` = ?)",
      operation: "Filter: (t.b = ?)",
      access_type: "filter",
      inputs: [{ operation: "Index range scan on t using ib over (? <= b <= ?)", ranges: ["(? <= b <= ?)"], index_name: "ib" }]
    })
  })
})

// Plans captured here, from the local servers, on scratch tables made and dropped by the test.
describe("normalizePlan on real plans", () => {
  it.live("MariaDB: attached_condition, index_condition and ref lose their literals, keep their shape", () =>
    Effect.gen(function* () {
      const table = newMarker("ai_norm")
      const connection = yield* Effect.acquireRelease(
        Effect.promise(() => mysql.createConnection({ host: "127.0.0.1", port: 3306, user: "root", database: "test" })),
        (c) => Effect.promise(() => c.end())
      )
      const query = (sql: string) => Effect.promise(() => connection.query(sql))
      yield* Effect.addFinalizer(() => query(`DROP TABLE IF EXISTS ${table}`).pipe(Effect.orDie))
      yield* query(`CREATE TABLE ${table} (id int PRIMARY KEY, email varchar(100), n int, KEY kn (n))`)
      yield* query(`INSERT INTO ${table} SELECT seq, concat('u', seq, '@x.org'), seq % 100 FROM seq_1_to_2000`)
      yield* query(`ANALYZE TABLE ${table}`)
      const explain = (sql: string) =>
        Effect.map(query(`EXPLAIN FORMAT=JSON ${sql}`), ([rows]) => JSON.parse((rows as Array<{ EXPLAIN: string }>)[0]!.EXPLAIN) as unknown)

      // MariaDB 10.11 writes a quote, double quote or control character of a literal into its JSON unescaped
      // (invalid JSON), so the literals here hold none; the lexer's escapes are tested above.
      const scan = yield* explain(
        `SELECT * FROM ${table} WHERE email = 'x\\\\ s3cret' AND n > 50 /* note 77 */ ORDER BY email`
      )
      expect(JSON.stringify(scan)).toContain("s3cret")
      expect(normalizePlan(scan, "mysql")).toEqual({
        query_block: {
          select_id: 1,
          nested_loop: [
            {
              read_sorted_file: {
                filesort: {
                  sort_key: `${table}.email`,
                  table: {
                    table_name: table,
                    access_type: "ALL",
                    possible_keys: ["kn"],
                    rows: 2000,
                    filtered: expect.any(Number),
                    attached_condition: `${table}.email = ? and ${table}.n > ?`
                  }
                }
              }
            }
          ]
        }
      })

      const join = yield* explain(
        `SELECT * FROM ${table} a JOIN ${table} b ON b.n = a.n + 7 WHERE a.id IN (3, 4, 5) AND b.email LIKE '%abc9'`
      )
      const normalized = normalizePlan(join, "mysql")
      const tables = (normalized as { query_block: { nested_loop: Array<{ table: Record<string, unknown> }> } }).query_block
        .nested_loop
      expect(tables.map(({ table }) => [table.table_name, table.access_type, table.ref ?? null])).toEqual([
        ["a", "range", null],
        ["b", "ref", ["func"]]
      ])
      expect(tables[0]!.table.attached_condition).toBe("a.`id` in (?,?,?)")
      expect(tables[1]!.table.index_condition).toBe("b.n = a.n + ?")
      expect(tables[1]!.table.attached_condition).toBe("b.email like ?")
      expect(JSON.stringify(normalized)).not.toMatch(/abc9|'|in \(3/)
    }).pipe(Effect.scoped)
  )

  it.live("PostgreSQL: Filter, Index Cond, Recheck Cond, Sort Key and Output lose their literals", () =>
    Effect.gen(function* () {
      const table = newMarker("ai_norm")
      const client = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const c = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test" })
          await c.connect()
          return c
        }),
        (c) => Effect.promise(() => c.end())
      )
      const query = (sql: string) => Effect.promise(() => client.query(sql))
      yield* Effect.addFinalizer(() => query(`DROP TABLE IF EXISTS ${table}`).pipe(Effect.orDie))
      yield* query(`CREATE TABLE ${table} (id int PRIMARY KEY, email text, n int)`)
      yield* query(`CREATE INDEX ${table}_n ON ${table} (n)`)
      yield* query(`INSERT INTO ${table} SELECT g, 'u' || g || '@x.org', g % 100 FROM generate_series(1, 2000) g`)
      yield* query(`ANALYZE ${table}`)
      const explain = (sql: string) =>
        Effect.map(query(`EXPLAIN (FORMAT JSON, VERBOSE) ${sql}`), (result) => result.rows[0]["QUERY PLAN"] as unknown)

      const sorted = yield* explain(
        `SELECT * FROM ${table} WHERE email = 'it''s s3cret' AND n > 50 /* note 77 */ ORDER BY lower(email) || 'zz9' LIMIT 5`
      )
      expect(JSON.stringify(sorted)).toContain("s3cret")
      const normalized = normalizePlan(sorted, "postgres") as Array<{ Plan: Record<string, unknown> }>
      const limit = normalized[0]!.Plan
      const sort = (limit.Plans as Array<Record<string, unknown>>)[0]!
      const scan = (sort.Plans as Array<Record<string, unknown>>)[0]!
      expect([limit["Node Type"], sort["Node Type"], scan["Node Type"], scan["Relation Name"]]).toEqual([
        "Limit",
        "Sort",
        "Seq Scan",
        table
      ])
      expect(scan.Filter).toBe(`((${table}.n > ?) AND (${table}.email = ?::text))`)
      expect(sort["Sort Key"]).toEqual([`((lower(${table}.email) || ?::text))`])
      expect(limit.Output).toEqual(["id", "email", "n", "((lower(email) || ?::text))"])
      expect(JSON.stringify(normalized)).not.toMatch(/s3cret|zz9|> 50|note/)

      const join = yield* explain(
        `SELECT * FROM ${table} a JOIN ${table} b ON b.n = a.n + 7 WHERE a.id = ANY('{3,4,5}') AND b.email LIKE '%abc9' AND a.n = 12`
      )
      const text = JSON.stringify(normalizePlan(join, "postgres"))
      expect(text).toContain(`"Index Cond":"(a.id = ANY (?::integer[]))"`)
      expect(text).toContain(`"Filter":"(a.n = ?)"`)
      expect(text).toContain(`"Recheck Cond":"(b.n = (a.n + ?))"`)
      expect(text).toContain(`"Filter":"(b.email ~~ ?::text)"`)
      expect(text).not.toMatch(/abc9|\{3,4,5\}|= 12/)
    }).pipe(Effect.scoped)
  )
})
