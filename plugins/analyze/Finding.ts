import { Schema } from "effect"

// What the analyzer says about a query: the shape every rule (and later the index advisor and the AI hook) returns,
// and what the store keeps per pipeline, rule and query.

export const Severity = Schema.Literal("info", "warn", "crit")
export type Severity = typeof Severity.Type

export const FindingSource = Schema.Literal("rule", "index_advice", "regression", "ai")
export type FindingSource = typeof FindingSource.Type

export const Finding = Schema.Struct({
  /** The rule's id, e.g. `select_star`, `mysql_full_scan`, `pg_seq_scan_filter`. */
  rule: Schema.String,
  severity: Severity,
  /** One line, with the numbers that triggered it: "full scan of shop.orders: 200,000 rows examined to return 40". */
  message: Schema.String,
  /** Where: the plan node (`query_block.table[orders]`, `Plan.Plans[0] Seq Scan on orders`) or the clause. */
  evidence: Schema.String,
  /** What to do, in a sentence. */
  advice: Schema.String,
  source: FindingSource
})
export interface Finding extends Schema.Schema.Type<typeof Finding> {}
