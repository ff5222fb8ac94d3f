import { beforeAll, describe, expect, it } from "@effect/vitest"
import { loadPostgresParser } from "../../../src/fingerprint/PostgresFingerprint.js"
import { candidateDdl, hypotheticalDdl, indexCandidates, type TableCatalog } from "./IndexCandidates.js"
import { mysqlShape } from "./MysqlShape.js"
import { postgresShape } from "./PostgresShape.js"
import { mergeSuggestions, suggestionOf, unverifiedSuggestion } from "./Suggestion.js"

// The catalog readers are tested on the real servers (HypoPgVerifier.test.ts, MysqlAdvisor.test.ts); here the
// combination of a statement's shape with a given catalog, to the exact candidate.

const catalog = (
  name: string,
  columns: ReadonlyArray<string>,
  indexes: ReadonlyArray<ReadonlyArray<string | null>> = [],
  schema = "public"
): TableCatalog => ({ database: "test", schema, name, columns: new Map(columns.map((c) => [c, c])), indexes })

beforeAll(async () => {
  expect(await loadPostgresParser()).toBe(true)
})

describe("postgresShape", () => {
  it("takes equality, range and ordering columns of each scope, and nothing from a disjunction or a function", () => {
    expect(postgresShape("SELECT * FROM o WHERE cust = $1 AND created > $2 ORDER BY total DESC")).toEqual({
      tables: [{ schema: null, name: "o" }],
      uses: [
        { kind: "eq", column: "cust", tables: [0] },
        { kind: "range", column: "created", tables: [0] },
        { kind: "order", column: "total", tables: [0] }
      ]
    })
    expect(
      postgresShape(
        "SELECT o.id FROM shop.orders o JOIN customers c ON c.id = o.cust WHERE c.country = 'DE' AND o.status IN ('a', 'b') GROUP BY o.day"
      )
    ).toEqual({
      tables: [
        { schema: "shop", name: "orders" },
        { schema: null, name: "customers" }
      ],
      uses: [
        { kind: "eq", column: "id", tables: [1] },
        { kind: "eq", column: "cust", tables: [0] },
        { kind: "eq", column: "country", tables: [1] },
        { kind: "eq", column: "status", tables: [0] },
        { kind: "order", column: "day", tables: [0] }
      ]
    })
    expect(postgresShape("SELECT * FROM t WHERE a = 1 OR b = 2")).toEqual({ tables: [{ schema: null, name: "t" }], uses: [] })
    expect(postgresShape("SELECT * FROM t WHERE lower(a) = 'x' AND b BETWEEN 1 AND 5 AND c IS NULL AND d LIKE 'x%'")).toEqual({
      tables: [{ schema: null, name: "t" }],
      uses: [
        { kind: "range", column: "b", tables: [0] },
        { kind: "eq", column: "c", tables: [0] }
      ]
    })
    // A CTE is no table; a correlated subquery's qualifier reaches the outer scope.
    expect(postgresShape("WITH x AS (SELECT * FROM t WHERE a = 1) SELECT * FROM x WHERE b = 2")).toEqual({
      tables: [{ schema: null, name: "t" }],
      uses: [
        { kind: "eq", column: "a", tables: [0] },
        { kind: "eq", column: "b", tables: [] }
      ]
    })
    expect(postgresShape("DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.y = t.b)")).toEqual({
      tables: [
        { schema: null, name: "t" },
        { schema: null, name: "u" }
      ],
      uses: [
        { kind: "eq", column: "y", tables: [1] },
        { kind: "eq", column: "b", tables: [0] }
      ]
    })
    expect(postgresShape("SELECT FROM WHERE")).toBeUndefined()
  })
})

