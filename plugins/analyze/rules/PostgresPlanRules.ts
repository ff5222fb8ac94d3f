import {
  children,
  condition,
  count,
  evidenceOf,
  hasActuals,
  num,
  type PgPlanNode,
  type PlanNodeJson,
  planNodes,
  ratio,
  relationOf,
  str,
  workers
} from "./PostgresPlan.js"
import { type AnyRule, type PlanInput, type Rule, ruleFinding, scanReduction, type TableStats } from "./Rule.js"

/**
 * Rules over PostgreSQL's `EXPLAIN (FORMAT JSON)` plans. Estimate rules work on any plan; the rules that need what
 * only an executed plan carries (`Actual Rows`, `Sort Method`, `Hash Batches`, `Lossy Heap Blocks`) stay silent on
 * plain EXPLAIN output and fire on EXPLAIN ANALYZE or auto_explain plans. Actual row counts are per loop averages
 * (what PostgreSQL prints), so totals are `Actual Rows × Actual Loops`; a node with 0 loops never ran.
 */

const finding = ruleFinding

const nodesOf = (input: PlanInput): ReadonlyArray<PgPlanNode> => (input.dialect === "postgres" ? planNodes(input.plan) : [])

const typeOf = (node: PlanNodeJson) => str(node, "Node Type")

const loopsOf = (node: PlanNodeJson) => num(node, "Actual Loops") ?? 1

/** Total rows the node returned over all its loops; undefined on a plan without actuals. */
const actualTotal = (node: PlanNodeJson): number | undefined => {
  const rows = num(node, "Actual Rows")
  return rows === undefined ? undefined : rows * loopsOf(node)
}

/** pg_stat_user_tables' row of the node's table: by `schema.table` under VERBOSE, else by the only table of that name. */
const statsOf = (input: PlanInput, node: PlanNodeJson): { readonly name: string; readonly stats: TableStats } | undefined => {
  const stats = input.tableStats
  const table = str(node, "Relation Name")
  if (stats === undefined || table === undefined) return undefined
  const qualified = relationOf(node)
  if (qualified !== undefined && qualified !== table) {
    const found = stats.get(qualified)
    return found === undefined ? undefined : { name: qualified, stats: found }
  }
  // Plain EXPLAIN does not name schemas: a name found in two schemas is ambiguous, and no finding beats a wrong one.
  const matches = [...stats.entries()].filter(([key]) => key.endsWith(`.${table}`) && key.length > table.length + 1)
  const only = matches.length === 1 ? matches[0] : undefined
  return only === undefined ? undefined : { name: only[0], stats: only[1] }
}

export const seqScanFilter: Rule<PlanInput, { min_rows: number; max_kept_percent: number }> = {
  id: "pg_seq_scan_filter",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "A sequential scan with a filter reads a large table to keep a small share of its rows: an index on the filtered columns would read only those.",
  thresholds: { min_rows: 10_000, max_kept_percent: 10 },
  // An index on the filtered columns reads the rows kept instead of the table: the check computes 1 − kept/read (a
  // scan that keeps 0.1% of what it reads loses nearly all its time); half is only the fallback of the type.
  reduction: 0.5,
  check: (input, t) =>
    nodesOf(input).flatMap((entry) => {
      const { node } = entry
      const filter = condition(node, "Filter")
      if (typeOf(node) !== "Seq Scan" || filter === undefined) return []
      let scanned: number
      let kept: number
      let basis: string
      if (hasActuals(node)) {
        if (loopsOf(node) === 0) return []
        kept = actualTotal(node) ?? 0
        scanned = kept + (num(node, "Rows Removed by Filter") ?? 0) * loopsOf(node)
        basis = "actual"
      } else {
        // A plan's estimates carry only the rows the filter keeps; the table's size comes from its statistics.
        const table = statsOf(input, node)
        const planRows = num(node, "Plan Rows")
        if (table === undefined || planRows === undefined) return []
        scanned = table.stats.liveRows
        kept = Math.min(planRows, scanned)
        basis = "estimated"
      }
      if (scanned < t.min_rows || kept * 100 > scanned * t.max_kept_percent) return []
      return [
        finding(
          seqScanFilter.id,
          seqScanFilter.severity,
          `${entry.label} reads ${count(scanned)} rows to keep ${count(kept)} (${basis}) by filter ${filter}`,
          evidenceOf(entry),
          "Index the filtered columns (equality columns first) so the rows are found without reading the whole table.",
          scanReduction(kept, scanned)
        )
      ]
    })
}

