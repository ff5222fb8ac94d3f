import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { newMarker } from "../../../test/support/Marker.js"
import { runCommand } from "../../../test/support/Process.js"
import type { Finding } from "../../../src/plugin/Finding.js"
import { planFormat, qualifiers, readMysqlPlan } from "./MysqlPlan.js"
import {
  dependentSubquery,
  filesort,
  fullScan,
  joinBuffer,
  mysqlPlanRules,
  noCandidateIndex,
  temporaryTable
} from "./MysqlPlanRules.js"
import type { PlanInput } from "./Rule.js"
import { runRules } from "./RunRules.js"

/**
 * The MariaDB plans are produced here, by EXPLAIN FORMAT=JSON on the local MariaDB 10.11, over scratch tables built
 * deterministically from the Sequence engine. The tables are MyISAM so that `rows` is the exact row count (InnoDB's
 * is a sampled estimate that moves with every ANALYZE), and the messages can be asserted to the row. Queries alias
 * every table: MariaDB's plan names a table by its alias, so the messages do not carry the random table names.
 *
 * There is no MySQL server on this machine: the MySQL v1 and v2 plans below are hand-written fixtures in the shapes
 * the MySQL manual documents, NOT produced here; their test names say so.
 */

interface Scratch {
  /** orders: 20,000 rows; customers: 1,000 rows. */
  readonly o: string
  readonly c: string
}
class ScratchTables extends Context.Tag("test/MysqlPlanScratch")<ScratchTables, Scratch>() {}

const mariadb = (sql: string) => runCommand("mariadb", ["-N", "-r", "-B", "-h", "127.0.0.1", "-uroot", "test"], sql)

const makeScratch = Effect.gen(function* () {
  const m = newMarker("myplan")
  const o = `${m}_o`
  const c = `${m}_c`
  yield* Effect.addFinalizer(() => mariadb(`DROP TABLE IF EXISTS ${o}, ${c}`).pipe(Effect.orDie))
  yield* mariadb(
    `CREATE TABLE ${o} (id INT PRIMARY KEY, cust INT NOT NULL, status INT NOT NULL, total INT NOT NULL, note VARCHAR(20), KEY k_status (status)) ENGINE=MyISAM;
     CREATE TABLE ${c} (id INT PRIMARY KEY, region INT NOT NULL, name VARCHAR(20)) ENGINE=MyISAM;
     INSERT INTO ${o} SELECT seq, seq % 1000, seq % 7, seq % 500, CONCAT('n', seq) FROM seq_1_to_20000;
     INSERT INTO ${c} SELECT seq, seq % 10, CONCAT('c', seq) FROM seq_1_to_1000;
     ANALYZE TABLE ${o}, ${c};`
  )
  return { o, c }
})

const ScratchLayer = Layer.scoped(ScratchTables, makeScratch).pipe(Layer.orDie)

/** The plan of `text` (`{O}`/`{C}` stand for the scratch tables), optionally under `SET STATEMENT settings FOR`. */
const explain = (text: string, settings?: string) =>
  Effect.gen(function* () {
    const { o, c } = yield* ScratchTables
    const statement = text.replaceAll("{O}", o).replaceAll("{C}", c)
    const prefix = settings === undefined ? "" : `SET STATEMENT ${settings} FOR `
    const out = yield* mariadb(`${prefix}EXPLAIN FORMAT=JSON ${statement}`)
    return { dialect: "mysql", plan: JSON.parse(out) as unknown, now: 0 } satisfies PlanInput
  }).pipe(Effect.orDie)

/** The select_type column of tabular EXPLAIN, per row: the server's own word on what is dependent. */
const selectTypes = (text: string, settings?: string) =>
  Effect.gen(function* () {
    const { o, c } = yield* ScratchTables
    const statement = text.replaceAll("{O}", o).replaceAll("{C}", c)
    const prefix = settings === undefined ? "" : `SET STATEMENT ${settings} FOR `
    const out = yield* mariadb(`${prefix}EXPLAIN ${statement}`)
    return out
      .trim()
      .split("\n")
      .map((line) => line.split("\t")[1])
  }).pipe(Effect.orDie)

/** A finding as a check returns it; `reduction` as runRules leaves it (computed, else the rule's declared one). */
const f = (
  rule: string,
  severity: Finding["severity"],
  message: string,
  evidence: string,
  advice: string,
  reduction?: number
): Finding => ({
  rule,
  severity,
  message,
  evidence,
  advice,
  source: "rule",
  ...(reduction === undefined ? {} : { reduction })
})

const FULL_SCAN_ADVICE = (t: string) =>
  `Index the columns ${t} is filtered or joined on, or make the condition usable by an existing index, so only the matching rows are read.`
