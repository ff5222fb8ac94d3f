import { SqlSchema } from "@effect/sql"
import { Context, Effect, Either, Layer, Option, Schema, type Scope } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import { type AiAdviceInput, AiAdvisor, type AiSuggestion, type AiTable } from "../../../src/plugin/AiAdvisor.js"
import { Finding, type QueryFindings, type Severity } from "../../../src/plugin/Finding.js"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"
import { type MemoryEntry, StageError } from "../../../src/plugin/PipelineStage.js"
import type { StageMemory } from "../../../src/plugin/StageMemory.js"
import { decide, makePolicy } from "../../explain/Policy.js"
import { verifyCandidates } from "../advice/HypoPgVerifier.js"
import { candidateDdl, coveredByExisting, type IndexCandidate } from "../advice/IndexCandidates.js"
import { readPostgresCatalog } from "../advice/PostgresCatalog.js"
import type { AiConfig } from "../ai/config.js"
import { normalizePlan } from "../../../src/fingerprint/NormalizeLiterals.js"
import { layer as openAiCompatibleLayer } from "../ai/OpenAiCompatible.js"
import type { AnalyzeStep, BatchPlan } from "../AnalyzeStep.js"
import { tablesOfPlan } from "../rules/PostgresPlan.js"
import type { RuleDialect } from "../rules/Rule.js"
import type { PostgresConnection } from "./PostgresConnection.js"

/**
 * The AI advisor as a step of the analyze stage (scope `ai`), last, so that it reads every other step's findings.
 *
 * Each query given a plan in the batch is asked about once per plan: the answer, as findings, is remembered in the
 * stage's memory by query id with the plan's hash (`ai:<query id>` → { hash, findings, at }), and re-emitted without
 * a call while the explain stage keeps giving that plan. The day's calls are counted there too
 * (`ai-budget:<UTC day>` → calls). Both are stored by the runtime in the batch's transaction, so a restart neither
 * asks again nor spends the day's budget twice, and a batch that is not stored leaves no trace of its answers. The
 * provider's own in-memory cache and budget stay as a second guard; the step asks only what its memory allows.
 *
 * The most time in the batch first, within the day's budget. A call that fails (timeout, HTTP error, transport) is
 * logged once for the query, gives no finding, is not remembered (the next plan of the query asks again) and counts
 * against the budget; a malformed answer is logged by the provider, counts, and is remembered as no findings.
 *
 * An index the AI proposes is resolved against the catalog (exact DDL) and, on PostgreSQL with HypoPG, measured
 * with a hypothetical index under the index advice's bars: shown as verified with the planner's costs only when it
 * passes them, otherwise `verified: null` with the reason in the message.
 */

export const AI = "ai"

export const aiMemoryKey = (queryId: string): string => `ai:${queryId}`
export const aiBudgetKey = (day: string): string => `ai-budget:${day}`

const utcDay = (millis: number): string => new Date(millis).toISOString().slice(0, 10)

/** What the memory holds per query: the answer's findings for the plan of this hash. */
export const AiMemory = Schema.Struct({ hash: Schema.String, findings: Schema.Array(Finding), at: Schema.Number })
export interface AiMemory extends Schema.Schema.Type<typeof AiMemory> {}
const decodeMemory = Schema.decodeUnknownOption(AiMemory)
const decodeCalls = Schema.decodeUnknownOption(Schema.NonNegativeInt)

/** An AI opinion nobody checked removes little of a query's time until proven: it ranks below the rules' findings. */
const unverifiedReduction: Record<Severity, number> = { crit: 0.1, warn: 0.05, info: 0.02 }

const PERCENT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const COST = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

// The tables of a plan as the AI sees them: a CREATE TABLE rebuilt from the catalog (column names, types, NOT NULL;
// no defaults, which may hold values), the indexes' own definitions, the live rows (pg_stat_user_tables, or the
// planner's reltuples while that reads 0) and the bytes of table, indexes and TOAST.
const TablesRequest = Schema.Struct({ schemas: Schema.Array(Schema.NullOr(Schema.String)), tables: Schema.Array(Schema.String) })
const TableRow = Schema.Struct({ name: Schema.String, definition: Schema.String, rows: Schema.Number, bytes: Schema.Number })
const TABLES_SQL = `${SLOWQ_MARKER} SELECT n.nspname || '.' || c.relname AS name,
  'CREATE TABLE ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' (' || coalesce((SELECT string_agg(
      quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
      ', ' ORDER BY a.attnum)
    FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ');' ||
  coalesce((SELECT string_agg(E'\\n' || pg_get_indexdef(i.indexrelid) || ';', '' ORDER BY i.indexrelid)
    FROM pg_index i WHERE i.indrelid = c.oid), '') AS definition,
  CASE WHEN coalesce(s.n_live_tup, 0) > 0 THEN s.n_live_tup::float8 ELSE greatest(c.reltuples::float8, 0) END AS rows,
  pg_total_relation_size(c.oid)::float8 AS bytes
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(schema_name, table_name, ord)
JOIN pg_class c ON c.oid = to_regclass(
  CASE WHEN t.schema_name IS NULL THEN quote_ident(t.table_name)
       ELSE quote_ident(t.schema_name) || '.' || quote_ident(t.table_name) END)
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
ORDER BY t.ord`

