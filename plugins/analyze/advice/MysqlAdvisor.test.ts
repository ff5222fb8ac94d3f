import type { Connection } from "@effect/sql/SqlConnection"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mariadbDatabase } from "../../../test/support/explain/Harness.js"
import { adviseMysql } from "./MysqlAdvisor.js"

// Real MariaDB 10.11: the same 200k-row shape as the PostgreSQL test, in a scratch database the test creates (by the
// CLI) and drops. The advisor itself only reads information_schema: its connection's DDL counters stay at zero.

const setup = `
CREATE TABLE orders (
  id int PRIMARY KEY, cust int NOT NULL, a int NOT NULL, d int NOT NULL, b int NOT NULL, c int NOT NULL,
  status varchar(10) NOT NULL, created date NOT NULL, note char(32) NOT NULL,
  KEY orders_b_c (b, c)
);
INSERT INTO orders
  SELECT seq, seq % 1000, seq % 100, (seq DIV 100) % 100, (seq DIV 3) % 50, seq % 7, 'open', '2024-01-01' + INTERVAL seq % 365 DAY, md5(seq)
  FROM seq_1_to_200000;
ANALYZE TABLE orders;`

const ddlCounters = (connection: Connection) =>
  connection.execute(
    "SHOW SESSION STATUS WHERE Variable_name IN ('Com_alter_table', 'Com_create_index', 'Com_drop_index', 'Com_create_table', 'Com_drop_table')",
    [],
    undefined
  )

describe("index advice on MariaDB", () => {
  it.live("candidates for the same shapes, all verified: false, and no DDL on the watched database", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const db = yield* mariadbDatabase(setup)
        const connection = yield* db.sql.reserve
        const before = yield* connection.execute(
          "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
          [db.name],
          undefined
        )
        const advise = (sql: string) =>
          adviseMysql(connection, { id: sql.slice(0, 12), sql }, db.name).pipe(
            Effect.map((suggestions) =>
              suggestions.map((s) => [s.ddl, s.verified, s.statements.map((x) => [x.sql, x.verified, x.cost_before, x.cost_after])])
            )
          )

        const missing = "SELECT * FROM orders WHERE cust = 42"
        expect(yield* advise(missing)).toEqual([
          [`ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`cust\`);`, false, [[missing, false, null, null]]]
        ])
        const pair = `SELECT o.* FROM ${db.name}.orders AS o WHERE o.a = 4 AND o.d = 5 ORDER BY o.created`
        expect((yield* advise(pair)).map(([ddl]) => ddl)).toEqual([
          `ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`a\`);`,
          `ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`d\`);`,
          `ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`created\`);`,
          `ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`a\`, \`d\`);`
        ])
        // The primary key, and what leads the existing (b, c), are never suggested.
        expect(yield* advise("SELECT * FROM orders WHERE id = 7")).toEqual([])
        expect(yield* advise("SELECT * FROM orders WHERE c = 1 AND b = 2")).toEqual([
          [`ALTER TABLE \`${db.name}\`.\`orders\` ADD INDEX (\`c\`);`, false, [["SELECT * FROM orders WHERE c = 1 AND b = 2", false, null, null]]]
        ])
        expect(yield* advise("SELECT * FROM orders WHERE B = 2")).toEqual([])
        // A table the catalog does not have, and an unqualified name without a default database: nothing.
        expect(yield* adviseMysql(connection, { id: "x", sql: "SELECT * FROM nowhere WHERE x = 1" }, db.name)).toEqual([])
        expect(yield* adviseMysql(connection, { id: "x", sql: missing }, null)).toEqual([])

        expect(yield* ddlCounters(connection)).toEqual([
          { Variable_name: "Com_alter_table", Value: "0" },
          { Variable_name: "Com_create_index", Value: "0" },
          { Variable_name: "Com_create_table", Value: "0" },
          { Variable_name: "Com_drop_index", Value: "0" },
          { Variable_name: "Com_drop_table", Value: "0" }
        ])
        expect(
          yield* connection.execute(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            [db.name],
            undefined
          )
        ).toEqual(before)
        expect(before).toEqual([
          { INDEX_NAME: "orders_b_c", COLUMN_NAME: "b" },
          { INDEX_NAME: "orders_b_c", COLUMN_NAME: "c" },
          { INDEX_NAME: "PRIMARY", COLUMN_NAME: "id" }
        ])
      })
    )
  )
})