describe("mysqlShape", () => {
  it("walks the tokens of the outer statement the same way", () => {
    expect(
      mysqlShape(
        "SELECT o.id FROM `shop`.`orders` AS o JOIN customers c ON c.id = o.cust WHERE c.country = 'DE' AND o.status IN ('a','b') GROUP BY o.day"
      )
    ).toEqual({
      tables: [
        { schema: "shop", name: "orders" },
        { schema: null, name: "customers" }
      ],
      uses: [
        { kind: "eq", column: "id", tables: [1] },
        { kind: "eq", column: "cust", tables: [0] },
        { kind: "eq", column: "country", tables: [1] },
        { kind: "eq", column: "status", tables: [0] },
        { kind: "order", column: "day", tables: [0] }
      ]
    })
    expect(
      mysqlShape(
        "SELECT * FROM t FORCE INDEX (x) WHERE a >= 1 AND b BETWEEN 1 AND 5 AND c IS NULL AND d LIKE 'ab%' AND e LIKE '%ab' AND (f = 1 AND g = -2) AND UPPER(h) = 'X'"
      )
    ).toEqual({
      tables: [{ schema: null, name: "t" }],
      uses: [
        { kind: "range", column: "a", tables: [0] },
        { kind: "range", column: "b", tables: [0] },
        { kind: "eq", column: "c", tables: [0] },
        { kind: "range", column: "d", tables: [0] },
        { kind: "eq", column: "f", tables: [0] },
        { kind: "eq", column: "g", tables: [0] }
      ]
    })
    expect(mysqlShape("SELECT * FROM t WHERE a = 1 OR b = 2")?.uses).toEqual([])
    expect(mysqlShape("DELETE FROM t WHERE a = 1 ORDER BY b LIMIT 5")?.uses).toEqual([
      { kind: "eq", column: "a", tables: [0] },
      { kind: "order", column: "b", tables: [0] }
    ])
    expect(mysqlShape("SELECT a FROM t1 JOIN t2 USING (k) WHERE t1.z = 3 UNION ALL SELECT b FROM t3 WHERE q < 5")).toEqual({
      tables: [
        { schema: null, name: "t1" },
        { schema: null, name: "t2" },
        { schema: null, name: "t3" }
      ],
      uses: [
        { kind: "eq", column: "k", tables: [0] },
        { kind: "eq", column: "k", tables: [1] },
        { kind: "eq", column: "z", tables: [0] },
        { kind: "range", column: "q", tables: [2] }
      ]
    })
    expect(mysqlShape("SELECT * FROM t WHERE a = 'unterminated")).toBeUndefined()
  })
})