const NO_CANDIDATE_ADVICE = (t: string) =>
  `Create an index on the columns of ${t} that its WHERE or join condition compares (equality columns first); none of its indexes starts with them.`
const FILESORT_ADVICE =
  "Add an index whose columns are the equality-filtered columns followed by the ORDER BY columns, so rows are read already sorted."
const TEMPORARY_ADVICE =
  "Index the GROUP BY / DISTINCT columns (after the equality-filtered ones) so groups are read in index order, or group on the columns of one table."
const JOIN_ADVICE = (t: string) =>
  `Index the columns of ${t} used in the join condition so each row before it finds its matches by an index lookup (ref/eq_ref).`
const DEPENDENT_ADVICE =
  "Rewrite the subquery as a join or a derived table grouped once, or index the columns it correlates on so each execution is a lookup."

layer(ScratchLayer, { timeout: 60_000 })("MySQL/MariaDB plan rules on real MariaDB 10.11 plans", (it) => {
  it.effect("mysql_full_scan and mysql_no_candidate_index: an unindexed filter on 20,000 rows", () =>
    Effect.gen(function* () {
      const input = yield* explain("SELECT * FROM {O} o WHERE o.total = 5")
      expect(planFormat(input.plan)).toBe("mariadb")
      expect(runRules(mysqlPlanRules, input)).toEqual([
        f(
          "mysql_full_scan",
          "warn",
          "full scan of o: 20,000 rows read per scan (access type ALL)",
          "query_block.nested_loop[0].table[o]",
          FULL_SCAN_ADVICE("o"),
          0.5
        ),
        f(
          "mysql_no_candidate_index",
          "warn",
          "no candidate index for the condition on o: possible_keys empty, 20,000 rows read per scan (access type ALL)",
          "query_block.nested_loop[0].table[o]",
          NO_CANDIDATE_ADVICE("o"),
          0.5
        )
      ])
      // A threshold above the table's size, and a disabled rule, silence them.
      expect(fullScan.check(input, { min_rows: 20_001 })).toEqual([])
      expect(
        runRules(mysqlPlanRules, input, {
          disabled: new Set(["mysql_no_candidate_index"]),
          thresholds: { mysql_full_scan: { min_rows: 20_001 } }
        })
      ).toEqual([])
    })
  )

  it.effect("near misses: a full scan of 1,000 rows; a full scan that had a candidate index (possible_keys)", () =>
    Effect.gen(function* () {
      const small = yield* explain("SELECT * FROM {C} c WHERE c.region = 3")
      expect(fullScan.check(small, fullScan.thresholds)).toEqual([])
      // The optimizer preferred ALL over k_status for two of seven statuses, but an index exists for the condition.
      const candidate = yield* explain("SELECT * FROM {O} o WHERE o.status IN (1, 2)")
      expect(readMysqlPlan(candidate.plan)?.tables.map((t) => [t.table, t.accessType, t.possibleKeys])).toEqual([
        ["o", "ALL", ["k_status"]]
      ])
      expect(noCandidateIndex.check(candidate, noCandidateIndex.thresholds)).toEqual([])
      expect(fullScan.check(candidate, fullScan.thresholds).map((x) => x.message)).toEqual([
        "full scan of o: 20,000 rows read per scan (access type ALL)"
      ])
      // MariaDB estimated the share kept from k_status (filtered 22.235…%): the rest is what an index would not read.
      expect(fullScan.check(candidate, fullScan.thresholds).map((x) => x.reduction)).toEqual([1 - 22.23500061 / 100])
      // A full index scan without a condition (GROUP BY read in index order) has nothing an index could serve.
      const grouped = yield* explain("SELECT o.status, COUNT(*) FROM {O} o GROUP BY o.status")
      expect(readMysqlPlan(grouped.plan)?.tables.map((t) => [t.accessType, t.key, t.hasCondition])).toEqual([
        ["index", "k_status", false]
      ])
      expect(runRules(mysqlPlanRules, grouped)).toEqual([])
    })
  )

  it.effect("mysql_filesort: ORDER BY a column without an index, over 20,000 rows; near miss: ORDER BY the index", () =>
    Effect.gen(function* () {
      const input = yield* explain("SELECT * FROM {O} o WHERE o.total = 5 ORDER BY o.note")
      expect(filesort.check(input, filesort.thresholds)).toEqual([
        f(
          "mysql_filesort",
          "info",
          "filesort of about 20,000 rows from o",
          "query_block.nested_loop[0].read_sorted_file.filesort over o",
          FILESORT_ADVICE
        )
      ])
      expect(filesort.check(input, { min_rows: 20_001 })).toEqual([])
      const ordered = yield* explain("SELECT o.status FROM {O} o ORDER BY o.status LIMIT 10")
      expect(readMysqlPlan(ordered.plan)?.sorts).toEqual([])
      expect(runRules(mysqlPlanRules, ordered)).toEqual([])
    })
  )

  it.effect("mysql_temporary_table: GROUP BY an unindexed column; near miss: GROUP BY an indexed one", () =>
    Effect.gen(function* () {
      const input = yield* explain("SELECT o.total, COUNT(*) FROM {O} o GROUP BY o.total")
      expect(temporaryTable.check(input, temporaryTable.thresholds)).toEqual([
        f(
          "mysql_temporary_table",
          "info",
          "temporary table fed with about 20,000 rows from o",
          "query_block.filesort.temporary_table over o",
          TEMPORARY_ADVICE
        )
      ])
      // MariaDB sorts the groups too (the implicit ORDER BY of GROUP BY): a filesort wrapper above the temporary table.
      expect(filesort.check(input, filesort.thresholds).map((x) => x.evidence)).toEqual(["query_block.filesort over o"])
      const indexed = yield* explain("SELECT o.status, COUNT(*) FROM {O} o GROUP BY o.status")
      expect(temporaryTable.check(indexed, temporaryTable.thresholds)).toEqual([])
    })
  )

  it.effect("window functions: the window's filesort is over the rows of its temporary table", () =>
    Effect.gen(function* () {
      const input = yield* explain("SELECT o.id, ROW_NUMBER() OVER (PARTITION BY o.total ORDER BY o.note) AS r FROM {O} o")
      expect(filesort.check(input, filesort.thresholds)).toEqual([
        f(
          "mysql_filesort",
          "info",
          "filesort of about 20,000 rows from o",
          "query_block.window_functions_computation.sorts[0].filesort over o",
          FILESORT_ADVICE
        )
      ])
    })
  )

  it.effect("a semi-join's duplicates_removal continues the join: its second table is not first", () =>
    Effect.gen(function* () {
      const input = yield* explain(
        "SELECT * FROM {C} c WHERE c.id IN (SELECT o.total FROM {O} o WHERE o.note LIKE 'x%')",
        "optimizer_switch = 'materialization=off,firstmatch=off,loosescan=off'"
      )
      expect(readMysqlPlan(input.plan)?.tables.map((t) => [t.path, t.table, t.accessType, t.joinPosition])).toEqual([
        ["query_block.nested_loop[0].duplicates_removal[0].table", "o", "ALL", 0],
        ["query_block.nested_loop[0].duplicates_removal[1].table", "c", "eq_ref", 1]
      ])
      expect(joinBuffer.check(input, joinBuffer.thresholds)).toEqual([])
    })
  )

  it.effect("mysql_join_buffer: block nested loop, hash join (BNLH) and no ref; near miss: eq_ref on the primary key", () =>
    Effect.gen(function* () {
      const bnl = yield* explain("SELECT * FROM {O} o JOIN {C} c ON c.region = o.total WHERE o.total = 3")
      expect(joinBuffer.check(bnl, joinBuffer.thresholds)).toEqual([
        f(
          "mysql_join_buffer",
          "warn",
          "o is joined through a join buffer (BNL) without an index: 20,000 rows read per scan (access type ALL)",
          "query_block.nested_loop[1].block-nl-join.table[o]",
          JOIN_ADVICE("o")
        )
      ])
      const bnlh = yield* explain("SELECT * FROM {O} o JOIN {C} c ON c.region = o.total", "join_cache_level = 4")
      expect(joinBuffer.check(bnlh, joinBuffer.thresholds)).toEqual([
        f(
          "mysql_join_buffer",
          "warn",
          "o is joined through a join buffer (BNLH) without an index: 20,000 rows read per scan (access type hash_ALL)",
          "query_block.nested_loop[1].block-nl-join.table[o]",
          JOIN_ADVICE("o")
        )
      ])
      // hash_ALL reads the whole table too, and its `#hash#` key is no candidate index.
      expect(fullScan.check(bnlh, fullScan.thresholds).map((x) => x.evidence)).toEqual([
        "query_block.nested_loop[1].block-nl-join.table[o]"
      ])
      expect(noCandidateIndex.check(bnlh, noCandidateIndex.thresholds).map((x) => x.evidence)).toEqual([
        "query_block.nested_loop[1].block-nl-join.table[o]"
      ])
      const noRef = yield* explain("SELECT * FROM {O} o JOIN {C} c ON c.region = o.total", "join_cache_level = 0")
      expect(joinBuffer.check(noRef, joinBuffer.thresholds)).toEqual([
        f(
          "mysql_join_buffer",
          "warn",
          "o is joined without an index lookup (no ref): 20,000 rows read for each row before it (access type ALL)",
          "query_block.nested_loop[1].table[o]",
          JOIN_ADVICE("o")
        )
      ])
      const byKey = yield* explain("SELECT * FROM {O} o JOIN {C} c ON c.id = o.cust WHERE o.status = 3")
      expect(readMysqlPlan(byKey.plan)?.tables.map((t) => [t.table, t.accessType, t.joinPosition])).toEqual([
        ["o", "ref", 0],
        ["c", "eq_ref", 1]
      ])
      expect(joinBuffer.check(byKey, joinBuffer.thresholds)).toEqual([])
    })
  )

  it.effect("mysql_dependent_subquery: a correlated scalar subquery in MariaDB's subquery cache", () =>
    Effect.gen(function* () {
      const text = "SELECT c.id, (SELECT COUNT(*) FROM {O} o WHERE o.cust = c.id) AS n FROM {C} c"
      expect(yield* selectTypes(text)).toEqual(["PRIMARY", "DEPENDENT SUBQUERY"])
      const input = yield* explain(text)
      expect(dependentSubquery.check(input, dependentSubquery.thresholds)).toEqual([
        f(
          "mysql_dependent_subquery",
          "warn",
          "dependent subquery select #2 runs once per outer row, reading up to 20,000 rows of o each time",
          "query_block.subqueries[0].expression_cache (select #2 over o)",
          DEPENDENT_ADVICE
        )
      ])
      expect(readMysqlPlan(input.plan)?.dependentSubqueries.map((s) => s.because)).toEqual(["expression_cache"])
      expect(dependentSubquery.check(input, { min_rows: 20_001 })).toEqual([])
    })
  )

  it.effect("mysql_dependent_subquery without the cache: found by the outer table its condition names", () =>
    Effect.gen(function* () {
      const text = "SELECT * FROM {C} c WHERE c.id IN (SELECT o.total FROM {O} o WHERE o.note LIKE 'x%')"
      const settings = "optimizer_switch = 'semijoin=off,materialization=off'"
      expect(yield* selectTypes(text, settings)).toEqual(["PRIMARY", "DEPENDENT SUBQUERY"])
      const input = yield* explain(text, settings)
      const found = dependentSubquery.check(input, dependentSubquery.thresholds)
      // Under SET STATEMENT the subquery is select #3: the statement's own settings take a select number.
      expect(found).toEqual([
        f(
          "mysql_dependent_subquery",
          "warn",
          "dependent subquery select #3 runs once per outer row, reading up to 20,000 rows of o each time",
          "query_block.subqueries[0] (select #3 over o)",
          DEPENDENT_ADVICE
        )
      ])
      expect(readMysqlPlan(input.plan)?.dependentSubqueries.map((s) => s.because)).toEqual(["outer_reference"])
      const scalar = yield* explain("SELECT c.id, (SELECT COUNT(*) FROM {O} o WHERE o.cust = c.id) AS n FROM {C} c", "optimizer_switch = 'subquery_cache=off'")
      expect(readMysqlPlan(scalar.plan)?.dependentSubqueries.map((s) => [s.path, s.because])).toEqual([
        ["query_block.subqueries[0]", "outer_reference"]
      ])
    })
  )

  it.effect("near miss: an uncorrelated subquery, materialized once", () =>
    Effect.gen(function* () {
      const text = "SELECT * FROM {C} c WHERE c.id > (SELECT MAX(o.total) FROM {O} o WHERE o.note LIKE 'x%')"
      expect(yield* selectTypes(text)).toEqual(["PRIMARY", "SUBQUERY"])
      const input = yield* explain(text)
      expect(readMysqlPlan(input.plan)?.tables.map((t) => [t.table, t.depth])).toEqual([
        ["c", 0],
        ["o", 1]
      ])
      expect(dependentSubquery.check(input, dependentSubquery.thresholds)).toEqual([])
      const notExists = yield* explain("SELECT * FROM {C} c WHERE NOT EXISTS (SELECT 1 FROM {O} o WHERE o.total = c.id)")
      expect(dependentSubquery.check(notExists, dependentSubquery.thresholds)).toEqual([])
    })
  )
})