const INDEX_SCANS = new Set(["Index Scan", "Index Only Scan", "Bitmap Heap Scan"])

export const indexScanFilter: Rule<PlanInput, { min_removed_rows: number; min_removed_ratio: number }> = {
  id: "pg_index_scan_filter",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "An index scan whose filter throws away most of the rows the index found: the index matches only part of the condition. Needs actuals: a plan's estimates do not say how many rows the index returns before the filter.",
  thresholds: { min_removed_rows: 1_000, min_removed_ratio: 10 },
  // With the filter's columns in the index, the rows it now fetches and throws away are not fetched: the check computes
  // 1 − kept/found; half is only the fallback of the type.
  reduction: 0.5,
  check: (input, t) =>
    nodesOf(input).flatMap((entry) => {
      const { node } = entry
      const filter = condition(node, "Filter")
      const type = typeOf(node)
      if (type === undefined || !INDEX_SCANS.has(type) || filter === undefined || !hasActuals(node)) return []
      if (loopsOf(node) === 0) return []
      const kept = actualTotal(node) ?? 0
      const removed = (num(node, "Rows Removed by Filter") ?? 0) * loopsOf(node)
      if (removed < t.min_removed_rows || removed < kept * t.min_removed_ratio) return []
      return [
        finding(
          indexScanFilter.id,
          indexScanFilter.severity,
          `${entry.label}: filter ${filter} removes ${count(removed)} of the ${count(removed + kept)} rows the index found, keeping ${count(kept)}`,
          evidenceOf(entry),
          "Put the filter's columns into the index (after its equality columns) so the index returns only the rows the query keeps.",
          scanReduction(kept, kept + removed)
        )
      ]
    })
}

const hashedAggregate = (node: PlanNodeJson) =>
  typeOf(node) === "Aggregate" && (str(node, "Strategy") === "Hashed" || str(node, "Strategy") === "Mixed")

export const largeSortOrHash: Rule<PlanInput, { min_rows: number }> = {
  id: "pg_large_sort_hash",
  severity: "info",
  dialects: ["postgres"],
  description:
    "A sort, hash table or hash aggregate over many rows: it needs memory in proportion (work_mem) and spills to disk beyond it.",
  thresholds: { min_rows: 100_000 },
  // An index in the sort order or a smaller hashed side saves the sort or the hash table, not the reading of the rows,
  // which usually costs more; and it may not spill at all.
  reduction: 0.1,
  check: (input, t) =>
    nodesOf(input).flatMap((entry) => {
      const { node } = entry
      const type = typeOf(node)
      const sort = type === "Sort" || type === "Incremental Sort"
      if (!sort && type !== "Hash" && !hashedAggregate(node)) return []
      if (hasActuals(node) && loopsOf(node) === 0) return []
      const actual = actualTotal(node)
      const rows = actual ?? num(node, "Plan Rows")
      if (rows === undefined || rows < t.min_rows) return []
      // A hash aggregate's rows are its groups: what its hash table holds.
      const what = sort ? "sorts" : type === "Hash" ? "builds a hash table of" : "hashes"
      const unit = hashedAggregate(node) ? "groups" : "rows"
      const width = num(node, "Plan Width")
      return [
        finding(
          largeSortOrHash.id,
          largeSortOrHash.severity,
          `${entry.label} ${what} ${count(rows)} ${unit}${width === undefined ? "" : ` of ${count(width)} bytes`} (${actual === undefined ? "estimated" : "actual"})`,
          evidenceOf(entry),
          sort
            ? "Let an index deliver the rows in order (an index on the sort keys), or sort fewer rows by filtering or limiting first."
            : "Filter the rows before the join or aggregate, or hash the smaller side; make sure work_mem fits the hash table."
        )
      ]
    })
}

