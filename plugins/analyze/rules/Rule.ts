import type { Finding, Severity } from "../../../src/plugin/Finding.js"

/** The SQL dialects the rules know. */
export type RuleDialect = "mysql" | "postgres"

/** A statement as the statement rules see it: its text as collected (literals may be `?`/`$1`) and its dialect. */
export interface StatementInput {
  readonly dialect: RuleDialect
  readonly sql: string
}

/**
 * A plan as the plan rules see it: the database's own JSON plan (EXPLAIN FORMAT=JSON: MariaDB's, MySQL's v1
 * `query_block` or 8.3+ v2 `operation`/`inputs`; PostgreSQL's `EXPLAIN (FORMAT JSON)`, with actuals when it was
 * `EXPLAIN ANALYZE`), and what the analyzer read of the tables it touches.
 */
export interface PlanInput {
  readonly dialect: RuleDialect
  readonly plan: unknown
  /** PostgreSQL: per table (`schema.table`), from pg_stat_user_tables; absent when not read. */
  readonly tableStats?: ReadonlyMap<string, TableStats>
  /** When the analysis runs (for "not analyzed for long"), epoch ms. */
  readonly now: number
}

export interface TableStats {
  /** Live rows (n_live_tup). */
  readonly liveRows: number
  /** Modified rows since the last ANALYZE (n_mod_since_analyze). */
  readonly modifiedSinceAnalyze: number
  /** Last ANALYZE or autoanalyze, epoch ms; null: never. */
  readonly lastAnalyzedAt: number | null
}

/**
 * One rule: an id, a severity, what it checks (its README entry says the same), its thresholds with their defaults
 * (a pipeline may change them), and the check. A check is pure and never throws on a plan or text it does not
 * understand: it returns no finding.
 */
export interface Rule<I, T extends Record<string, number> = Record<string, number>> {
  readonly id: string
  readonly severity: Severity
  readonly dialects: ReadonlyArray<RuleDialect>
  /** One sentence: what the rule finds and why it matters. */
  readonly description: string
  readonly thresholds: T
  /**
   * The share of a query's time (0–1) that doing what the finding says is expected to remove, when the check cannot
   * compute it from the numbers it read (a finding may carry its own `reduction`, e.g. 1 − kept/read of a scan).
   * It ranks findings: impact = reduction × the query's time. Each rule's value is argued where the rule is defined.
   */
  readonly reduction: number
  // A method, not a function property: its parameters are then checked bivariantly, so rules of different thresholds
  // fit in one `AnyRule` list. Each is only ever called with its own thresholds (runRules merges over them).
  check(input: I, thresholds: T): ReadonlyArray<Finding>
}

/** A rule of any thresholds, for lists of rules. */
export type AnyRule<I> = Rule<I>

/** What a pipeline's overrides are checked against: a rule's id and its thresholds, of any input. */
export type RuleThresholds = Pick<Rule<unknown>, "id" | "thresholds">

/**
 * A rule's finding: source `rule`, the rest as the rule words it; `reduction` when the check computed one from its
 * numbers (else runRules gives it the rule's declared one).
 */
export const ruleFinding = (
  rule: string,
  severity: Severity,
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

/**
 * The share of the rows read that a better access path would not read (1 − kept/read), as the expected reduction of
 * a scan's finding: bounded to [0.05, 0.95], since the rest of the query's work (the rows kept, the other nodes,
 * the round trip) stays, and an index read costs something even when it finds nothing.
 */
export const scanReduction = (kept: number, read: number): number =>
  read <= 0 ? 0.05 : Math.min(0.95, Math.max(0.05, 1 - kept / read))