/** `public.orders`, `"Odd"."Name"` or `orders`, as a model writes a table. */
const tableRefOf = (text: string): { readonly schema: string | null; readonly name: string } => {
  const parts = text.split(".").map((part) => part.trim().replace(/^"(.*)"$/, "$1").replaceAll('""', '"'))
  return parts.length === 2 ? { schema: parts[0]!, name: parts[1]! } : { schema: null, name: parts.join(".") }
}

type IndexCheck =
  | { readonly _tag: "Verified"; readonly candidate: IndexCandidate; readonly before: number; readonly after: number }
  | { readonly _tag: "Unverified"; readonly reason: string; readonly candidate?: IndexCandidate }

const unverified = (reason: string, candidate?: IndexCandidate): IndexCheck =>
  candidate === undefined ? { _tag: "Unverified", reason } : { _tag: "Unverified", reason, candidate }

export interface AiStepOptions {
  readonly dialect: RuleDialect
  /** Calls per UTC day, failed and rejected ones included. */
  readonly dailyBudget: number
  /** The time the planner check of one proposed index may take (the index advice's `advice_timeout_ms`). */
  readonly checkTimeoutMs: number
}

export const aiStep = (
  advisor: Context.Tag.Service<AiAdvisor>,
  options: AiStepOptions,
  memory: StageMemory,
  connection: Option.Option<PostgresConnection>
): AnalyzeStep => {
  const policy = makePolicy({ dialect: "postgres", extraForbidden: [], backslashEscapes: false, ansiQuotes: false })
  let version: string | undefined

  const findTables = Option.map(connection, ({ sql }) =>
    SqlSchema.findAll({ Request: TablesRequest, Result: TableRow, execute: (request) => sql.unsafe(TABLES_SQL, [request.schemas, request.tables]) })
  )

  /**
   * The server's version: PostgreSQL's from the stage's connection, once per run. MySQL/MariaDB: the stage holds no
   * connection to the source there (the explain stage's is its own), and opening one per run for a version string
   * is not worth it: "unknown", which the model is told as such.
   */
  const serverVersion = Effect.gen(function* () {
    if (version !== undefined) return version
    if (Option.isNone(connection)) return "unknown"
    const rows = yield* connection.value.sql
      .unsafe<{ version: string }>(`${SLOWQ_MARKER} SELECT current_setting('server_version') AS version`)
      .pipe(
        Effect.timeout("2 seconds"),
        Effect.catchAll((error) => Effect.logDebug(`analyze: server version not read: ${error.message}`).pipe(Effect.as([])))
      )
    version = rows[0]?.version ?? "unknown"
    return version
  })

  /** The plan's tables with definitions and sizes (PostgreSQL, the connection's database); none when unreadable. */
  const tablesOf = (plan: unknown, db: string | null): Effect.Effect<ReadonlyArray<AiTable>> => {
    if (Option.isNone(findTables) || Option.isNone(connection)) return Effect.succeed([])
    if (db !== null && db !== connection.value.database) return Effect.succeed([])
    const refs = tablesOfPlan(plan)
    if (refs.length === 0) return Effect.succeed([])
    return findTables.value({ schemas: refs.map((t) => t.schema), tables: refs.map((t) => t.table) }).pipe(
      Effect.timeout("2 seconds"),
      Effect.catchAll((error) =>
        Effect.logDebug(`analyze: table definitions for the AI not read: ${error.message}`).pipe(Effect.as([]))
      )
    )
  }

  const inputOf = (
    queryId: string,
    plan: BatchPlan,
    sample: CollectedEvent,
    earlier: ReadonlyArray<QueryFindings>
  ): Effect.Effect<AiAdviceInput> =>
    Effect.gen(function* () {
      return {
        queryId,
        planHash: plan.hash,
        dialect: options.dialect,
        serverVersion: yield* serverVersion,
        // The fingerprint, never the sample; the provider normalizes all of it once more before it leaves.
        normalizedSql: sample.fingerprint.fingerprint,
        plan: normalizePlan(plan.plan, options.dialect),
        tables: yield* tablesOf(plan.plan, sample.event.db),
        findings: earlier
          .filter((query) => query.queryId === queryId)
          .flatMap((query) => query.findings)
          .map((finding) => ({ rule: finding.rule, severity: finding.severity, message: finding.message }))
      }
    })

  /** Measures one proposed index as the index advice measures its own candidates, on a connection reserved for it. */
  const checkIndex = (
    index: NonNullable<AiSuggestion["index"]>,
    queryId: string,
    sample: CollectedEvent
  ): Effect.Effect<IndexCheck> => {
    if (options.dialect === "mysql") {
      return Effect.succeed(unverified("MySQL/MariaDB has no hypothetical indexes to check it with"))
    }
    if (Option.isNone(connection)) return Effect.succeed(unverified("the stage has no connection to the source's database"))
    const { sql, database } = connection.value
    if (sample.event.db !== null && sample.event.db !== database) {
      return Effect.succeed(unverified(`the query ran in database ${sample.event.db}, not ${database}`))
    }
    const verdict = decide(policy, sample.event.sqlText, sample.fingerprint)
    if (verdict._tag !== "Explain") return Effect.succeed(unverified(`the statement is not EXPLAINed (${verdict.reason})`))
    const ref = tableRefOf(index.table)
    const check = Effect.scoped(
      Effect.gen(function* () {
        const reserved = yield* sql.reserve
        const [catalog] = yield* readPostgresCatalog(reserved, [ref])
        if (catalog === undefined) return unverified(`there is no table ${index.table} in database ${database}`)
        const columns: Array<string> = []
        for (const column of index.columns) {
          const found = catalog.columns.get(column) ?? catalog.columns.get(column.toLowerCase())
          if (found === undefined) return unverified(`${catalog.schema}.${catalog.name} has no column ${column}`)
          columns.push(found)
        }
        const candidate: IndexCandidate = {
          dialect: "postgres",
          database: catalog.database,
          schema: catalog.schema,
          table: catalog.name,
          columns
        }
        if (coveredByExisting(columns, catalog.indexes)) return unverified("an existing index already leads with these columns")
        // The verifier's bars are for one column, and for two only against the best single column of the pair.
        if (columns.length > 2) return unverified("the planner check covers indexes of one or two columns", candidate)
        const single: IndexCandidate = { ...candidate, columns: [columns[0]!] }
        const candidates =
          columns.length === 2 && !coveredByExisting(single.columns, catalog.indexes) ? [single, candidate] : [candidate]
        const verification = yield* verifyCandidates(reserved, { id: queryId, sql: sample.event.sqlText }, verdict.statement, candidates, {
          statementTimeoutMs: options.checkTimeoutMs,
          lockTimeoutMs: Math.min(1000, options.checkTimeoutMs)
        })
        if (verification._tag === "HypoPgMissing") return unverified(`HypoPG is not installed in database ${database}`, candidate)
        if (verification._tag === "Failed") return unverified(`the planner check failed: ${verification.reason}`, candidate)
        const before = verification.costBefore
        const measured = verification.measured.find((m) => m.candidate.columns.join("\u0000") === columns.join("\u0000"))
        if (measured === undefined) {
          return unverified(`the plan's cost (${COST.format(before)}) is under the 100 worth an index`, candidate)
        }
        if (measured.accepted) return { _tag: "Verified", candidate, before, after: measured.cost } satisfies IndexCheck
        if (!measured.used) return unverified(`the planner does not use it (cost ${COST.format(before)})`, candidate)
        const reason =
          measured.cost <= before / 2
            ? `an index on ${columns[0]} alone serves as well (the pair does not halve its cost again)`
            : `the planner's cost goes from ${COST.format(before)} to ${COST.format(measured.cost)}, short of the halving an index must give`
        return unverified(reason, candidate)
      })
    ).pipe(
      Effect.timeoutFail({
        duration: options.checkTimeoutMs,
        onTimeout: () => new Error(`not done within advice_timeout_ms (${options.checkTimeoutMs} ms)`)
      }),
      Effect.catchAll((error) => Effect.succeed(unverified(`the planner check failed: ${error.message}`)))
    )
    return check
  }

  const findingOf = (suggestion: AiSuggestion, queryId: string, sample: CollectedEvent): Effect.Effect<Finding> =>
    Effect.gen(function* () {
      const base = {
        rule: suggestion.rule,
        severity: suggestion.severity,
        evidence: suggestion.evidence,
        advice: suggestion.advice,
        source: "ai"
      } as const
      if (suggestion.index === undefined) {
        return { ...base, message: suggestion.message, subject: "", reduction: unverifiedReduction[suggestion.severity] }
      }
      const check = yield* checkIndex(suggestion.index, queryId, sample)
      const candidate = check.candidate
      const subject =
        candidate === undefined
          ? `${suggestion.index.table}(${suggestion.index.columns.join(", ")})`
          : `${candidate.table}(${candidate.columns.join(", ")})`
      const proposal = candidate === undefined ? null : { kind: "create_index", ddl: candidateDdl(candidate) }
      if (check._tag === "Verified") {
        const reduction = Math.min(1, Math.max(0, 1 - check.after / check.before))
        return {
          ...base,
          subject,
          message: `${suggestion.message} (index checked with a hypothetical index: the planner's cost goes from ${COST.format(check.before)} to ${COST.format(check.after)}, −${PERCENT.format(reduction * 100)}%)`,
          suggestion: proposal,
          verified: { cost_before: check.before, cost_after: check.after },
          reduction
        }
      }
      return {
        ...base,
        subject,
        message: `${suggestion.message} (index not verified: ${check.reason})`,
        suggestion: proposal,
        verified: null,
        reduction: unverifiedReduction[suggestion.severity]
      }
    })

  return {
    name: "AI advice",
    run: Effect.fn("AnalyzeStage.ai")(function* (batch, earlier) {
      if (batch.plans.size === 0) return { findings: [], remember: [] }
      const day = utcDay(batch.now)
      const budgetKey = aiBudgetKey(day)
      const known = yield* Effect.either(memory.get([budgetKey, ...[...batch.plans.keys()].map(aiMemoryKey)]))
      if (Either.isLeft(known)) {
        // Without the memory neither the cache nor the day's count is known: asking now could pay twice.
        yield* Effect.logWarning(`analyze: no AI advice this batch: ${known.left.message}`)
        return { findings: [], remember: [] }
      }
      let spent = Option.getOrElse(decodeCalls(known.right.get(budgetKey)), () => 0)
      let calls = 0
      let waiting = 0
      const findings: Array<QueryFindings> = []
      const remember: Array<MemoryEntry> = []
      const byTime = [...batch.plans.keys()].sort(
        (a, b) => (batch.totals.get(b)?.totalMs ?? 0) - (batch.totals.get(a)?.totalMs ?? 0)
      )
      for (const queryId of byTime) {
        const plan = batch.plans.get(queryId)!
        const sample = batch.slowest.get(queryId)
        if (sample === undefined) continue
        const cached = decodeMemory(known.right.get(aiMemoryKey(queryId)))
        if (Option.isSome(cached) && cached.value.hash === plan.hash) {
          findings.push({ queryId, scope: AI, findings: cached.value.findings })
          continue
        }
        if (spent >= options.dailyBudget) {
          waiting++
          continue
        }
        spent++
        calls++
        const input = yield* inputOf(queryId, plan, sample, earlier)
        const answer = yield* Effect.either(advisor.advise(input))
        if (Either.isLeft(answer)) {
          // The error's message names the endpoint's host and what went wrong; never the key.
          yield* Effect.logWarning(`analyze: no AI advice for query ${queryId}: ${answer.left.message}`)
          continue
        }
        const found: Array<Finding> = []
        for (const suggestion of answer.right) found.push(yield* findingOf(suggestion, queryId, sample))
        findings.push({ queryId, scope: AI, findings: found })
        remember.push({ key: aiMemoryKey(queryId), value: { hash: plan.hash, findings: found, at: batch.now } satisfies AiMemory })
      }
      if (calls > 0) remember.push({ key: budgetKey, value: spent })
      if (waiting > 0) {
        // Said once a day at info: by the batch that spent the budget's last call; later ones say it at debug.
        const text = `analyze: AI call budget spent: ${options.dailyBudget} calls on ${day} (UTC); ${waiting} queries not asked, no more calls until 00:00 UTC`
        yield* calls > 0 ? Effect.logInfo(text) : Effect.logDebug(text)
      }
      return { findings, remember }
    })
  }
}

/**
 * The AI step of the stage's `ai` option, its provider built in the stage's scope (one per run): none for
 * `type: none`. A key that cannot be read fails the stage at start, saying where it looked.
 */
export const makeAiStep = (
  config: { readonly ai: AiConfig; readonly advice_timeout_ms: number },
  dialect: RuleDialect,
  memory: StageMemory,
  connection: Option.Option<PostgresConnection>
): Effect.Effect<ReadonlyArray<AnalyzeStep>, StageError, Scope.Scope> => {
  const ai = config.ai
  if (ai.type === "none") return Effect.succeed([])
  return Layer.build(openAiCompatibleLayer(ai)).pipe(
    Effect.map((context) => [
      aiStep(
        Context.get(context, AiAdvisor),
        { dialect, dailyBudget: ai.daily_budget, checkTimeoutMs: config.advice_timeout_ms },
        memory,
        connection
      )
    ]),
    Effect.mapError(
      (error) => new StageError({ stage: "analyze", message: `the AI advisor cannot start: ${error.message}`, cause: error })
    )
  )
}
