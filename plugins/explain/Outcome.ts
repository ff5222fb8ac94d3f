/**
 * How a plan was obtained: as collected, as a PostgreSQL generic plan, from an exact SELECT rewrite, or `logged`: the
 * database logged it with the execution itself (PostgreSQL's auto_explain), and no EXPLAIN ran.
 */
export type PlanMethod = "direct" | "generic_plan" | "prepared_generic" | "rewritten" | "logged"

/** What the explain stage learned about one event's statement. */
export type ExplainOutcome =
  | {
      readonly _tag: "Plan"
      readonly method: PlanMethod
      readonly capturedAt: Date
      /** Hash of the plan's shape, ignoring costs and row estimates: a new hash is a plan change. */
      readonly hash: string
      /** The database's own JSON plan (EXPLAIN FORMAT=JSON). */
      readonly plan: unknown
    }
  /** Not explained by policy: a result, not an error (e.g. "not a read statement", "truncated text"). */
  | { readonly _tag: "Skipped"; readonly reason: string }
  /** Explained and failed (e.g. lock timeout); remembered for the error TTL. */
  | { readonly _tag: "Failed"; readonly reason: string }