// ------------------------------------------------------------------------------------------------------------------
// MySQL fixtures: hand-written, NOT produced on this machine (no MySQL server here).

/**
 * MySQL v1 (`explain_json_format_version=1`): names from the MySQL 8.4 Reference Manual, 10.8.2 "EXPLAIN Output
 * Format" (Table 10.1 "EXPLAIN Output Columns" and the select_type / Extra tables' JSON names: `rows_examined_per_scan`,
 * `using_join_buffer`, `using_filesort`, `using_temporary_table`, `dependent`), nesting as in the manual's
 * `EXPLAIN FORMAT=JSON` examples (15.8.2 "EXPLAIN Statement").
 */
const v1GroupJoin = {
  query_block: {
    select_id: 1,
    cost_info: { query_cost: "2004123.45" },
    ordering_operation: {
      using_filesort: true,
      grouping_operation: {
        using_temporary_table: true,
        using_filesort: false,
        nested_loop: [
          {
            table: {
              table_name: "c",
              access_type: "ALL",
              rows_examined_per_scan: 1000,
              rows_produced_per_join: 1000,
              filtered: "100.00",
              cost_info: { read_cost: "1.25", eval_cost: "100.00", prefix_cost: "101.25", data_read_per_join: "31K" },
              used_columns: ["id", "region"]
            }
          },
          {
            table: {
              table_name: "o",
              access_type: "ALL",
              rows_examined_per_scan: 20000,
              rows_produced_per_join: 2000000,
              filtered: "10.00",
              using_join_buffer: "hash join",
              cost_info: { read_cost: "4.00", eval_cost: "200000.00", prefix_cost: "2004123.45", data_read_per_join: "61M" },
              used_columns: ["id", "total"],
              attached_condition: "(`shop`.`o`.`total` = `shop`.`c`.`region`)"
            }
          }
        ]
      }
    }
  }
}