const side = (node: PlanNodeJson, relationship: "Outer" | "Inner", index: number): PlanNodeJson | undefined => {
  const all = children(node)
  return all.find((child) => str(child, "Parent Relationship") === relationship) ?? all[index]
}

export const nestedLoopLarge: Rule<PlanInput, { min_row_product: number }> = {
  id: "pg_nested_loop_large",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "A nested loop whose outer rows times inner rows per loop is large: the inner side runs once per outer row, so the work grows as their product.",
  thresholds: { min_row_product: 1_000_000 },
  // An inner side run once per outer row over a large product usually dominates its query; hashed, merged or looked up
  // by index it costs a fraction. Half: estimates of the product may be off both ways.
  reduction: 0.5,
  check: (input, t) =>
    nodesOf(input).flatMap((entry) => {
      const { node } = entry
      if (typeOf(node) !== "Nested Loop") return []
      const outer = side(node, "Outer", 0)
      const inner = side(node, "Inner", 1)
      if (outer === undefined || inner === undefined) return []
      let outerRows: number | undefined
      let innerRows: number | undefined
      let basis: string
      if (hasActuals(node)) {
        if (loopsOf(node) === 0) return []
        outerRows = actualTotal(outer)
        innerRows = num(inner, "Actual Rows")
        basis = "actual"
      } else {
        outerRows = num(outer, "Plan Rows")
        innerRows = num(inner, "Plan Rows")
        basis = "estimated"
      }
      if (outerRows === undefined || innerRows === undefined) return []
      // An inner side that returns nothing still runs once per outer row.
      const product = outerRows * Math.max(innerRows, 1)
      if (product < t.min_row_product) return []
      return [
        finding(
          nestedLoopLarge.id,
          nestedLoopLarge.severity,
          `${entry.label} runs its inner side for ${count(outerRows)} outer rows × ${count(innerRows)} inner rows per loop = ${count(product)} (${basis})`,
          evidenceOf(entry),
          "Give the join an equality condition PostgreSQL can hash or merge on, or index the inner side's join columns; check the outer side's row estimate."
        )
      ]
    })
}

const DAY_MS = 86_400_000

export const staleStatistics: Rule<PlanInput, { min_live_rows: number; max_modified_percent: number; max_age_days: number }> = {
  id: "pg_stale_statistics",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "A table of the plan whose statistics are missing or out of date (never analyzed, many rows modified since the last ANALYZE, or modified and not analyzed for long): the planner's estimates, and so its plan, rest on them.",
  thresholds: { min_live_rows: 1_000, max_modified_percent: 20, max_age_days: 30 },
  // ANALYZE changes the time only when fresh statistics change the plan, which the finding cannot tell.
  reduction: 0.2,
  check: (input, t) => {
    const seen = new Set<string>()
    return nodesOf(input).flatMap((entry) => {
      const table = statsOf(input, entry.node)
      if (table === undefined || seen.has(table.name)) return []
      seen.add(table.name)
      const { liveRows, modifiedSinceAnalyze, lastAnalyzedAt } = table.stats
      if (liveRows < t.min_live_rows) return []
      let why: string
      if (lastAnalyzedAt === null) {
        why = `never analyzed (${count(liveRows)} live rows)`
      } else if (modifiedSinceAnalyze * 100 >= liveRows * t.max_modified_percent) {
        why = `${count(modifiedSinceAnalyze)} rows modified since the last ANALYZE (${ratio((modifiedSinceAnalyze * 100) / liveRows)}% of ${count(liveRows)} live rows)`
      } else if (modifiedSinceAnalyze > 0 && input.now - lastAnalyzedAt >= t.max_age_days * DAY_MS) {
        why = `last analyzed ${count(Math.floor((input.now - lastAnalyzedAt) / DAY_MS))} days ago, ${count(modifiedSinceAnalyze)} rows modified since`
      } else {
        return []
      }
      return [
        finding(
          staleStatistics.id,
          staleStatistics.severity,
          `statistics of ${table.name}: ${why}`,
          evidenceOf(entry),
          `Run ANALYZE ${table.name}; if it recurs, lower the table's autovacuum_analyze_scale_factor so autovacuum analyzes it sooner.`
        )
      ]
    })
  }
}

