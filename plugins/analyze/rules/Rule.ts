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
  // A method, not a function property: its parameters are then checked bivariantly, so rules of different thresholds
  // fit in one `AnyRule` list. Each is only ever called with its own thresholds (runRules merges over them).
  check(input: I, thresholds: T): ReadonlyArray<Finding>
}

/** A rule of any thresholds, for lists of rules. */
export type AnyRule<I> = Rule<I>

/** What a pipeline's overrides are checked against: a rule's id and its thresholds, of any input. */
export type RuleThresholds = Pick<Rule<unknown>, "id" | "thresholds">

/** A rule's finding: source `rule`, the rest as the rule words it. */
export const ruleFinding = (rule: string, severity: Severity, message: string, evidence: string, advice: string): Finding => ({
  rule,
  severity,
  message,
  evidence,
  advice,
  source: "rule"
})
