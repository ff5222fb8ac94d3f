import { loadModule, normalizeSync, parseSync } from "@libpg-query/parser"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import mysql from "mysql2/promise"
import type { RuleDialect } from "./Rule.js"
import { fingerprintMysqlText } from "../../../src/fingerprint/MysqlFingerprint.js"
import { runRules } from "./RunRules.js"
import { statementRules } from "./StatementRules.js"

// PostgreSQL's own parser checks that every PostgreSQL statement below is valid SQL, so no rule is tested on text
// no server would run. (MariaDB has no parse-only mode without the tables.)
beforeAll(async () => {
  await loadModule()
})

// The MySQL statements below, parsed by the local MariaDB at the end of the file (pt fingerprints such as `IN(?+)`
// are no SQL and are left out).
const mysqlStatements = new Set<string>()

// Every test runs all the statement rules, so each statement also shows that no other rule fires on it.
const run = (dialect: RuleDialect, sql: string) => {
  if (dialect === "postgres") expect(() => parseSync(sql)).not.toThrow()
  else if (!sql.includes("?+")) mysqlStatements.add(sql)
  return runRules(statementRules, { dialect, sql }).map(({ rule, severity, message, evidence, reduction }) => ({
    rule,
    severity,
    message,
    evidence,
    reduction
  }))
}
const rulesOf = (dialect: RuleDialect, sql: string) => run(dialect, sql).map((f) => f.rule)

describe("stmt_select_star", () => {
  it("reports SELECT * and t.*, naming the tables whose columns come back", () => {
    expect(run("mysql", "SELECT * FROM orders WHERE id = 1")).toEqual([
      {
        rule: "stmt_select_star",
        severity: "info",
        message: "SELECT * returns every column of orders",
        evidence: "SELECT * FROM orders",
        reduction: 0.05
      }
    ])
    expect(run("postgres", "SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1")).toEqual([
      {
        rule: "stmt_select_star",
        severity: "info",
        message: "SELECT o.* returns every column of orders",
        evidence: "SELECT o.* FROM orders",
        reduction: 0.05
      }
    ])
  })
  it("leaves count(*), multiplication and EXISTS (SELECT * …) alone", () => {
    expect(run("mysql", "SELECT count(*) FROM orders WHERE EXISTS (SELECT * FROM items WHERE items.order_id = orders.id)")).toEqual([])
    expect(run("postgres", "SELECT price * qty FROM items WHERE order_id = $1")).toEqual([])
  })
})

describe("stmt_select_without_where", () => {
  it("reports a SELECT that reads a whole table, a derived table and each branch of a UNION", () => {
    expect(run("mysql", "SELECT id, total FROM orders")).toEqual([
      {
        rule: "stmt_select_without_where",
        severity: "warn",
        message: "SELECT from orders has no WHERE and no LIMIT: all its rows are read",
        evidence: "FROM orders (no WHERE)",
        reduction: 0.3
      }
    ])
    expect(rulesOf("postgres", "(SELECT id FROM a) UNION ALL (SELECT id FROM b)")).toEqual([
      "stmt_select_without_where",
      "stmt_select_without_where"
    ])
    expect(run("postgres", "SELECT status, count(*) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY status")).toEqual([
      {
        rule: "stmt_select_without_where",
        severity: "warn",
        message: "SELECT from orders, customers has no WHERE and no LIMIT: all their rows are read",
        evidence: "FROM orders o JOIN customers c ON c.id = o.customer_id (no WHERE)",
        reduction: 0.3
      }
    ])
  })
  it("says nothing without FROM, on dual, with a LIMIT, or for a lookup subquery", () => {
    expect(run("mysql", "SELECT 1")).toEqual([])
    expect(run("postgres", "SELECT now()")).toEqual([])
    expect(run("mysql", "SELECT NOW() FROM dual")).toEqual([])
    expect(run("mysql", "SELECT id FROM orders ORDER BY id LIMIT 10")).toEqual([])
    expect(run("postgres", "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM vip)")).toEqual([])
    expect(run("postgres", "SELECT id, (SELECT max(total) FROM orders) FROM customers WHERE id = $1")).toEqual([])
    expect(run("mysql", "INSERT INTO archive SELECT id FROM orders")).toEqual([])
  })
})