const v1DependentSubquery = {
  query_block: {
    select_id: 1,
    cost_info: { query_cost: "101.25" },
    nested_loop: [
      {
        table: {
          table_name: "c",
          access_type: "ALL",
          rows_examined_per_scan: 1000,
          rows_produced_per_join: 1000,
          filtered: "100.00",
          cost_info: { read_cost: "1.25", eval_cost: "100.00", prefix_cost: "101.25", data_read_per_join: "31K" },
          attached_condition: "(`shop`.`c`.`id` > (/* select#2 */ select max(`shop`.`o`.`total`) from `shop`.`o` where (`shop`.`o`.`cust` = `shop`.`c`.`id`)))",
          attached_subqueries: [
            {
              dependent: true,
              cacheable: false,
              query_block: {
                select_id: 2,
                cost_info: { query_cost: "2010.00" },
                table: {
                  table_name: "o",
                  access_type: "ALL",
                  rows_examined_per_scan: 20000,
                  rows_produced_per_join: 2000,
                  filtered: "10.00",
                  cost_info: { read_cost: "10.00", eval_cost: "200.00", prefix_cost: "2010.00", data_read_per_join: "62K" },
                  attached_condition: "(`shop`.`o`.`cust` = `shop`.`c`.`id`)"
                }
              }
            }
          ]
        }
      },
      {
        table: {
          table_name: "r",
          access_type: "eq_ref",
          possible_keys: ["PRIMARY"],
          key: "PRIMARY",
          used_key_parts: ["id"],
          key_length: "4",
          ref: ["shop.c.region"],
          rows_examined_per_scan: 1,
          rows_produced_per_join: 1000,
          filtered: "100.00",
          using_join_buffer: "Batched Key Access (unique)",
          cost_info: { read_cost: "250.00", eval_cost: "100.00", prefix_cost: "451.25", data_read_per_join: "8K" }
        }
      }
    ],
    optimized_away_subqueries: [
      {
        dependent: false,
        cacheable: true,
        query_block: {
          select_id: 3,
          cost_info: { query_cost: "2010.00" },
          table: {
            table_name: "o2",
            access_type: "ALL",
            possible_keys: ["k_status"],
            rows_examined_per_scan: 20000,
            rows_produced_per_join: 2000,
            filtered: "10.00",
            attached_condition: "(`shop`.`o2`.`status` in (1,2))"
          }
        }
      }
    ]
  }
}