describe("indexCandidates", () => {
  it("orders a pair three-star: equalities, then one range column, then ORDER BY; every column alone too", () => {
    const shape = postgresShape("SELECT * FROM o WHERE created > $1 AND total < $2 AND cust = $3 ORDER BY day")!
    const candidates = indexCandidates("postgres", shape, [catalog("o", ["id", "cust", "created", "total", "day"])])
    expect(candidates.map((c) => c.columns)).toEqual([["cust"], ["created"], ["day"], ["total"], ["cust", "created"]])
    expect(candidates.map(candidateDdl)).toEqual([
      "CREATE INDEX CONCURRENTLY ON public.o (cust);",
      "CREATE INDEX CONCURRENTLY ON public.o (created);",
      "CREATE INDEX CONCURRENTLY ON public.o (day);",
      "CREATE INDEX CONCURRENTLY ON public.o (total);",
      "CREATE INDEX CONCURRENTLY ON public.o (cust, created);"
    ])
    expect(hypotheticalDdl(candidates[4]!)).toBe("CREATE INDEX ON public.o (cust, created)")
  })

  it("drops what leads an existing index: (a) and (a, b) under an index on (a, b, c), never (b)", () => {
    const shape = postgresShape("SELECT * FROM t WHERE a = $1 AND b = $2")!
    expect(indexCandidates("postgres", shape, [catalog("t", ["a", "b", "c"], [["a", "b", "c"]])]).map((c) => c.columns)).toEqual([
      ["b"]
    ])
    // Two equalities: an index on (b, a) serves them as well.
    expect(indexCandidates("postgres", shape, [catalog("t", ["a", "b"], [["b", "a"]])]).map((c) => c.columns)).toEqual([["a"]])
    // An expression key leads nothing a column could.
    expect(indexCandidates("postgres", shape, [catalog("t", ["a", "b"], [[null, "a"]])]).map((c) => c.columns)).toEqual([
      ["a"],
      ["b"],
      ["a", "b"]
    ])
    // A primary key lookup: nothing.
    expect(indexCandidates("postgres", postgresShape("SELECT * FROM t WHERE id = $1")!, [catalog("t", ["id"], [["id"]])])).toEqual([])
  })

  it("puts an unqualified column on the one table that has it, and skips what two tables have or none knows", () => {
    const shape = postgresShape("SELECT * FROM a JOIN b ON a.k = b.k WHERE x = 1 AND shared = 2 AND nowhere = 3")!
    const candidates = indexCandidates("postgres", shape, [
      catalog("a", ["k", "x", "shared"]),
      catalog("b", ["k", "shared"], [["k"]])
    ])
    expect(candidates.map((c) => `${c.table}(${c.columns.join(",")})`)).toEqual(["a(k)", "a(x)", "a(k,x)"])
    // A table the catalog does not know (a view, another database) gets nothing; the other one still does.
    expect(
      indexCandidates("postgres", shape, [undefined, catalog("b", ["k"])]).map((c) => `${c.table}(${c.columns.join(",")})`)
    ).toEqual(["b(k)"])
  })

  it("quotes names that need it, per dialect", () => {
    const pg = indexCandidates("postgres", postgresShape('SELECT * FROM "My Table" WHERE "order" = 1 AND "Col" = 2')!, [
      catalog("My Table", ["order", "Col"], [], "sales")
    ])
    expect(pg.map(candidateDdl)).toEqual([
      'CREATE INDEX CONCURRENTLY ON sales."My Table" ("order");',
      'CREATE INDEX CONCURRENTLY ON sales."My Table" ("Col");',
      'CREATE INDEX CONCURRENTLY ON sales."My Table" ("order", "Col");'
    ])
    const my = indexCandidates("mysql", mysqlShape("SELECT * FROM orders WHERE CUST = 1")!, [
      { database: "shop", schema: "shop", name: "orders", columns: new Map([["cust", "Cust"]]), indexes: [] }
    ])
    expect(my.map(candidateDdl)).toEqual(["ALTER TABLE `shop`.`orders` ADD INDEX (`Cust`);"])
  })
})

describe("mergeSuggestions", () => {
  it("keeps one suggestion per index with every statement it serves, verified when any of them verified it", () => {
    const [cust] = indexCandidates("postgres", postgresShape("SELECT * FROM o WHERE cust = $1")!, [catalog("o", ["cust"])])
    const [day] = indexCandidates("postgres", postgresShape("SELECT * FROM o WHERE day = $1")!, [catalog("o", ["day"])])
    const q1 = { id: "q1", sql: "SELECT * FROM o WHERE cust = $1" }
    const q2 = { id: "q2", sql: "SELECT * FROM o WHERE cust = $1 AND x = $2" }
    const verified = {
      id: "q2",
      sql: q2.sql,
      verified: true,
      cost_before: 5167,
      cost_after: 150.16,
      plan_before: null,
      plan_after: null
    }
    const merged = mergeSuggestions([
      unverifiedSuggestion(cust!, q1),
      unverifiedSuggestion(day!, q1),
      unverifiedSuggestion(cust!, q2),
      suggestionOf(cust!, verified),
      unverifiedSuggestion(cust!, q1)
    ])
    expect(merged.map((s) => [s.ddl, s.verified, s.statements.map((x) => [x.id, x.verified])])).toEqual([
      ["CREATE INDEX CONCURRENTLY ON public.o (cust);", true, [["q1", false], ["q2", true]]],
      ["CREATE INDEX CONCURRENTLY ON public.o (day);", false, [["q1", false]]]
    ])
    expect(merged[0]!.statements[1]).toEqual(verified)
  })
})