/**
 * Whether the node may legitimately have returned fewer rows than estimated because its consumer stopped reading:
 * anything under a Limit, both sides of a merge join, the inner side of a semi or anti nested loop, and subplans
 * (EXISTS, ANY) that stop at their first row. Overestimates there are no mistake of the planner.
 */
const mayStopEarly = (entry: PgPlanNode): boolean => {
  let child = entry
  for (let parent = entry.parent; parent !== undefined; child = parent, parent = parent.parent) {
    const relationship = str(child.node, "Parent Relationship")
    if (relationship === "SubPlan" || relationship === "InitPlan") return true
    const type = typeOf(parent.node)
    if (type === "Limit" || type === "Merge Join") return true
    const join = str(parent.node, "Join Type")
    if (type === "Nested Loop" && (join === "Semi" || join === "Anti") && relationship === "Inner") return true
  }
  return false
}

export const rowMisestimate: Rule<PlanInput, { min_factor: number; min_rows: number }> = {
  id: "pg_row_misestimate",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "A node whose actual rows differ from the planner's estimate by a large factor, where the error starts (not the nodes above that inherit it): plans chosen on wrong counts pick the wrong joins and scans. Needs actuals.",
  thresholds: { min_factor: 10, min_rows: 1_000 },
  // Better statistics help only when the right counts make the planner pick another plan, which the finding cannot tell.
  reduction: 0.2,
  check: (input, t) => {
    const nodes = nodesOf(input)
    const off = new Map<PlanNodeJson, { readonly planned: number; readonly actual: number; readonly factor: number }>()
    for (const entry of nodes) {
      const planned = num(entry.node, "Plan Rows")
      const actual = num(entry.node, "Actual Rows")
      if (planned === undefined || actual === undefined || loopsOf(entry.node) === 0) continue
      if (Math.max(planned, actual) * loopsOf(entry.node) < t.min_rows) continue
      const factor = Math.max(planned, actual) / Math.max(Math.min(planned, actual), 1)
      if (factor < t.min_factor) continue
      if (planned > actual && mayStopEarly(entry)) continue
      off.set(entry.node, { planned, actual, factor })
    }
    return nodes.flatMap((entry) => {
      const found = off.get(entry.node)
      if (found === undefined || children(entry.node).some((child) => off.has(child))) return []
      const loops = loopsOf(entry.node)
      return [
        finding(
          rowMisestimate.id,
          rowMisestimate.severity,
          `${entry.label}: estimated ${count(found.planned)} rows, actually ${count(found.actual)}${loops > 1 ? ` per loop over ${count(loops)} loops` : ""} (${ratio(found.factor)}× ${found.actual > found.planned ? "under" : "over"})`,
          evidenceOf(entry),
          "Give the planner better statistics: ANALYZE the table, raise the columns' statistics target, or CREATE STATISTICS for correlated columns."
        )
      ]
    })
  }
}

const SORT_GROUPS = ["Full-sort Groups", "Pre-sorted Groups"] as const