describe("stmt_dml_without_where", () => {
  it("reports UPDATE and DELETE with no WHERE as critical, after a WITH list too", () => {
    expect(run("mysql", "UPDATE orders SET status = 'x'")).toEqual([
      {
        rule: "stmt_dml_without_where",
        severity: "crit",
        message: "UPDATE of orders has no WHERE: every row is updated",
        evidence: "UPDATE orders SET … (no WHERE)",
        reduction: 0.5
      }
    ])
    expect(run("postgres", "WITH old AS (SELECT id FROM s WHERE t < now()) DELETE FROM sessions")).toEqual([
      {
        rule: "stmt_dml_without_where",
        severity: "crit",
        message: "DELETE of sessions has no WHERE: every row is deleted",
        evidence: "DELETE FROM sessions (no WHERE)",
        reduction: 0.5
      }
    ])
  })
  it("reports PostgreSQL's UPDATE … FROM and MySQL's comma list with no WHERE (cross joins: every row)", () => {
    expect(run("postgres", "UPDATE t SET a = s.a FROM s").map((f) => f.message)).toEqual([
      "UPDATE of t has no WHERE: every row is updated"
    ])
    expect(run("mysql", "UPDATE LOW_PRIORITY t1, t2 SET t1.a = t2.a").map((f) => f.evidence)).toEqual([
      "UPDATE t1, t2 SET … (no WHERE)"
    ])
  })
  it("says nothing with a WHERE, for a bounded batch (LIMIT), a MySQL inner-join UPDATE/DELETE, or ON DUPLICATE KEY UPDATE", () => {
    expect(run("mysql", "UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = 1")).toEqual([])
    expect(run("mysql", "DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id")).toEqual([])
    expect(run("postgres", "DELETE FROM sessions WHERE expires < now()")).toEqual([])
    expect(run("mysql", "UPDATE orders SET status = ? WHERE id = ?")).toEqual([])
    expect(run("mysql", "DELETE FROM log ORDER BY id LIMIT 1000")).toEqual([])
    expect(run("mysql", "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = a + 1")).toEqual([])
  })
})

describe("stmt_like_leading_wildcard", () => {
  it("reports a pattern starting with %, also built with CONCAT or ||", () => {
    expect(run("mysql", "SELECT id FROM users WHERE email LIKE '%@example.com'")).toEqual([
      {
        rule: "stmt_like_leading_wildcard",
        severity: "warn",
        message: "email LIKE with a leading %: no index on email can narrow it, every row is matched",
        evidence: "email LIKE '%@example.com'",
        reduction: 0.5
      }
    ])
    expect(run("mysql", "SELECT id FROM users u WHERE u.email NOT LIKE CONCAT('%', ?)")).toEqual([
      {
        rule: "stmt_like_leading_wildcard",
        severity: "warn",
        message: "u.email NOT LIKE with a leading %: no index on u.email can narrow it, every row is matched",
        evidence: "u.email NOT LIKE CONCAT('%', ?)",
        reduction: 0.5
      }
    ])
    expect(run("postgres", "SELECT id FROM users WHERE name ILIKE '%' || $1")).toEqual([
      {
        rule: "stmt_like_leading_wildcard",
        severity: "warn",
        message: "name ILIKE with a leading %: no index on name can narrow it, every row is matched",
        evidence: "name ILIKE '%' || $1",
        reduction: 0.5
      }
    ])
  })
  it("says nothing on an anchored pattern or a placeholder", () => {
    expect(run("mysql", "SELECT id FROM users WHERE email LIKE 'abc%'")).toEqual([])
    expect(run("postgres", "SELECT id FROM users WHERE email LIKE $1")).toEqual([])
    expect(run("mysql", "select id from users where email like ?")).toEqual([])
  })
})

