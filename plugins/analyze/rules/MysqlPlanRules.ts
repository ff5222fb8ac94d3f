import {
  count,
  type MysqlPlanFormat,
  type MysqlPlanView,
  type PlanOperation,
  readMysqlPlan,
  type TableAccess,
  tableEvidence,
  tableNames
} from "./MysqlPlan.js"
import { type AnyRule, type PlanInput, type Rule, ruleFinding, scanReduction } from "./Rule.js"

/**
 * The MySQL/MariaDB plan rules, over `EXPLAIN FORMAT=JSON` in MariaDB's shape, MySQL's v1 and MySQL 8.3+'s v2
 * (see MysqlPlan.ts). The numbers are the optimizer's estimates: rows per scan, rows reaching a sort. A rule that
 * needs something a format does not print stays silent on that format (v2 has no `possible_keys`).
 */

// Every rule reads the same walk; one per plan object.
const views = new WeakMap<object, MysqlPlanView | undefined>()

const viewOf = (input: PlanInput): MysqlPlanView | undefined => {
  const plan = input.plan
  if (input.dialect !== "mysql" || typeof plan !== "object" || plan === null) return undefined
  if (!views.has(plan)) views.set(plan, readMysqlPlan(plan))
  return views.get(plan)
}

const finding = ruleFinding

/**
 * What an index would save on a table read in full: the share of the rows read that its conditions discard, by the
 * optimizer's `filtered`. Only under a condition and below 100%: at 100 the optimizer usually had no estimate (no
 * histogram, no index on the column), and the rule's declared share stands.
 */
const filteredReduction = (table: TableAccess): number | undefined =>
  table.hasCondition && table.filtered !== undefined && table.filtered < 100
    ? scanReduction(table.filtered, 100)
    : undefined

/** `query_block.filesort over o, c`; v2: `query_plan.inputs[0] Sort over o`. */
const operationEvidence = (format: MysqlPlanFormat, op: PlanOperation): string => {
  const where = format === "mysql_v2" ? `${op.path} ${op.label}` : op.path
  return op.tables.length === 0 ? where : `${where} over ${tableNames(op.tables)}`
}

export const fullScan: Rule<PlanInput, { min_rows: number }> = {
  id: "mysql_full_scan",
  severity: "warn",
  dialects: ["mysql"],
  description:
    "A full table scan (access type ALL) of a large table: every row is read, whatever the query keeps of them.",
  thresholds: { min_rows: 10_000 },
  // An index on the filtered columns reads only the rows kept: computed from `filtered` when the optimizer estimated it;
  // without, half (a scan of a large table that keeps 0.1% of its rows loses nearly all its time to an index, one that
  // keeps most of them nothing).
  reduction: 0.5,
  check: (input, t) => {
    const view = viewOf(input)
    if (view === undefined) return []
    return view.tables
      .filter((table) => table.scan === "full" && !table.internal && table.rows !== undefined && table.rows >= t.min_rows)
      .map((table) =>
        finding(
          fullScan.id,
          fullScan.severity,
          `full scan of ${table.table}: ${count(table.rows!)} rows read per scan (access type ${table.accessType})`,
          tableEvidence(view.format, table),
          `Index the columns ${table.table} is filtered or joined on, or make the condition usable by an existing index, so only the matching rows are read.`,
          filteredReduction(table)
        )
      )
  }
}

export const noCandidateIndex: Rule<PlanInput, { min_rows: number }> = {
  id: "mysql_no_candidate_index",
  severity: "warn",
  dialects: ["mysql"],
  description:
    "A table read in full (ALL or a full index scan) under a condition, with no possible_keys: no existing index can serve that condition at all.",
  thresholds: { min_rows: 1_000 },
  // The same rows as the full scan it comes with, the same reasoning: computed from `filtered` when estimated, else half.
  reduction: 0.5,
  check: (input, t) => {
    const view = viewOf(input)
    // v2 does not print possible_keys: absence there proves nothing.
    if (view === undefined || view.format === "mysql_v2") return []
    return view.tables
      .filter(
        (table) =>
          (table.scan === "full" || table.scan === "full_index") &&
          !table.internal &&
          table.hasCondition &&
          table.possibleKeys !== undefined &&
          table.possibleKeys.length === 0 &&
          // The key of a full index scan is the index read end to end, not a candidate for the condition.
          (table.key === undefined || table.scan === "full_index") &&
          table.rows !== undefined &&
          table.rows >= t.min_rows
      )
      .map((table) =>
        finding(
          noCandidateIndex.id,
          noCandidateIndex.severity,
          `no candidate index for the condition on ${table.table}: possible_keys empty, ${count(table.rows!)} rows read per scan (access type ${table.accessType})`,
          tableEvidence(view.format, table),
          `Create an index on the columns of ${table.table} that its WHERE or join condition compares (equality columns first); none of its indexes starts with them.`,
          filteredReduction(table)
        )
      )
  }
}

export const filesort: Rule<PlanInput, { min_rows: number }> = {
  id: "mysql_filesort",
  severity: "info",
  dialects: ["mysql"],
  description:
    "A filesort of many rows: ORDER BY (or GROUP BY) is satisfied by sorting, in memory or on disk, instead of reading an index in order.",
  thresholds: { min_rows: 10_000 },
  // An index in ORDER BY order saves the sort, not the reading of the rows, which usually costs more.
  reduction: 0.1,
  check: (input, t) => {
    const view = viewOf(input)
    if (view === undefined) return []
    return view.sorts
      .filter((sort) => sort.rows !== undefined && sort.rows >= t.min_rows)
      .map((sort) =>
        finding(
          filesort.id,
          filesort.severity,
          `filesort of about ${count(sort.rows!)} rows${sort.tables.length === 0 ? "" : ` from ${tableNames(sort.tables)}`}`,
          operationEvidence(view.format, sort),
          "Add an index whose columns are the equality-filtered columns followed by the ORDER BY columns, so rows are read already sorted."
        )
      )
  }
}