/** How the node (or one of its parallel workers) went to disk, or undefined when it stayed in memory. */
const spillOf = (node: PlanNodeJson): string | undefined => {
  const type = typeOf(node)
  for (const part of [node, ...workers(node)]) {
    if (type === "Sort") {
      const method = str(part, "Sort Method")
      if (str(part, "Sort Space Type") === "Disk" || method?.startsWith("external") === true) {
        return `${method ?? "sort"} with ${count(num(part, "Sort Space Used") ?? 0)} kB on disk`
      }
    } else if (type === "Incremental Sort") {
      for (const key of SORT_GROUPS) {
        const groups = part[key]
        if (typeof groups !== "object" || groups === null || !("Sort Space Disk" in groups)) continue
        const disk = (groups as Record<string, unknown>)["Sort Space Disk"]
        const peak =
          typeof disk === "object" && disk !== null ? num(disk as PlanNodeJson, "Peak Sort Space Used") : undefined
        return `${key.toLowerCase()} sorted on disk${peak === undefined ? "" : `, ${count(peak)} kB peak`}`
      }
    } else if (type === "Hash") {
      const batches = num(part, "Hash Batches")
      if (batches !== undefined && batches > 1) {
        return `${count(batches)} batches (${count(num(part, "Original Hash Batches") ?? batches)} planned), ${count(num(part, "Peak Memory Usage") ?? 0)} kB in memory`
      }
    } else if (hashedAggregate(node)) {
      const batches = num(part, "HashAgg Batches")
      const disk = num(part, "Disk Usage")
      if ((batches !== undefined && batches > 1) || (disk !== undefined && disk > 0)) {
        return `${count(batches ?? 1)} batches, ${count(disk ?? 0)} kB on disk`
      }
    }
  }
  return undefined
}

export const diskSpill: Rule<PlanInput, Record<string, number>> = {
  id: "pg_disk_spill",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "A sort, hash join or hash aggregate that did not fit in work_mem and went to temporary files. Needs actuals (Sort Method, Hash Batches, HashAgg Batches).",
  thresholds: {},
  // Kept in memory, the sort or hash saves its temporary file writes and reads: often a third of the node's time, and the
  // node is not all of the query.
  reduction: 0.3,
  check: (input) =>
    nodesOf(input).flatMap((entry) => {
      const spill = spillOf(entry.node)
      if (spill === undefined) return []
      return [
        finding(
          diskSpill.id,
          diskSpill.severity,
          `${entry.label} spilled to disk: ${spill}`,
          evidenceOf(entry),
          "Raise work_mem for this query (SET LOCAL work_mem) or give it fewer or narrower rows to sort or hash."
        )
      ]
    })
}

export const lossyBitmap: Rule<PlanInput, { min_lossy_blocks: number }> = {
  id: "pg_lossy_bitmap",
  severity: "warn",
  dialects: ["postgres"],
  description:
    "A bitmap heap scan whose bitmap outgrew work_mem and became lossy: for those blocks every row is read and rechecked. Needs actuals (Lossy Heap Blocks).",
  thresholds: { min_lossy_blocks: 1 },
  // An exact bitmap saves the recheck of every row of the lossy blocks; the blocks are read either way.
  reduction: 0.2,
  check: (input, t) =>
    nodesOf(input).flatMap((entry) => {
      const { node } = entry
      if (typeOf(node) !== "Bitmap Heap Scan") return []
      const lossy = num(node, "Lossy Heap Blocks")
      if (lossy === undefined || lossy < t.min_lossy_blocks) return []
      const exact = num(node, "Exact Heap Blocks") ?? 0
      const rechecked = (num(node, "Rows Removed by Index Recheck") ?? 0) * loopsOf(node)
      return [
        finding(
          lossyBitmap.id,
          lossyBitmap.severity,
          `${entry.label}: ${count(lossy)} of ${count(lossy + exact)} heap blocks lossy, ${count(rechecked)} rows removed by index recheck`,
          evidenceOf(entry),
          "Raise work_mem for this query so the bitmap stays exact, or make the index condition more selective."
        )
      ]
    })
}

/** Every PostgreSQL plan rule, in the order the README lists them. */
export const postgresPlanRules: ReadonlyArray<AnyRule<PlanInput>> = [
  seqScanFilter,
  indexScanFilter,
  largeSortOrHash,
  nestedLoopLarge,
  staleStatistics,
  rowMisestimate,
  diskSpill,
  lossyBitmap
]
