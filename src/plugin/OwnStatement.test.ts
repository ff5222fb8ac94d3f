import { describe, expect, it } from "@effect/vitest"
import { isOwnStatement, SLOWQ_MARKER } from "./OwnStatement.js"

describe("isOwnStatement", () => {
  it("keeps the marker of earlier versions", () => {
    expect(SLOWQ_MARKER).toBe("/* slowq */")
  })

  it("recognises the marker first, after optional whitespace, as the servers record slowq's statements", () => {
    const own = [
      "/* slowq */ SELECT 1",
      "/* slowq */",
      "/* slowq */SELECT 1",
      "   /* slowq */ SELECT 1",
      "\n  /* slowq */ SELECT 1",
      "\r\n\t\f\v/* slowq */ SELECT 1",
      // The explain stage on MariaDB (MysqlExplainer) and on PostgreSQL (PostgresExplainer): marker, then the prefix.
      "/* slowq */ EXPLAIN FORMAT=JSON SELECT * FROM t WHERE id = 5",
      "/* slowq */ PREPARE slowq_1 AS\nSELECT * FROM t WHERE id = $1",
      "/* slowq */ EXPLAIN (FORMAT JSON) EXECUTE slowq_1(NULL)",
      "/* slowq */ KILL QUERY 42"
    ]
    expect(own.map(isOwnStatement)).toEqual(own.map(() => true))
  })

  it("leaves near misses and the marker anywhere else to the application", () => {
    const application = [
      "",
      "   ",
      "SELECT 1",
      "/* slowqx */ SELECT 1",
      "/* slowq*/ SELECT 1",
      "/*slowq*/ SELECT 1",
      "/* SLOWQ */ SELECT 1",
      "/* not slowq */ SELECT 1",
      "/* slowq",
      "-- /* slowq */\nSELECT 1",
      "SELECT 1 /* slowq */",
      "SELECT '/* slowq */' AS tag FROM t",
      "INSERT INTO notes (body) VALUES ('/* slowq */ SELECT 1')",
      "EXPLAIN /* slowq */ SELECT 1",
      "\u00a0/* slowq */ SELECT 1"
    ]
    expect(application.map(isOwnStatement)).toEqual(application.map(() => false))
  })
})