describe("stmt_order_by_rand", () => {
  it("reports RAND() on MySQL and random() on PostgreSQL", () => {
    expect(run("mysql", "SELECT id FROM products WHERE active = 1 ORDER BY RAND() LIMIT 1")).toEqual([
      {
        rule: "stmt_order_by_rand",
        severity: "warn",
        message: "ORDER BY RAND() LIMIT 1: every qualifying row is given a random key and sorted, to keep 1",
        evidence: "ORDER BY RAND() LIMIT 1",
        reduction: 0.6
      }
    ])
    expect(run("postgres", "SELECT id FROM products WHERE active ORDER BY random() LIMIT $1")).toEqual([
      {
        rule: "stmt_order_by_rand",
        severity: "warn",
        message: "ORDER BY random() LIMIT $1: every qualifying row is given a random key and sorted, to keep $1",
        evidence: "ORDER BY random() LIMIT $1",
        reduction: 0.6
      }
    ])
  })
  it("says nothing on an ordinary ORDER BY or rand() in the select list", () => {
    expect(run("mysql", "SELECT id, RAND() FROM products WHERE active = 1 ORDER BY id LIMIT 1")).toEqual([])
  })
})

describe("stmt_large_offset", () => {
  it("reports LIMIT … OFFSET, MySQL's LIMIT offset, count and OFFSET … FETCH at the threshold and above", () => {
    expect(run("mysql", "SELECT id FROM products WHERE a = 1 ORDER BY created_at DESC LIMIT 20 OFFSET 50000")).toEqual([
      {
        rule: "stmt_large_offset",
        severity: "warn",
        message: "OFFSET 50,000 (threshold 1,000): 50,020 rows are read to return 20",
        evidence: "LIMIT 20 OFFSET 50000",
        // offset ÷ (offset + rows): keyset pagination reads only the rows returned
        reduction: 50_000 / 50_020
      }
    ])
    expect(run("mysql", "SELECT id FROM products WHERE a = 1 ORDER BY id LIMIT 1000, 20")).toEqual([
      {
        rule: "stmt_large_offset",
        severity: "warn",
        message: "OFFSET 1,000 (threshold 1,000): 1,020 rows are read to return 20",
        evidence: "LIMIT 1000, 20",
        reduction: 1000 / 1020
      }
    ])
    expect(run("postgres", "SELECT id FROM products WHERE a = $1 ORDER BY id OFFSET 5000 ROWS FETCH NEXT 20 ROWS ONLY")).toEqual([
      {
        rule: "stmt_large_offset",
        severity: "warn",
        message: "OFFSET 5,000 (threshold 1,000): 5,020 rows are read to return 20",
        evidence: "OFFSET 5000 ROWS FETCH NEXT 20 ROWS ONLY",
        reduction: 5000 / 5020
      }
    ])
    expect(run("postgres", "SELECT id FROM products WHERE a = $1 ORDER BY id OFFSET 2000")).toEqual([
      {
        rule: "stmt_large_offset",
        severity: "warn",
        message: "OFFSET 2,000 (threshold 1,000): 2,000 rows are read and thrown away",
        evidence: "OFFSET 2000",
        // No row count: the rule's declared share.
        reduction: 0.5
      }
    ])
  })
  it("says nothing under the threshold or on placeholders", () => {
    expect(run("mysql", "SELECT id FROM products WHERE a = 1 ORDER BY id LIMIT 20 OFFSET 999")).toEqual([])
    expect(run("mysql", "select id from products where a = ? order by id limit ?, ?")).toEqual([])
    expect(run("postgres", "SELECT id FROM products WHERE a = $3 ORDER BY id LIMIT $1 OFFSET $2")).toEqual([])
  })
  it("takes its threshold from the pipeline", () => {
    const sql = "SELECT id FROM products WHERE a = 1 ORDER BY id LIMIT 20 OFFSET 999"
    const findings = runRules(statementRules, { dialect: "mysql", sql }, { thresholds: { stmt_large_offset: { min_offset: 500 } } })
    expect(findings.map((f) => f.message)).toEqual(["OFFSET 999 (threshold 500): 1,019 rows are read to return 20"])
    expect(findings.map((f) => f.reduction)).toEqual([999 / 1019])
  })
})