export const temporaryTable: Rule<PlanInput, { min_rows: number }> = {
  id: "mysql_temporary_table",
  severity: "info",
  dialects: ["mysql"],
  description:
    "An internal temporary table fed with many rows, for GROUP BY, DISTINCT or an ORDER BY over a join; it may spill to disk.",
  thresholds: { min_rows: 10_000 },
  // Grouping in index order saves the temporary table's writes and reads, not the reading of the rows.
  reduction: 0.1,
  check: (input, t) => {
    const view = viewOf(input)
    if (view === undefined) return []
    return view.temporaryTables
      .filter((temp) => temp.rows !== undefined && temp.rows >= t.min_rows)
      .map((temp) =>
        finding(
          temporaryTable.id,
          temporaryTable.severity,
          `temporary table fed with about ${count(temp.rows!)} rows${temp.tables.length === 0 ? "" : ` from ${tableNames(temp.tables)}`}`,
          operationEvidence(view.format, temp),
          "Index the GROUP BY / DISTINCT columns (after the equality-filtered ones) so groups are read in index order, or group on the columns of one table."
        )
      )
  }
}

// Batched Key Access fills a join buffer but reads the joined table by index: not a missing index.
const isIndexedBuffer = (buffer: string) => buffer.startsWith("BKA") || buffer.startsWith("Batched Key Access")

export const joinBuffer: Rule<PlanInput, { min_rows: number }> = {
  id: "mysql_join_buffer",
  severity: "warn",
  dialects: ["mysql"],
  description:
    "A table joined without an index on the join columns: read through a join buffer (block nested loop, hash join) or scanned again for each row before it (no ref).",
  thresholds: { min_rows: 1_000 },
  // An index on the join columns turns a scan of the joined table per block of outer rows into a lookup per row: most of
  // the join's time when the table is large, but the rule cannot tell how much of the query the join is.
  reduction: 0.5,
  check: (input, t) => {
    const view = viewOf(input)
    if (view === undefined) return []
    const advice = (table: string) =>
      `Index the columns of ${table} used in the join condition so each row before it finds its matches by an index lookup (ref/eq_ref).`
    const perTable = view.tables.flatMap((table) => {
      if (table.joinPosition === 0 || table.internal || table.rows === undefined || table.rows < t.min_rows) return []
      // v2 hash joins are reported per join below, with both sides.
      if (view.format === "mysql_v2" && table.joinBuffer !== undefined) return []
      const buffered = table.joinBuffer !== undefined && !isIndexedBuffer(table.joinBuffer)
      const noRef = table.ref.length === 0 && table.scan !== "lookup"
      if (!buffered && !noRef) return []
      const message = buffered
        ? `${table.table} is joined through a join buffer (${table.joinBuffer}) without an index: ${count(table.rows)} rows read per scan (access type ${table.accessType})`
        : `${table.table} is joined without an index lookup (no ref): ${count(table.rows)} rows read for each row before it (access type ${table.accessType})`
      return [finding(joinBuffer.id, joinBuffer.severity, message, tableEvidence(view.format, table), advice(table.table))]
    })
    const hashJoins = view.hashJoins.flatMap((join) => {
      const sideRows = (side: typeof join.probe) =>
        side.reduce((max, table) => (table.rows === undefined ? max : Math.max(max, table.rows)), 0)
      const probe = sideRows(join.probe)
      const build = sideRows(join.build)
      if (Math.max(probe, build) < t.min_rows || join.probe.length === 0 || join.build.length === 0) return []
      return [
        finding(
          joinBuffer.id,
          joinBuffer.severity,
          `hash join of ${tableNames(join.probe)} (${count(probe)} rows) with ${tableNames(join.build)} (${count(build)} rows): no index serves the join condition`,
          `${join.path} hash join of ${tableNames(join.probe)} with ${tableNames(join.build)}`,
          advice(tableNames(join.probe))
        )
      ]
    })
    return [...perTable, ...hashJoins]
  }
}

export const dependentSubquery: Rule<PlanInput, { min_rows: number }> = {
  id: "mysql_dependent_subquery",
  severity: "warn",
  dialects: ["mysql"],
  description:
    "A dependent (correlated) subquery: it refers to the outer query, so it is executed again for each outer row, and here each execution reads many rows.",
  thresholds: { min_rows: 1_000 },
  // A subquery re-run per outer row, reading many rows each time, usually dominates its query; run once (a join, a
  // derived table) or as a lookup it costs a small share. Half, as the number of outer rows is not always printed.
  reduction: 0.5,
  check: (input, t) => {
    const view = viewOf(input)
    if (view === undefined) return []
    return view.dependentSubqueries
      .filter((sub) => sub.rows !== undefined && sub.rows >= t.min_rows)
      .map((sub) =>
        finding(
          dependentSubquery.id,
          dependentSubquery.severity,
          `dependent subquery ${sub.label} runs once per outer row, reading up to ${count(sub.rows!)} rows of ${tableNames(sub.tables)} each time`,
          `${sub.path} (${sub.label} over ${tableNames(sub.tables)})`,
          "Rewrite the subquery as a join or a derived table grouped once, or index the columns it correlates on so each execution is a lookup."
        )
      )
  }
}

export const mysqlPlanRules: ReadonlyArray<AnyRule<PlanInput>> = [
  fullScan,
  noCandidateIndex,
  filesort,
  temporaryTable,
  joinBuffer,
  dependentSubquery
]
