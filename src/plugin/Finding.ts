import { Schema } from "effect"

// What slowq says is wrong with a query and what to do: produced by stages (the analyzer's rules, its index advice,
// regressions, an AI advisor), kept per pipeline, stage, rule and query, and served ranked by impact.

export const Severity = Schema.Literal("info", "warn", "crit")
export type Severity = typeof Severity.Type

export const FindingSource = Schema.Literal("rule", "index_advice", "regression", "ai")
export type FindingSource = typeof FindingSource.Type

/** A change to make: its kind (e.g. `create_index`) and the exact statement to review and run. */
export const Suggestion = Schema.Struct({ kind: Schema.String, ddl: Schema.String })

/** The planner's estimate before and after the suggestion, when it was checked on a real planner. */
export const Verified = Schema.Struct({ cost_before: Schema.Number, cost_after: Schema.Number })

/**
 * The two plans a finding compares, as the database printed them (JSON): without and with a suggested index, or
 * before and after a plan change. `after` is null when there is none to show.
 */
export const FindingPlans = Schema.Struct({ before: Schema.Unknown, after: Schema.Unknown })

export const Finding = Schema.Struct({
  /** The rule's id, e.g. `stmt_select_star`, `mysql_full_scan`, `pg_seq_scan_filter`. */
  rule: Schema.String,
  severity: Severity,
  /** One line, with the numbers that triggered it. */
  message: Schema.String,
  /** Where: the clause or the plan node. */
  evidence: Schema.String,
  /** What to do, in a sentence. */
  advice: Schema.String,
  source: FindingSource,
  /**
   * What the finding is about, stable from one plan to the next (a table, an index's columns): several findings of
   * one rule on one query are told apart by it. Empty when a rule finds one thing per query.
   */
  subject: Schema.optional(Schema.String),
  suggestion: Schema.optional(Schema.NullOr(Suggestion)),
  verified: Schema.optional(Schema.NullOr(Verified)),
  plans: Schema.optional(Schema.NullOr(FindingPlans)),
  /** The share of the query's time it would remove (0–1): the verified cost ratio, or the rule's own estimate. */
  reduction: Schema.optional(Schema.Number)
})
export interface Finding extends Schema.Schema.Type<typeof Finding> {}

/**
 * Everything a stage finds wrong with one query now: the runtime keeps these open and resolves the stage's earlier
 * findings of the query that are not among them (a new plan no longer triggers them).
 */
export interface QueryFindings {
  readonly queryId: string
  /**
   * Which of the stage's checks looked (e.g. `statement`, `plan`): only the stage's findings of the same scope are
   * resolved, so a check that did not run this time (no new plan) leaves its findings open. Default "".
   */
  readonly scope?: string
  readonly findings: ReadonlyArray<Finding>
}