describe("stmt_function_on_column", () => {
  it("reports a function, arithmetic or a cast around a column compared with a constant", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE date(created_at) = ? AND status = ?")).toEqual([
      {
        rule: "stmt_function_on_column",
        severity: "warn",
        message: "date() applied to created_at in WHERE: an index on created_at cannot be used for this condition",
        evidence: "WHERE date(created_at) = ?",
        reduction: 0.3
      }
    ])
    expect(run("postgres", "SELECT id FROM users u WHERE lower(u.email) = lower($1)")).toEqual([
      {
        rule: "stmt_function_on_column",
        severity: "warn",
        message: "lower() applied to u.email in WHERE: an index on u.email cannot be used for this condition",
        evidence: "WHERE lower(u.email) = lower($1)",
        reduction: 0.3
      }
    ])
    expect(run("postgres", "SELECT id FROM t WHERE a = $2 AND (col + 1 = $1 OR b = 2)")).toEqual([
      {
        rule: "stmt_function_on_column",
        severity: "warn",
        message: "arithmetic (+) applied to col in WHERE: an index on col cannot be used for this condition",
        evidence: "WHERE col + 1 = $1",
        reduction: 0.3
      }
    ])
    expect(run("postgres", "SELECT id FROM t WHERE code::text = '5'")).toEqual([
      {
        rule: "stmt_function_on_column",
        severity: "warn",
        message: "a cast applied to code in WHERE: an index on code cannot be used for this condition",
        evidence: "WHERE code::text = '5'",
        reduction: 0.3
      }
    ])
    expect(run("postgres", "SELECT id FROM orders WHERE extract(year FROM created_at) = 2024")).toEqual([
      {
        rule: "stmt_function_on_column",
        severity: "warn",
        message: "extract() applied to created_at in WHERE: an index on created_at cannot be used for this condition",
        evidence: "WHERE extract(year FROM created_at) = 2024",
        reduction: 0.3
      }
    ])
    expect(run("mysql", "SELECT id FROM orders WHERE YEAR(created_at) BETWEEN 2020 AND 2024")).toEqual([
      {
        rule: "stmt_function_on_column",
        severity: "warn",
        message: "YEAR() applied to created_at in WHERE: an index on created_at cannot be used for this condition",
        evidence: "WHERE YEAR(created_at) BETWEEN 2020 AND 2024",
        reduction: 0.3
      }
    ])
  })
  it("says nothing on a bare column, functions on the constant side, join conditions or row constructors", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE created_at >= ? AND created_at < ? + INTERVAL 1 DAY")).toEqual([])
    expect(run("postgres", "SELECT id FROM t WHERE created_at > now() - interval '1 day' AND d = DATE '2024-01-01'")).toEqual([])
    expect(run("postgres", "SELECT a.id FROM a JOIN b ON b.id = a.b_id WHERE lower(a.x) = lower(b.y)")).toEqual([])
    expect(run("postgres", "SELECT id FROM t WHERE (a, b) = (1, 2) AND c = $1::date")).toEqual([])
  })
})

describe("stmt_in_subquery", () => {
  it("reports [NOT] IN (SELECT …) on MySQL", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE customer_id NOT IN (SELECT id FROM blocked WHERE since < ?)")).toEqual([
      {
        rule: "stmt_in_subquery",
        severity: "warn",
        message: "NOT IN (SELECT … FROM blocked) may be run once per row of the outer query",
        evidence: "customer_id NOT IN (SELECT … FROM blocked)",
        reduction: 0.3
      }
    ])
    expect(rulesOf("mysql", "DELETE FROM orders WHERE customer_id IN (SELECT id FROM blocked WHERE since < ?)")).toEqual([
      "stmt_in_subquery"
    ])
  })
  it("is a MySQL rule: PostgreSQL plans IN (SELECT …) as a semi-join; an IN list is no subquery", () => {
    expect(run("postgres", "SELECT id FROM orders WHERE customer_id NOT IN (SELECT id FROM blocked WHERE since < $1)")).toEqual([])
    expect(run("mysql", "SELECT id FROM orders WHERE customer_id IN (1, 2, 3)")).toEqual([])
  })
})

