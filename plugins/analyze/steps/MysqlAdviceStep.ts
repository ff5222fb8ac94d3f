import type { MysqlClient } from "@effect/sql-mysql2"
import { Effect, Option, Redacted, type Scope } from "effect"
import type { CollectedEvent } from "../../../src/domain/CollectedEvent.js"
import type { Finding, QueryFindings } from "../../../src/plugin/Finding.js"
import { StageError } from "../../../src/plugin/PipelineStage.js"
import type { StageContext } from "../../../src/plugin/Plugin.js"
import { describeSqlError } from "../../explain/Explainer.js"
import { decide, makePolicy } from "../../explain/Policy.js"
import { mysqlCandidates } from "../advice/MysqlAdvisor.js"
import { type MysqlCostMeasure, mysqlPlanCost } from "../advice/MysqlPlanCost.js"
import { type SandboxVerification, sessionSettings, verifyInSandbox } from "../advice/MysqlSandbox.js"
import { mysqlClient, serverIdentity } from "../advice/MysqlServers.js"
import { isMysqlUrl, mysqlTarget, sameTarget } from "../advice/MysqlTarget.js"
import { type IndexSuggestion, unverifiedSuggestion } from "../advice/Suggestion.js"
import type { AnalyzeStep } from "../AnalyzeStep.js"
import { readMysqlPlan, tableEvidence } from "../rules/MysqlPlan.js"
import type { RuleDialect } from "../rules/Rule.js"
import { INDEX_ADVICE } from "./PostgresAdviceStep.js"

/** What the MySQL/MariaDB index advice needs of the stage's config. */
export interface MysqlAdviceOptions {
  readonly advice_timeout_ms: number
  readonly max_advice_per_run: number
  readonly database_url?: Redacted.Redacted<string> | undefined
  readonly sandbox_url?: Redacted.Redacted<string> | undefined
  readonly sandbox_sample_rows: number
}

const STAGE = "analyze"
const PERCENT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const FIGURE = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

const NO_SANDBOX =
  "no sandbox_url is set: name a scratch database slowq owns in the analyze stage's sandbox_url, with sandbox_sample_rows above 0, to verify it"

/** Where an index would serve: the watched plan's node reading the table, else the table itself. */
const evidenceOfTable = (plan: unknown, suggestion: IndexSuggestion): string => {
  const view = readMysqlPlan(plan)
  const access = view?.tables.find((t) => !t.internal && t.table === suggestion.table)
  return view === undefined || access === undefined
    ? `table ${suggestion.schema}.${suggestion.table}`
    : tableEvidence(view.format, access)
}

const figureName = (measure: MysqlCostMeasure) => (measure === "rows_examined" ? "the rows examined" : "the optimizer's cost")

/**
 * A suggestion as a finding of the query it serves. Verified in the sandbox: the figures and plans there with and
 * without the index (MariaDB: rows examined, MySQL: query cost, both on the copy's sample), and the share the index
 * removes as the reduction. Unverified: a candidate only, `info`, with why and how to verify it.
 */
export const mysqlAdviceFinding = (
  suggestion: IndexSuggestion,
  queryId: string,
  watchedPlan: unknown,
  verified: { readonly measure: MysqlCostMeasure; readonly sampleRows: number } | { readonly reason: string }
): Finding => {
  const subject = `${suggestion.table}(${suggestion.columns.join(", ")})`
  const served = suggestion.statements.find((statement) => statement.id === queryId) ?? suggestion.statements[0]
  const before = served?.cost_before ?? null
  const after = served?.cost_after ?? null
  const base = {
    rule: "mysql_index_suggestion",
    source: INDEX_ADVICE,
    subject,
    evidence: evidenceOfTable(watchedPlan, suggestion),
    advice: `Review and run the DDL (InnoDB builds a secondary index online, without blocking writes; try it on a replica first): ${suggestion.ddl}`,
    suggestion: { kind: "create_index", ddl: suggestion.ddl }
  } as const
  if ("measure" in verified && suggestion.verified && before !== null && after !== null && before > 0) {
    const reduction = Math.min(1, Math.max(0, 1 - after / before))
    return {
      ...base,
      severity: "warn",
      message:
        `An index on ${subject} takes ${figureName(verified.measure)} from ${FIGURE.format(before)} to ${FIGURE.format(after)} ` +
        `(−${PERCENT.format(reduction * 100)}%), checked on a sandbox copy of at most ${FIGURE.format(verified.sampleRows)} rows per table`,
      verified: { cost_before: before, cost_after: after },
      plans: { before: served?.plan_before ?? null, after: served?.plan_after ?? null },
      reduction
    }
  }
  return {
    ...base,
    severity: "info",
    message: `An index on ${subject} may serve this query; not verified (${"reason" in verified ? verified.reason : NO_SANDBOX})`,
    verified: null,
    reduction: 0.05
  }
}

interface Watched {
  readonly sql: MysqlClient.MysqlClient
  readonly mariadb: boolean
}