/**
 * MySQL v2 (`explain_json_format_version=2`, 8.3+): the shape of the MySQL 8.4 Reference Manual, 15.8.2 "EXPLAIN
 * Statement" (Obtaining Execution Plan Information: `query`, `query_plan`, `inputs`, `operation`, `access_type`,
 * `estimated_rows`, `json_schema_version`); subquery and join members as the server's explain_access_path.cc prints
 * them (`heading`, `subquery`, `dependent`, `join_algorithm`, `temp_table_aggregate`).
 */
const v2HashJoinSort = {
  query: "/* select#1 */ select ... order by `o`.`note`",
  query_plan: {
    operation: "Sort: o.note",
    access_type: "sort",
    sort_fields: ["o.note"],
    estimated_rows: 20000,
    estimated_total_cost: 5012.5,
    inputs: [
      {
        operation: "Inner hash join (o.total = c.region)",
        access_type: "join",
        join_type: "inner join",
        join_algorithm: "hash",
        hash_condition: ["(o.total = c.region)"],
        join_columns: ["shop.c.region", "shop.o.total"],
        estimated_rows: 20000,
        estimated_total_cost: 2012.5,
        inputs: [
          {
            operation: "Table scan on o",
            access_type: "table",
            table_name: "orders",
            alias: "o",
            schema_name: "shop",
            used_columns: ["id", "total", "note"],
            estimated_rows: 20000,
            estimated_total_cost: 2010.25
          },
          {
            heading: "Hash",
            operation: "Filter: (c.region = 3)",
            access_type: "filter",
            condition: "(c.region = 3)",
            filter_columns: ["shop.c.region"],
            estimated_rows: 100,
            estimated_total_cost: 101.25,
            inputs: [
              {
                operation: "Table scan on c",
                access_type: "table",
                table_name: "customers",
                alias: "c",
                schema_name: "shop",
                used_columns: ["id", "region"],
                estimated_rows: 1000,
                estimated_total_cost: 101.25
              }
            ]
          }
        ]
      }
    ]
  },
  query_type: "select",
  json_schema_version: "2.0"
}