describe("stmt_long_in_list", () => {
  it("reports more than 10 items, literals or $n", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE id IN (1,2,3,4,5,6,7,8,9,10,11,12)")).toEqual([
      {
        rule: "stmt_long_in_list",
        severity: "info",
        message: "IN list of 12 items on id (threshold 10)",
        evidence: "id IN (1, … 12 items)",
        reduction: 0.05
      }
    ])
    expect(run("postgres", "SELECT id FROM orders o WHERE o.id NOT IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")).toEqual([
      {
        rule: "stmt_long_in_list",
        severity: "info",
        message: "IN list of 11 items on o.id (threshold 10)",
        evidence: "o.id NOT IN ($1, … 11 items)",
        reduction: 0.05
      }
    ])
  })
  it("says nothing at 10 items or on a folded fingerprint list", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE id IN (1,2,3,4,5,6,7,8,9,10)")).toEqual([])
    expect(run("mysql", "select id from orders where id in(?+)")).toEqual([])
  })
})

describe("stmt_limit_without_order_by", () => {
  it("reports a LIMIT or FETCH FIRST with no ORDER BY", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE status = 'new' LIMIT 10")).toEqual([
      {
        rule: "stmt_limit_without_order_by",
        severity: "info",
        message: "LIMIT 10 without ORDER BY on orders: which rows come back depends on the plan",
        evidence: "LIMIT 10 (no ORDER BY)",
        reduction: 0
      }
    ])
    expect(run("postgres", "SELECT id FROM orders WHERE status = $1 FETCH FIRST 5 ROWS ONLY")).toEqual([
      {
        rule: "stmt_limit_without_order_by",
        severity: "info",
        message: "FETCH FIRST 5 ROWS ONLY without ORDER BY on orders: which rows come back depends on the plan",
        evidence: "FETCH FIRST 5 ROWS ONLY (no ORDER BY)",
        reduction: 0
      }
    ])
  })
  it("says nothing with an ORDER BY, on an existence check or without FROM", () => {
    expect(run("mysql", "SELECT id FROM orders WHERE status = 'new' ORDER BY id LIMIT 10")).toEqual([])
    expect(run("mysql", "SELECT 1 FROM orders WHERE status = 'new' LIMIT 1")).toEqual([])
    expect(run("postgres", "SELECT 1 LIMIT 1")).toEqual([])
  })
})

describe("stmt_outer_join_in_where", () => {
  it("reports a WHERE test on the nullable side of a LEFT or RIGHT join", () => {
    expect(
      run("mysql", "SELECT o.id FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE o.status = ? AND c.country = ?")
    ).toEqual([
      {
        rule: "stmt_outer_join_in_where",
        severity: "warn",
        message: "WHERE c.country = ? rejects the NULL rows of LEFT JOIN customers c: the outer join is an inner join in effect",
        evidence: "LEFT JOIN customers c … WHERE c.country = ?",
        reduction: 0
      }
    ])
    expect(run("postgres", "SELECT o.id FROM orders AS o RIGHT OUTER JOIN customers c ON c.id = o.customer_id WHERE o.total > 5")).toEqual([
      {
        rule: "stmt_outer_join_in_where",
        severity: "warn",
        message:
          "WHERE o.total > 5 rejects the NULL rows of RIGHT OUTER JOIN customers c: the outer join is an inner join in effect",
        evidence: "RIGHT OUTER JOIN customers c … WHERE o.total > 5",
        reduction: 0
      }
    ])
    expect(rulesOf("postgres", "SELECT o.id FROM orders o LEFT JOIN customers c USING (customer_id) WHERE c.id IS NOT NULL")).toEqual([
      "stmt_outer_join_in_where"
    ])
  })
  it("says nothing on IS NULL (the anti-join), COALESCE, an OR, the preserved side or an inner join", () => {
    const base = "SELECT o.id FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE "
    expect(run("mysql", base + "c.id IS NULL")).toEqual([])
    expect(run("mysql", base + "c.country <=> ?")).toEqual([])
    expect(run("mysql", base + "c.country = ? OR c.id IS NULL")).toEqual([])
    expect(run("mysql", base + "o.status = ?")).toEqual([])
    expect(rulesOf("postgres", base + "coalesce(c.country, 'x') = $1")).toEqual(["stmt_function_on_column"])
    expect(run("mysql", "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.country = ?")).toEqual([])
  })
})