interface Sandbox {
  readonly sql: MysqlClient.MysqlClient
  readonly database: string
  readonly sameServer: boolean
}

/** The pipelines told, in this process, that their source gives index advice no database to read. */
const warnedWithoutDatabase = new Set<string>()

/**
 * Index advice on MySQL/MariaDB (scope `index_advice`, rule `mysql_index_suggestion`): each query with a new plan
 * of cost (MariaDB: rows examined) 100 or more, the most time in the batch first, within `max_advice_per_run` and
 * `advice_timeout_ms` each. Candidates from the statement and the watched server's information_schema (read only,
 * on the source's connection or `database_url`); verified in the `sandbox_url` database when there is one and
 * `sandbox_sample_rows` is above 0 (MysqlSandbox.ts), else shown unverified. A query whose plan costs less, or
 * whose tables already have the index, is advised nothing, which resolves its earlier advice; one the advice could
 * not finish (refused, over its time, connection lost) or did not reach keeps it.
 *
 * Fails when the sandbox is the watched database (same server by URL or by the servers' own identity, same
 * database): slowq never runs DDL on a watched database. Without a watched connection (a log file source and no
 * `database_url`) it logs why, once per pipeline and process, and advises nothing.
 */
export const mysqlAdviceStep = (
  options: MysqlAdviceOptions,
  context: StageContext<RuleDialect>
): Effect.Effect<AnalyzeStep, StageError, Scope.Scope> =>
  Effect.gen(function* () {
    const none: AnalyzeStep = { name: "MySQL index advice (off)", run: () => Effect.succeed({ findings: [], remember: [] }) }
    const target = Option.match(Option.fromNullable(options.database_url), {
      onSome: (url) => Option.some({ url, password: Option.none<Redacted.Redacted<string>>() }),
      onNone: () => context.source.connection
    })
    if (Option.isNone(target)) {
      // The stage is built for every run, and this is the pipeline's configuration, not the run's: said once.
      if (!warnedWithoutDatabase.has(context.pipeline)) {
        warnedWithoutDatabase.add(context.pipeline)
        yield* Effect.logWarning(
          `analyze: no MySQL/MariaDB index advice: source ${context.source.type} reads no database; set the analyze stage's database_url, or advice: false`
        )
      }
      return none
    }
    const watchedUrl = new URL(Redacted.value(target.value.url))
    if (!isMysqlUrl(watchedUrl)) {
      return yield* new StageError({
        stage: STAGE,
        message: `database_url is not a MySQL/MariaDB URL but source ${context.source.type} collects MySQL statements`
      })
    }
    const sandboxUrl = options.sandbox_url === undefined ? undefined : new URL(Redacted.value(options.sandbox_url))
    const refuse = new StageError({
      stage: STAGE,
      message: "sandbox_url names the watched database: index advice runs DDL in the sandbox, so give a database slowq owns"
    })
    if (sandboxUrl !== undefined && sameTarget(mysqlTarget(watchedUrl), mysqlTarget(sandboxUrl))) return yield* refuse

    const connected = yield* mysqlClient(watchedUrl, target.value.password, mysqlTarget(watchedUrl).database, 1).pipe(
      Effect.flatMap((sql) => Effect.map(serverIdentity(sql), (server) => ({ sql, ...server }))),
      Effect.option
    )
    if (Option.isNone(connected)) {
      yield* Effect.logWarning(`analyze: no MySQL/MariaDB index advice this run (cannot connect to ${watchedUrl.hostname})`)
      return none
    }
    const watched: Watched = connected.value
    let sandbox: Sandbox | undefined
    if (sandboxUrl !== undefined) {
      const database = mysqlTarget(sandboxUrl).database
      const made = yield* mysqlClient(sandboxUrl, Option.none(), database, 1).pipe(
        Effect.flatMap((sql) => Effect.map(serverIdentity(sql), (server) => ({ sql, ...server }))),
        Effect.either
      )
      if (made._tag === "Left") {
        const cause = made.left
        yield* Effect.logWarning(
          `analyze: index suggestions stay unverified this run (cannot reach the sandbox at ${sandboxUrl.hostname}): ${"_tag" in cause && cause._tag === "SqlError" ? describeSqlError(cause) : String(cause)}`
        )
      } else {
        const sameServer = made.right.identity === connected.value.identity
        // The URLs may differ (a host name, a socket) and still reach the same server.
        if (sameServer && database.toLowerCase() === mysqlTarget(watchedUrl).database.toLowerCase()) return yield* refuse
        sandbox = { sql: made.right.sql, database, sameServer }
      }
    }
    if (sandbox === undefined && sandboxUrl === undefined) {
      yield* Effect.logInfo(`analyze: MySQL/MariaDB index suggestions are not verified: ${NO_SANDBOX}`)
    }
    return makeStep(options, watched, sandbox)
  })

