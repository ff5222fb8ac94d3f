import { createHash } from "node:crypto"
import type { Dialect } from "../../src/domain/SlowQueryEvent.js"

/**
 * The hash of a plan's shape: which nodes, tables, indexes, join and access methods and conditions, but not the
 * optimizer's estimates (costs, rows, widths, filtered) that move with every ANALYZE. Literals inside conditions
 * are masked, because the explained sample of a fingerprint changes from run to run and `id = 5` and `id = 7` are
 * the same plan. What an executed plan measured (rows removed, buffers, sort space…) is left out too. A new hash for
 * the same query is a plan change.
 */

const POSTGRES_ESTIMATES = new Set(["Startup Cost", "Total Cost", "Plan Rows", "Plan Width"])

/**
 * What an executed plan measured (EXPLAIN ANALYZE, or auto_explain with log_analyze and log_buffers): it differs from
 * one execution to the next under the same plan. EXPLAIN without ANALYZE writes none of these.
 */
const POSTGRES_MEASURED = new Set([
  "Rows Removed by Filter",
  "Rows Removed by Join Filter",
  "Rows Removed by Index Recheck",
  "Heap Fetches",
  "Exact Heap Blocks",
  "Lossy Heap Blocks",
  "Sort Method",
  "Sort Space Used",
  "Sort Space Type",
  "Peak Memory Usage",
  "Disk Usage",
  "HashAgg Batches",
  "Hash Buckets",
  "Original Hash Buckets",
  "Hash Batches",
  "Original Hash Batches",
  "Workers Launched",
  "Workers",
  "Cache Hits",
  "Cache Misses",
  "Cache Evictions",
  "Cache Overflows",
  "Full-sort Groups",
  "Pre-sorted Groups",
  "Planning",
  "Planning Time",
  "Execution Time",
  "Triggers",
  "JIT"
])
const POSTGRES_MEASURED_PREFIXES = ["Actual ", "Shared ", "Local ", "Temp ", "WAL ", "I/O "]

const MYSQL_ESTIMATES = new Set([
  "rows",
  "filtered",
  "cost",
  "query_cost",
  "cost_info",
  "rows_examined_per_scan",
  "rows_produced_per_join",
  // Candidates the optimizer considered, not the plan it chose: a new unused index is not a plan change.
  "possible_keys"
])

const isEstimate = (dialect: Dialect, key: string): boolean =>
  dialect === "postgres"
    ? POSTGRES_ESTIMATES.has(key) || POSTGRES_MEASURED.has(key) || POSTGRES_MEASURED_PREFIXES.some((prefix) => key.startsWith(prefix))
    : MYSQL_ESTIMATES.has(key) || key.startsWith("r_")

const isWordChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 128

/**
 * Masks quoted literals and numbers in a condition as `?` and folds lists of them (`?, ?, ?`) into one, so an IN
 * list of another length is the same shape. Identifiers that contain digits (`t2`, `$1`) stay.
 */
export const maskLiterals = (text: string): string => {
  let out = ""
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 39) {
      let j = i + 1
      while (j < n) {
        if (text.charCodeAt(j) === 92) {
          j += 2
          continue
        }
        if (text.charCodeAt(j) === 39) {
          if (text.charCodeAt(j + 1) === 39) {
            j += 2
            continue
          }
          break
        }
        j++
      }
      out += "?"
      i = j + 1
      continue
    }
    const previous = i > 0 ? text.charCodeAt(i - 1) : -1
    if (c >= 48 && c <= 57 && !isWordChar(previous)) {
      let j = i + 1
      while (j < n && (isWordChar(text.charCodeAt(j)) || text.charCodeAt(j) === 46)) j++
      out += "?"
      i = j
      continue
    }
    out += text[i]
    i++
  }
  // Fold "?, ?" / "?,?" runs into a single "?".
  let folded = ""
  let k = 0
  while (k < out.length) {
    folded += out[k]
    if (out[k] === "?") {
      let j = k + 1
      for (;;) {
        let m = j
        while (out[m] === " ") m++
        if (out[m] !== ",") break
        m++
        while (out[m] === " ") m++
        if (out[m] !== "?") break
        j = m + 1
      }
      k = j
      continue
    }
    k++
  }
  return folded
}

/** The plan without estimates, with literals masked, keys sorted: what the hash is taken over. */
export const planShape = (dialect: Dialect, plan: unknown): unknown => {
  if (Array.isArray(plan)) return plan.map((item) => planShape(dialect, item))
  if (typeof plan === "string") return maskLiterals(plan)
  if (plan === null || typeof plan !== "object") return plan
  const shape: Record<string, unknown> = {}
  for (const key of Object.keys(plan).sort()) {
    if (isEstimate(dialect, key)) continue
    shape[key] = planShape(dialect, (plan as Record<string, unknown>)[key])
  }
  return shape
}

/** 16 hex digits of the SHA-256 of the plan's shape. */
export const planHash = (dialect: Dialect, plan: unknown): string =>
  createHash("sha256").update(JSON.stringify(planShape(dialect, plan))).digest("hex").slice(0, 16)