describe("stmt_too_many_joins", () => {
  const six = "SELECT a.id FROM a JOIN b ON b.a = a.id JOIN c ON c.b = b.id, d LEFT JOIN e ON e.d = d.id JOIN f USING (x) WHERE a.id = 1"
  it("reports more than 5 tables in one SELECT, joined or listed", () => {
    expect(run("mysql", six)).toEqual([
      {
        rule: "stmt_too_many_joins",
        severity: "warn",
        message: "6 tables joined in one SELECT (threshold 5)",
        evidence: "FROM a, b, c, d, e, f",
        reduction: 0.1
      }
    ])
  })
  it("says nothing at 5 tables, or when the pipeline raises the threshold", () => {
    expect(run("postgres", "SELECT a.id FROM a JOIN b ON b.a = a.id JOIN c ON c.b = b.id, d LEFT JOIN e ON e.d = d.id WHERE a.id = 1")).toEqual([])
    expect(runRules(statementRules, { dialect: "mysql", sql: six }, { thresholds: { stmt_too_many_joins: { max_tables: 6 } } })).toEqual([])
  })
})

describe("stmt_sql_calc_found_rows", () => {
  it("reports SQL_CALC_FOUND_ROWS on MySQL", () => {
    expect(run("mysql", "SELECT SQL_CALC_FOUND_ROWS id FROM orders WHERE status = ? ORDER BY id LIMIT 20")).toEqual([
      {
        rule: "stmt_sql_calc_found_rows",
        severity: "warn",
        message:
          "SELECT SQL_CALC_FOUND_ROWS … LIMIT 20: every matching row is found to count them, not only the ones returned",
        evidence: "SELECT SQL_CALC_FOUND_ROWS … LIMIT 20",
        reduction: 0.3
      }
    ])
  })
  it("says nothing on FOUND_ROWS() itself or on PostgreSQL", () => {
    expect(run("mysql", "SELECT FOUND_ROWS()")).toEqual([])
    expect(run("postgres", "SELECT sql_calc_found_rows FROM t WHERE id = $1")).toEqual([])
  })
})

describe("statements as the sources collect them", () => {
  const evidence = (dialect: RuleDialect, sql: string) => run(dialect, sql).map((f) => `${f.rule}: ${f.evidence}`)
  it("judge the fingerprint of a slow-log statement (`?`, `in(?+)`), saying nothing of what the fingerprint hid", () => {
    const fingerprint = fingerprintMysqlText(
      "SELECT SQL_CALC_FOUND_ROWS o.* FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.country = 'FR'" +
        " AND DATE(o.created_at) = '2024-01-01' AND o.id IN (1,2,3,4,5,6,7,8,9,10,11) AND o.note LIKE '%x' ORDER BY RAND() LIMIT 50000, 20"
    )
    expect(fingerprint).toBe(
      "select sql_calc_found_rows o.* from orders o left join customers c on c.id = o.customer_id where c.country = ?" +
        " and date(o.created_at) = ? and o.id in(?+) and o.note like ? order by rand() limit ?"
    )
    expect(evidence("mysql", fingerprint)).toEqual([
      "stmt_select_star: SELECT o.* FROM orders",
      "stmt_function_on_column: WHERE date(o.created_at) = ?",
      "stmt_order_by_rand: ORDER BY rand() LIMIT ?",
      "stmt_outer_join_in_where: left join customers c … WHERE c.country = ?",
      "stmt_sql_calc_found_rows: SELECT sql_calc_found_rows … LIMIT ?"
    ])
  })
  it("judge pg_stat_statements' normalized text ($n), counting $n list items", () => {
    const normalized = normalizeSync(
      "SELECT o.* FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.country = 'FR'" +
        " AND lower(o.email) = 'a' AND o.id IN (1,2,3,4,5,6,7,8,9,10,11) ORDER BY random() LIMIT 20 OFFSET 50000"
    )
    expect(normalized).toBe(
      "SELECT o.* FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.country = $1" +
        " AND lower(o.email) = $2 AND o.id IN ($3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ORDER BY random() LIMIT $15 OFFSET $14"
    )
    expect(evidence("postgres", normalized)).toEqual([
      "stmt_select_star: SELECT o.* FROM orders",
      "stmt_function_on_column: WHERE lower(o.email) = $2",
      "stmt_order_by_rand: ORDER BY random() LIMIT $15",
      "stmt_long_in_list: o.id IN ($3, … 11 items)",
      "stmt_outer_join_in_where: LEFT JOIN customers c … WHERE c.country = $1"
    ])
  })
})