const makeStep = (options: MysqlAdviceOptions, watched: Watched, sandbox: Sandbox | undefined): AnalyzeStep => {
  // The explain stage's policy decides again which text may be EXPLAINed: the sandbox EXPLAINs it too.
  const policy = makePolicy({ dialect: "mysql", extraForbidden: [], backslashEscapes: true, ansiQuotes: false })
  let budget = options.max_advice_per_run

  const findingsOf = (verification: SandboxVerification, queryId: string, plan: unknown): ReadonlyArray<Finding> =>
    verification._tag === "Verified"
      ? verification.suggestions.map((s) =>
          mysqlAdviceFinding(s, queryId, plan, { measure: verification.measure, sampleRows: options.sandbox_sample_rows })
        )
      : verification._tag === "Unverified"
        ? verification.suggestions.map((s) => mysqlAdviceFinding(s, queryId, plan, { reason: verification.reason }))
        : []

  /** None when the advice did not run to the end (refused, timed out, connection lost): its findings stay open. */
  const adviseQuery = (sample: CollectedEvent, plan: unknown): Effect.Effect<Option.Option<ReadonlyArray<Finding>>> => {
    const verdict = decide(policy, sample.event.sqlText, sample.fingerprint)
    if (verdict._tag !== "Explain") return Effect.succeed(Option.none())
    const queryId = sample.fingerprint.queryId
    const statement = { id: queryId, sql: sample.event.sqlText }
    const text = verdict.statement.text
    return Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* watched.sql.reserve
        yield* connection.execute(
          sessionSettings(watched.mariadb, options.advice_timeout_ms, Math.min(1000, options.advice_timeout_ms)),
          [],
          undefined
        )
        const { candidates, tables, complete } = yield* mysqlCandidates(connection, text, sample.event.db)
        if (candidates.length === 0) return { _tag: "NoCandidates" } as const
        const unverified = (reason: string): SandboxVerification => ({
          _tag: "Unverified",
          reason,
          suggestions: candidates.map((c) => unverifiedSuggestion(c, statement))
        })
        if (sandbox === undefined) return unverified(NO_SANDBOX)
        if (!complete) return unverified("a table of the statement is not a base table the sandbox can copy")
        const sandboxConnection = yield* sandbox.sql.reserve
        return yield* verifyInSandbox(connection, sandboxConnection, statement, text, candidates, tables, {
          database: sandbox.database,
          sampleRows: options.sandbox_sample_rows,
          statementTimeoutMs: options.advice_timeout_ms,
          lockTimeoutMs: Math.min(1000, options.advice_timeout_ms),
          sameServer: sandbox.sameServer
        })
      })
    ).pipe(
      Effect.timeoutFail({
        duration: options.advice_timeout_ms,
        onTimeout: () => new Error(`not done within advice_timeout_ms (${options.advice_timeout_ms} ms)`)
      }),
      Effect.flatMap((advice) => {
        if (advice._tag === "NoCandidates") return Effect.succeed(Option.some<ReadonlyArray<Finding>>([]))
        if (advice._tag === "Failed") {
          return Effect.logInfo(`analyze: no index advice for query ${queryId}: ${advice.reason}`).pipe(Effect.as(Option.none()))
        }
        const found = Option.some(findingsOf(advice, queryId, plan))
        if (advice._tag === "Unverified" && advice.reason !== NO_SANDBOX) {
          return Effect.logInfo(`analyze: index suggestions for query ${queryId} not verified: ${advice.reason}`).pipe(Effect.as(found))
        }
        return Effect.succeed(found)
      }),
      Effect.catchAll((error) =>
        Effect.logWarning(`analyze: index advice for query ${queryId} failed: ${error.message}`).pipe(Effect.as(Option.none()))
      )
    )
  }

  return {
    name: "MySQL/MariaDB index advice",
    run: Effect.fn("AnalyzeStage.mysqlAdvice")(function* (batch) {
      const findings: Array<QueryFindings> = []
      // The most time in the batch first, so that the budget goes where it pays most.
      const byTime = [...batch.plans.keys()].sort(
        (a, b) => (batch.totals.get(b)?.totalMs ?? 0) - (batch.totals.get(a)?.totalMs ?? 0)
      )
      for (const queryId of byTime) {
        const plan = batch.plans.get(queryId)?.plan
        const sample = batch.slowest.get(queryId)
        const cost = mysqlPlanCost(plan)
        if (sample === undefined || cost === undefined) continue
        // A plan this cheap has nothing to gain (the sandbox's own bar): the advice has run, and found nothing.
        if (cost.cost < 100) {
          findings.push({ queryId, scope: INDEX_ADVICE, findings: [] })
          continue
        }
        if (budget <= 0) continue
        budget--
        const advice = yield* adviseQuery(sample, plan)
        if (Option.isSome(advice)) findings.push({ queryId, scope: INDEX_ADVICE, findings: advice.value })
      }
      return { findings, remember: [] }
    })
  }
}