const v2GroupDependent = {
  query: "/* select#1 */ select ... group by `c`.`name`",
  query_plan: {
    operation: "Table scan on <temporary>",
    access_type: "table",
    table_name: "<temporary>",
    inputs: [
      {
        operation: "Aggregate using temporary table",
        access_type: "temp_table_aggregate",
        estimated_rows: 500,
        inputs: [
          {
            operation: "Nested loop inner join",
            access_type: "join",
            join_type: "inner join",
            join_algorithm: "nested_loop",
            estimated_rows: 30000,
            inputs: [
              {
                operation: "Filter: (c.id > (select #2))",
                access_type: "filter",
                condition: "(c.id > (select #2))",
                estimated_rows: 1000,
                inputs: [
                  {
                    operation: "Table scan on c",
                    access_type: "table",
                    table_name: "customers",
                    alias: "c",
                    estimated_rows: 1000
                  },
                  {
                    heading: "Select #2 (subquery in condition; dependent)",
                    subquery: true,
                    dependent: true,
                    subquery_location: "condition",
                    operation: "Aggregate: max(o.total)",
                    access_type: "aggregate",
                    estimated_rows: 1,
                    inputs: [
                      {
                        operation: "Filter: (o.cust = c.id)",
                        access_type: "filter",
                        estimated_rows: 2000,
                        inputs: [
                          { operation: "Table scan on o", access_type: "table", table_name: "orders", alias: "o", estimated_rows: 20000 }
                        ]
                      }
                    ]
                  },
                  {
                    heading: "Select #3 (subquery in condition; run only once)",
                    subquery: true,
                    cacheable: true,
                    subquery_location: "condition",
                    operation: "Aggregate: max(o3.total)",
                    access_type: "aggregate",
                    estimated_rows: 1,
                    inputs: [{ operation: "Table scan on o3", access_type: "table", table_name: "orders", alias: "o3", estimated_rows: 20000 }]
                  }
                ]
              },
              {
                operation: "Table scan on l",
                access_type: "table",
                table_name: "lines",
                alias: "l",
                estimated_rows: 30
              },
              {
                operation: "Index lookup on r using PRIMARY (id = c.region)",
                access_type: "index",
                index_access_type: "index_lookup",
                index_name: "PRIMARY",
                table_name: "regions",
                alias: "r",
                key_columns: ["id"],
                estimated_rows: 1
              }
            ]
          }
        ]
      }
    ]
  },
  query_type: "select",
  json_schema_version: "2.0"
}

const mysqlInput = (plan: unknown): PlanInput => ({ dialect: "mysql", plan, now: 0 })

