// test group: other
import { describe, expect, it } from "vitest"
import { diffPlans, nodesOf, normalizePlan } from "../../web/src/plan/normalize.js"

// The dashboard's plan reading (web/src/plan/normalize.ts) on the JSON shapes the browser test does not reach: the
// MariaDB plan is what the local MariaDB 10.11 printed for the statement below; the MySQL v1 and v2 plans follow the
// documented shapes (no MySQL server here), as the analyzer's own tests of them do.

// EXPLAIN FORMAT=JSON SELECT cu.name, count(*) FROM o JOIN cu ON cu.id = o.c WHERE o.t > 5 GROUP BY cu.name ORDER BY count(*) DESC
const mariadb = {
  query_block: {
    select_id: 1,
    filesort: {
      sort_key: "count(0) desc",
      temporary_table: {
        nested_loop: [
          {
            table: {
              table_name: "o",
              access_type: "ALL",
              possible_keys: ["c"],
              rows: 20000,
              filtered: 100,
              attached_condition: "o.t > 5 and o.c is not null"
            }
          },
          {
            table: {
              table_name: "cu",
              access_type: "eq_ref",
              possible_keys: ["PRIMARY"],
              key: "PRIMARY",
              key_length: "4",
              used_key_parts: ["id"],
              ref: ["shop.o.c"],
              rows: 1,
              filtered: 100
            }
          }
        ]
      }
    }
  }
}

const mysqlV1 = {
  query_block: {
    select_id: 1,
    cost_info: { query_cost: "2252.40" },
    ordering_operation: {
      using_filesort: true,
      grouping_operation: {
        using_temporary_table: true,
        using_filesort: false,
        nested_loop: [
          {
            table: {
              table_name: "o",
              access_type: "ALL",
              rows_examined_per_scan: 10000,
              rows_produced_per_join: 3333,
              filtered: "33.33",
              cost_info: { read_cost: "686.00", eval_cost: "333.30", prefix_cost: "1019.30" },
              attached_condition: "(`shop`.`o`.`t` > 5)"
            }
          },
          {
            table: {
              table_name: "cu",
              access_type: "eq_ref",
              key: "PRIMARY",
              ref: ["shop.o.c"],
              rows_examined_per_scan: 1,
              rows_produced_per_join: 3333,
              filtered: "100.00",
              cost_info: { read_cost: "833.25", eval_cost: "333.30", prefix_cost: "2185.85" }
            }
          }
        ]
      }
    }
  }
}

const mysqlV2 = {
  query: "/* select#1 */ select …",
  query_plan: {
    operation: "Sort: o.id",
    access_type: "sort",
    estimated_rows: 3333,
    estimated_total_cost: 1500,
    inputs: [
      {
        operation: "Filter: (o.t > 5)",
        access_type: "filter",
        estimated_rows: 3333,
        estimated_total_cost: 1019,
        inputs: [{ operation: "Table scan on o", access_type: "table", table_name: "o", estimated_rows: 10000, estimated_total_cost: 1000 }]
      }
    ]
  }
}

const shape = (plan: unknown) => {
  const normalized = normalizePlan(plan)!
  return {
    format: normalized.format,
    costliest: nodesOf(normalized.root).find((n) => n.path === normalized.costliest)?.label,
    by: normalized.costliestBy,
    nodes: nodesOf(normalized.root).map((n) => [n.label, n.access ?? null, n.rows ?? null, n.flags.join(",")])
  }
}

describe("the dashboard's plan normalization", () => {
  it("reads MariaDB's query_block with its filesort and temporary table wrappers; without costs, the most rows read is the costliest", () => {
    expect(shape(mariadb)).toEqual({
      format: "mariadb",
      costliest: "table o",
      by: "rows",
      nodes: [
        ["query_block #1", null, null, ""],
        ["filesort", null, null, "filesort"],
        ["temporary table", null, null, "temporary"],
        ["table o", "ALL", 20000, "full_scan"],
        ["table cu", "eq_ref", 1, ""]
      ]
    })
  })

  it("reads MySQL's v1 flags and costs (strings), a table's own cost being its read and eval costs", () => {
    expect(shape(mysqlV1)).toEqual({
      format: "mysql_v1",
      costliest: "table cu",
      by: "cost",
      nodes: [
        ["query_block #1", null, null, ""],
        ["ordering operation", null, null, "filesort"],
        ["grouping operation", null, null, "temporary"],
        ["table o", "ALL", 10000, "full_scan"],
        ["table cu", "eq_ref", 1, ""]
      ]
    })
  })

  it("reads MySQL's v2 iterator tree, own costs from the cumulative ones", () => {
    expect(shape(mysqlV2)).toEqual({
      format: "mysql_v2",
      costliest: "Table scan on o",
      by: "cost",
      nodes: [
        ["Sort: o.id", "sort", 3333, "filesort"],
        ["Filter: (o.t > 5)", "filter", 3333, ""],
        ["Table scan on o", "table", 10000, "full_scan"]
      ]
    })
  })

  it("compares two plans: a table read another way, a node of one plan only, a row estimate moved 2x", () => {
    const before = normalizePlan(mariadb)!.root
    const [oBefore, cuBefore] = mariadb.query_block.filesort.temporary_table.nested_loop
    const o = { table: { ...oBefore!.table, access_type: "range", key: "t", rows: 3000 } }
    const cu = { table: { ...cuBefore!.table, rows: 2 } }
    const after = normalizePlan({ query_block: { select_id: 1, nested_loop: [o, cu] } })!.root
    const byLabel = (changes: ReadonlyMap<string, ReadonlyArray<string>>, root: typeof before) =>
      nodesOf(root).flatMap((n) => (changes.has(n.path) ? [[n.label, changes.get(n.path)!.join(",")]] : []))
    // Without the sort and its temporary table the tables sit elsewhere in the tree: every node of each is its own.
    expect(byLabel(diffPlans(before, after), before)).toEqual([
      ["filesort", "only"],
      ["temporary table", "only"],
      ["table o", "only"],
      ["table cu", "only"]
    ])
    // The same wrappers: o read by a range of index t (and 3000 rows, not 20000), cu's estimate doubled.
    const reread = normalizePlan({ query_block: { select_id: 1, filesort: { temporary_table: { nested_loop: [o, cu] } } } })!.root
    expect(byLabel(diffPlans(before, reread), before)).toEqual([
      ["table o", "access,rows"],
      ["table cu", "rows"]
    ])
  })
})
