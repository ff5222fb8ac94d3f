import { Context, Data, Effect, Layer, Schema } from "effect"
import { SqlDialect } from "../fingerprint/SqlDialect.js"

/**
 * The AI hook of the analyzer: a port that, given what slowq knows of one slow query, returns more findings of
 * the analyzer's own shape. Its input is literal-free by contract (normalized SQL, a plan whose literal-bearing
 * fields are normalized, table definitions, the rules' findings); a provider that sends it anywhere re-normalizes
 * it anyway, so a caller's slip never puts a sample on the wire. The default is `AiAdvisor.none`: no AI.
 *
 * The schemas live here, not with the analyze plugin, because `src/` never imports a plugin.
 */

export const AiSeverity = Schema.Literal("info", "warn", "crit").annotations({
  message: (issue) => ({ message: `Expected "info", "warn" or "crit", actual ${JSON.stringify(issue.actual)}`, override: true })
})
export type AiSeverity = typeof AiSeverity.Type

export const AiTable = Schema.Struct({
  /** As the plan names it: `schema.table` (PostgreSQL) or `db.table` (MySQL/MariaDB). */
  name: Schema.String,
  /** Its DDL (SHOW CREATE TABLE, or PostgreSQL's reconstructed CREATE TABLE and CREATE INDEX statements). */
  definition: Schema.String,
  /** Estimated rows (table statistics). */
  rows: Schema.Number,
  /** Size on disk, data and indexes. */
  bytes: Schema.Number
})
export interface AiTable extends Schema.Schema.Type<typeof AiTable> {}

export const AiRuleFinding = Schema.Struct({
  rule: Schema.String,
  severity: AiSeverity,
  message: Schema.String
})
export interface AiRuleFinding extends Schema.Schema.Type<typeof AiRuleFinding> {}

export const AiAdviceInput = Schema.Struct({
  /** The fingerprint's Query ID: with `planHash`, what a provider caches an answer by. Never sent. */
  queryId: Schema.String,
  /** The explain stage's hash of the plan's shape. Never sent. */
  planHash: Schema.String,
  dialect: SqlDialect,
  /** As the server reports it, e.g. `10.11.19-MariaDB`, `15.18`. */
  serverVersion: Schema.String,
  /** The fingerprint: literals already replaced. */
  normalizedSql: Schema.String,
  /** The database's JSON plan with its literal-bearing fields normalized. */
  plan: Schema.Unknown,
  tables: Schema.Array(AiTable),
  findings: Schema.Array(AiRuleFinding)
})
export interface AiAdviceInput extends Schema.Schema.Type<typeof AiAdviceInput> {}

const MAX_IDENTIFIER = 128

const Text = (max: number) => Schema.Trim.pipe(Schema.nonEmptyString(), Schema.maxLength(max))

/** What a model answers with, per finding; a provider decodes every answer with it, and drops a malformed one whole. */
export const AiSuggestion = Schema.Struct({
  /** snake_case; a provider prefixes `ai_` when the model did not, so an AI finding never takes a rule's id. */
  rule: Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_]{0,63}$/)),
  severity: AiSeverity,
  message: Text(500),
  evidence: Text(500),
  advice: Text(1000),
  /** An index the model proposes: shown as verified only once the index advisor checked it on the planner. */
  index: Schema.optionalWith(
    Schema.Struct({
      table: Text(MAX_IDENTIFIER),
      columns: Schema.Array(Text(MAX_IDENTIFIER)).pipe(Schema.minItems(1), Schema.maxItems(16))
    }),
    { exact: true }
  )
})
export interface AiSuggestion extends Schema.Schema.Type<typeof AiSuggestion> {}

/** The whole answer a model must give: strict JSON, at most 20 findings. */
export const AiAnswer = Schema.Struct({
  findings: Schema.Array(AiSuggestion).pipe(Schema.maxItems(20))
})
export interface AiAnswer extends Schema.Schema.Type<typeof AiAnswer> {}

/**
 * A call that did not produce an answer: the provider could not be reached, took too long or answered with an
 * HTTP error. A malformed answer is not an error: it is logged and counts as no suggestion.
 */
export class AiAdvisorError extends Data.TaggedError("AiAdvisorError")<{
  readonly provider: string
  /** `key`: the API key could not be read at start (the message names where it was looked for, never its value). */
  readonly reason: "timeout" | "status" | "transport" | "key"
  /** A sentence a DBA can act on; never the key. */
  readonly message: string
  /** The HTTP status, when `reason` is `status`. */
  readonly status?: number
  readonly cause?: unknown
}> {}

export class AiAdvisor extends Context.Tag("slowq/plugin/AiAdvisor")<
  AiAdvisor,
  {
    readonly advise: (input: AiAdviceInput) => Effect.Effect<ReadonlyArray<AiSuggestion>, AiAdvisorError>
  }
>() {
  /** The default: no AI. Returns nothing, calls nothing, costs nothing. */
  static readonly none: Layer.Layer<AiAdvisor> = Layer.succeed(this, { advise: () => Effect.succeed([]) })
}