describe("MySQL v1 plans (hand-written fixtures of the documented shape, not produced here)", () => {
  it("v1 fixture: full scan, no candidate index, filesort, temporary table and a hash join buffer", () => {
    expect(planFormat(v1GroupJoin)).toBe("mysql_v1")
    expect(runRules(mysqlPlanRules, mysqlInput(v1GroupJoin))).toEqual([
      f(
        "mysql_full_scan",
        "warn",
        "full scan of o: 20,000 rows read per scan (access type ALL)",
        "query_block.ordering_operation.grouping_operation.nested_loop[1].table[o]",
        FULL_SCAN_ADVICE("o"),
        1 - 10 / 100
      ),
      f(
        "mysql_no_candidate_index",
        "warn",
        "no candidate index for the condition on o: possible_keys empty, 20,000 rows read per scan (access type ALL)",
        "query_block.ordering_operation.grouping_operation.nested_loop[1].table[o]",
        NO_CANDIDATE_ADVICE("o"),
        1 - 10 / 100
      ),
      f(
        "mysql_filesort",
        "info",
        "filesort of about 2,000,000 rows from c, o",
        "query_block.ordering_operation over c, o",
        FILESORT_ADVICE,
        0.1
      ),
      f(
        "mysql_temporary_table",
        "info",
        "temporary table fed with about 2,000,000 rows from c, o",
        "query_block.ordering_operation.grouping_operation over c, o",
        TEMPORARY_ADVICE,
        0.1
      ),
      f(
        "mysql_join_buffer",
        "warn",
        "o is joined through a join buffer (hash join) without an index: 20,000 rows read per scan (access type ALL)",
        "query_block.ordering_operation.grouping_operation.nested_loop[1].table[o]",
        JOIN_ADVICE("o"),
        0.5
      )
    ])
  })

  it("v1 fixture: a dependent attached subquery; near misses: a cacheable subquery with possible_keys, a BKA join", () => {
    const found = runRules(mysqlPlanRules, mysqlInput(v1DependentSubquery))
    expect(found.filter((x) => x.rule === "mysql_dependent_subquery")).toEqual([
      f(
        "mysql_dependent_subquery",
        "warn",
        "dependent subquery select #2 runs once per outer row, reading up to 20,000 rows of o each time",
        "query_block.nested_loop[0].table.attached_subqueries[0] (select #2 over o)",
        DEPENDENT_ADVICE,
        0.5
      )
    ])
    // r is joined by eq_ref through a BKA buffer: an index read, not a missing index.
    expect(found.filter((x) => x.rule === "mysql_join_buffer")).toEqual([])
    // o2 (select #3) is not dependent, and its possible_keys name a candidate. c's condition compares with the
    // dependent subquery, which no index serves: possible_keys is empty, so c has no candidate index either.
    expect(found.map((x) => [x.rule, x.evidence])).toEqual([
      ["mysql_full_scan", "query_block.nested_loop[0].table.attached_subqueries[0].query_block.table[o]"],
      ["mysql_full_scan", "query_block.optimized_away_subqueries[0].query_block.table[o2]"],
      ["mysql_no_candidate_index", "query_block.nested_loop[0].table[c]"],
      ["mysql_no_candidate_index", "query_block.nested_loop[0].table.attached_subqueries[0].query_block.table[o]"],
      ["mysql_dependent_subquery", "query_block.nested_loop[0].table.attached_subqueries[0] (select #2 over o)"]
    ])
  })
})

/** MySQL v1: a derived table (the manual's `materialized_from_subquery`), whose temporary table is its nature. */
const v1Derived = {
  query_block: {
    select_id: 1,
    cost_info: { query_cost: "2503.50" },
    table: {
      table_name: "d",
      access_type: "ALL",
      rows_examined_per_scan: 500,
      rows_produced_per_join: 500,
      filtered: "100.00",
      cost_info: { read_cost: "8.75", eval_cost: "50.00", prefix_cost: "2503.50", data_read_per_join: "12K" },
      materialized_from_subquery: {
        using_temporary_table: true,
        dependent: false,
        cacheable: true,
        query_block: {
          select_id: 2,
          cost_info: { query_cost: "2010.00" },
          grouping_operation: {
            using_temporary_table: true,
            using_filesort: false,
            table: {
              table_name: "o",
              access_type: "ALL",
              rows_examined_per_scan: 20000,
              rows_produced_per_join: 20000,
              filtered: "100.00",
              cost_info: { read_cost: "10.00", eval_cost: "2000.00", prefix_cost: "2010.00", data_read_per_join: "625K" }
            }
          }
        }
      }
    }
  }
}

describe("MySQL v1 derived table (hand-written fixture of the documented shape, not produced here)", () => {
  it("v1 fixture: the derived table's own temporary table is no finding; its GROUP BY's is", () => {
    expect(readMysqlPlan(v1Derived)?.tables.map((t) => [t.table, t.internal, t.depth])).toEqual([
      ["d", true, 0],
      ["o", false, 1]
    ])
    expect(runRules(mysqlPlanRules, mysqlInput(v1Derived)).map((x) => [x.rule, x.message, x.evidence])).toEqual([
      [
        "mysql_full_scan",
        "full scan of o: 20,000 rows read per scan (access type ALL)",
        "query_block.table.materialized_from_subquery.query_block.grouping_operation.table[o]"
      ],
      [
        "mysql_temporary_table",
        "temporary table fed with about 20,000 rows from o",
        "query_block.table.materialized_from_subquery.query_block.grouping_operation over o"
      ]
    ])
  })
})