describe("a cut-off text", () => {
  it("is not blamed for what may have been cut: no WHERE, no ORDER BY", () => {
    // As a slow log or pg_stat_statements keeps it: the text stops inside a string or an open parenthesis.
    const cut = (sql: string) => runRules(statementRules, { dialect: "mysql", sql }).map((f) => f.rule)
    expect(cut("UPDATE orders SET note = 'a very long note that goes on")).toEqual([])
    expect(cut("SELECT id FROM orders o JOIN items i ON (i.order_id = o.id")).toEqual([])
    expect(cut("SELECT id FROM orders LIMIT 10 /* cut")).toEqual([])
    // What is there is still judged.
    expect(cut("SELECT * FROM orders WHERE date(created_at) = ? AND id IN (1, 2")).toEqual([
      "stmt_select_star",
      "stmt_function_on_column"
    ])
  })
})

describe("statement rules on any text", () => {
  it("never throw, whatever the text", () => {
    const sqlish = fc.array(
      fc.constantFrom(
        "SELECT", "*", "FROM", "t", "a.b", "WHERE", "(", ")", ",", "AND", "OR", "NOT", "IN", "LIKE", "'%x'", "?", "$1",
        "LIMIT", "OFFSET", "10", "ORDER", "BY", "RAND()", "LEFT", "JOIN", "ON", "=", "+", "::", "UPDATE", "SET",
        "DELETE", "WITH", "AS", "UNION", "BETWEEN", "IS", "NULL", "date(", ";", "--", "/*", "\"", "`"
      ),
      { maxLength: 40 }
    )
    fc.assert(
      fc.property(fc.oneof(sqlish.map((parts) => parts.join(" ")), fc.string()), fc.constantFrom<RuleDialect>("mysql", "postgres"), (sql, dialect) => {
        expect(Array.isArray(runRules(statementRules, { dialect, sql }))).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("the MySQL test statements", () => {
  // PREPARE parses without running anything; the tables do not exist, so a valid statement fails name resolution
  // (1146 no such table) while an invalid one fails parsing (1064, ER_PARSE_ERROR) first.
  it("are valid SQL for MariaDB", async () => {
    expect(mysqlStatements.size).toBeGreaterThan(40)
    const conn = await mysql.createConnection({ host: "127.0.0.1", port: 3306, user: "root", database: "test" })
    const parseErrors: Array<string> = []
    try {
      for (const sql of mysqlStatements) {
        try {
          await conn.query("PREPARE stmt_rules_check FROM ?", [sql])
          await conn.query("DEALLOCATE PREPARE stmt_rules_check")
        } catch (error) {
          const errno = (error as { errno?: unknown }).errno
          // Only a parse error counts: a table of that name someone else made may bring other errors (1054, 1052).
          if (errno === 1064) parseErrors.push(`${sql}: ${String(error)}`)
        }
      }
    } finally {
      await conn.end()
    }
    expect(parseErrors).toEqual([])
  })
})