describe("MySQL v2 plans (hand-written fixtures of the documented shape, not produced here)", () => {
  it("v2 fixture: a sort over a hash join of two full table scans", () => {
    expect(planFormat(v2HashJoinSort)).toBe("mysql_v2")
    expect(runRules(mysqlPlanRules, mysqlInput(v2HashJoinSort))).toEqual([
      f(
        "mysql_full_scan",
        "warn",
        "full scan of o: 20,000 rows read per scan (access type table)",
        "query_plan.inputs[0].inputs[0] Table scan on o",
        FULL_SCAN_ADVICE("o"),
        0.5
      ),
      f("mysql_filesort", "info", "filesort of about 20,000 rows from o, c", "query_plan Sort over o, c", FILESORT_ADVICE, 0.1),
      f(
        "mysql_join_buffer",
        "warn",
        "hash join of o (20,000 rows) with c (1,000 rows): no index serves the join condition",
        "query_plan.inputs[0] hash join of o with c",
        JOIN_ADVICE("o"),
        0.5
      )
    ])
  })

  it("v2 fixture: a dependent subquery, a temporary-table aggregate and a nested loop without ref; near misses", () => {
    const found = runRules(mysqlPlanRules, mysqlInput(v2GroupDependent))
    expect(found).toEqual([
      f(
        "mysql_full_scan",
        "warn",
        "full scan of o: 20,000 rows read per scan (access type table)",
        "query_plan.inputs[0].inputs[0].inputs[0].inputs[1].inputs[0].inputs[0] Table scan on o",
        FULL_SCAN_ADVICE("o"),
        0.5
      ),
      f(
        "mysql_full_scan",
        "warn",
        "full scan of o3: 20,000 rows read per scan (access type table)",
        "query_plan.inputs[0].inputs[0].inputs[0].inputs[2].inputs[0] Table scan on o3",
        FULL_SCAN_ADVICE("o3"),
        0.5
      ),
      f(
        "mysql_temporary_table",
        "info",
        "temporary table fed with about 30,000 rows from c, l, r",
        "query_plan.inputs[0] Aggregate using temporary table over c, l, r",
        TEMPORARY_ADVICE,
        0.1
      ),
      f(
        "mysql_dependent_subquery",
        "warn",
        "dependent subquery select #2 runs once per outer row, reading up to 20,000 rows of o each time",
        "query_plan.inputs[0].inputs[0].inputs[0].inputs[1] (select #2 over o)",
        DEPENDENT_ADVICE,
        0.5
      )
    ])
    // l is scanned for each row of c but has 30 rows: under min_rows; r is read by index lookup.
    expect(joinBuffer.check(mysqlInput(v2GroupDependent), { min_rows: 10 }).map((x) => x.message)).toEqual([
      "l is joined without an index lookup (no ref): 30 rows read for each row before it (access type table)"
    ])
  })

  it("v2 fixture: a scan of a derived table (a Materialize below it) is no table finding; its block's scan is", () => {
    const derived = {
      query_plan: {
        operation: "Table scan on d",
        access_type: "table",
        table_name: "d",
        estimated_rows: 20000,
        inputs: [
          {
            operation: "Materialize",
            access_type: "materialize",
            estimated_rows: 20000,
            inputs: [{ operation: "Table scan on o", access_type: "table", table_name: "orders", alias: "o", estimated_rows: 20000 }]
          }
        ]
      },
      query_type: "select",
      json_schema_version: "2.0"
    }
    expect(readMysqlPlan(derived)?.tables.map((t) => [t.table, t.internal, t.depth])).toEqual([
      ["d", true, 0],
      ["o", false, 1]
    ])
    expect(runRules(mysqlPlanRules, mysqlInput(derived)).map((x) => x.evidence)).toEqual([
      "query_plan.inputs[0].inputs[0] Table scan on o"
    ])
  })

  it("v2 root without the query_plan envelope (8.3/8.4) and inputs that are not plans", () => {
    const bare = { query: "select ...", ...v2HashJoinSort.query_plan }
    expect(planFormat(bare)).toBe("mysql_v2")
    expect(fullScan.check(mysqlInput(bare), fullScan.thresholds).map((x) => x.evidence)).toEqual([
      "$.inputs[0].inputs[0] Table scan on o"
    ])
    for (const plan of [null, 42, "EXPLAIN", [], { query_block: 1 }, [{ Plan: { "Node Type": "Seq Scan" } }]]) {
      expect(runRules(mysqlPlanRules, mysqlInput(plan))).toEqual([])
    }
    // A MySQL plan handed over as PostgreSQL is not read.
    expect(runRules(mysqlPlanRules, { dialect: "postgres", plan: v2HashJoinSort, now: 0 })).toEqual([])
  })

  it("qualifiers: table names in conditions and lookup references, not in literals", () => {
    expect(qualifiers("o.note like 'x.y%' and <cache>(c.`id`) = o.total")).toEqual(["o", "c", "o"])
    expect(qualifiers("test.c.region")).toEqual(["c"])
    expect(qualifiers("`my t`.`a``b` = 1.5")).toEqual(["my t"])
  })
})
