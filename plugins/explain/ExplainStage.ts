import { Clock, Duration, Effect, Layer, Option, Redacted, Schema, type Scope } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { SqlDialect as Dialect } from "../../src/fingerprint/SqlDialect.js"
import { attach } from "../../src/plugin/Enrichment.js"
import { PipelineStage, StageError, type StageOutput } from "../../src/plugin/PipelineStage.js"
import type { StageContext as AnyStageContext } from "../../src/plugin/Plugin.js"
import type { Config } from "./config.js"
import { type Explainer, STAGE } from "./Explainer.js"
import * as MysqlExplainer from "./MysqlExplainer.js"
import type { ExplainOutcome } from "./Outcome.js"
import { planHash } from "./PlanHash.js"
import { explainEnrichment } from "./PlanStore.js"
import { decide, type Explainable, makePolicy, type Policy } from "./Policy.js"
import * as PostgresExplainer from "./PostgresExplainer.js"

// index.ts declares mysql and postgres: the runtime builds this stage for no other dialect.
type StageContext = AnyStageContext<Dialect>

/**
 * The explain stage: per batch, each distinct query id is explained at most once, on its slowest sample the policy
 * admits, and the outcome is attached to all of its events. What was explained when is kept in the stage memory (in
 * the store, returned as `remember` and stored with the batch, so it never says "explained" of a plan the store does
 * not hold), so a query is explained again only after `explain_ttl` (or `error_ttl` after a failure), across runs and
 * restarts. At most `max_per_run` EXPLAINs per run, slowest queries first; a query over the budget or within its
 * TTL gets no outcome (its last stored outcome stays), a query the policy refuses gets `Skipped` every time.
 */

/** What the stage remembers per query id. */
const Remembered = Schema.Struct({
  at: Schema.Number,
  status: Schema.Literal("plan", "failed"),
  hash: Schema.optional(Schema.String),
  reason: Schema.optional(Schema.String)
})
type Remembered = typeof Remembered.Type
const decodeRemembered = Schema.decodeUnknownOption(Remembered)

export const memoryKey = (queryId: string) => `query:${queryId}`

/** How many distinct sample texts of one query the policy looks at before giving up on it. */
const SAMPLES_CONSIDERED = 8

interface Target {
  readonly url: Redacted.Redacted<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
}

const schemeDialect = (url: Redacted.Redacted<string>): Dialect | undefined => {
  const protocol = new URL(Redacted.value(url)).protocol
  return protocol === "postgres:" || protocol === "postgresql:"
    ? "postgres"
    : protocol === "mysql:" || protocol === "mariadb:"
      ? "mysql"
      : undefined
}

const resolveTarget = (config: Config, context: StageContext): Effect.Effect<Option.Option<Target>, StageError> => {
  const target: Option.Option<Target> =
    config.explain_url !== undefined
      ? Option.some({
          url: config.explain_url,
          password: Option.fromNullable(config.explain_password)
        })
      : Option.map(context.source.connection, (connection) => ({
          url: connection.url,
          password: config.explain_password === undefined ? connection.password : Option.some(config.explain_password)
        }))
  if (Option.isNone(target)) {
    // A source that logs its plans needs no database: the stage keeps what it logged and explains nothing else.
    if (context.source.logsPlans === true) return Effect.succeed(Option.none())
    return new StageError({
      stage: STAGE,
      message: `source ${context.source.type} reads no database, so there is nothing to EXPLAIN on: set explain_url`
    })
  }
  const dialect = schemeDialect(target.value.url)
  if (dialect !== context.source.dialect) {
    return new StageError({
      stage: STAGE,
      message: `explain_url is a ${dialect ?? "unknown"} URL but source ${context.source.type} collects ${context.source.dialect} statements`
    })
  }
  return Effect.succeed(target)
}

interface Group {
  readonly queryId: string
  /** Events of the query, slowest per call first. */
  readonly events: ReadonlyArray<CollectedEvent>
}

const perCallMs = (event: CollectedEvent) => event.event.queryTimeMs / Math.max(1, event.event.calls)

const groupByQuery = (events: ReadonlyArray<CollectedEvent>): ReadonlyArray<Group> => {
  const groups = new Map<string, Array<CollectedEvent>>()
  for (const event of events) {
    const group = groups.get(event.fingerprint.queryId)
    if (group === undefined) groups.set(event.fingerprint.queryId, [event])
    else group.push(event)
  }
  return [...groups.entries()]
    .map(([queryId, group]) => ({ queryId, events: group.sort((a, b) => perCallMs(b) - perCallMs(a)) }))
    .sort((a, b) => perCallMs(b.events[0]!) - perCallMs(a.events[0]!))
}

type Choice =
  | { readonly _tag: "Explain"; readonly statement: Explainable; readonly db: string | null }
  | { readonly _tag: "Refuse"; readonly reason: string }

/** The slowest sample the policy admits, or the refusal of the slowest one. */
const choose = (policy: Policy, group: Group): Choice => {
  let refusal: string | undefined
  const seen = new Set<string>()
  for (const { event, fingerprint } of group.events) {
    if (seen.has(event.sqlText)) continue
    seen.add(event.sqlText)
    const verdict = decide(policy, event.sqlText, fingerprint)
    if (verdict._tag === "Explain") return { _tag: "Explain", statement: verdict.statement, db: event.db }
    refusal ??= verdict.reason
    if (seen.size >= SAMPLES_CONSIDERED) break
  }
  return { _tag: "Refuse", reason: refusal ?? "empty" }
}

const isFresh = (remembered: Remembered, now: number, config: Config) =>
  now - remembered.at < Duration.toMillis(remembered.status === "plan" ? config.explain_ttl : config.error_ttl)

/**
 * The plan the database logged with one of the group's executions (PostgreSQL's auto_explain): the latest one, as a
 * batch stores one outcome per query. It is the plan that execution really ran with, so no EXPLAIN is run for it.
 */
const loggedPlan = (
  group: Group,
  order: ReadonlyMap<CollectedEvent, number>
): { readonly plan: unknown; readonly atMs: number } | undefined => {
  let latest: { readonly plan: unknown; readonly atMs: number; readonly index: number } | undefined
  for (const collected of group.events) {
    const { event } = collected
    if (event.plan === undefined) continue
    const atMs = Math.round(event.startTimeUs / 1000 + event.queryTimeMs)
    // A log's times may have milliseconds only: of two executions in the same millisecond, the later in the batch.
    const index = order.get(collected) ?? 0
    if (latest === undefined || atMs > latest.atMs || (atMs === latest.atMs && index > latest.index)) {
      latest = { plan: event.plan, atMs, index }
    }
  }
  return latest
}

/**
 * Builds the stage on an explainer (none: a source that logs its plans, and no database to EXPLAIN the others on);
 * the seam the tests use to drive the real thing.
 */
export const makeWith = (config: Config, context: StageContext, explainer: Explainer | undefined) =>
  Effect.gen(function* () {
    const dialect = context.source.dialect
    const policy = makePolicy({
      dialect,
      extraForbidden: config.forbidden,
      backslashEscapes: explainer?.backslashEscapes ?? false,
      ansiQuotes: explainer?.ansiQuotes ?? false
    })
    let budget = config.max_per_run

    const process = Effect.fn("ExplainStage.process")(function* (events: ReadonlyArray<CollectedEvent>) {
      const groups = groupByQuery(events)
      const order = new Map(events.map((event, index) => [event, index]))
      const remembered = yield* context.memory.get(groups.map((g) => memoryKey(g.queryId)))
      const outcomes = new Map<string, ExplainOutcome>()
      const pending: Array<{ readonly queryId: string; readonly statement: Explainable; readonly db: string | null }> = []
      let deferredByTtl = 0
      let overBudget = 0
      const now = yield* Clock.currentTimeMillis
      const logged: Array<{ readonly queryId: string; readonly remember: Remembered }> = []
      for (const group of groups) {
        // Logged with the execution: kept as it is, whatever the TTL and the budget (it costs the database nothing).
        const found = loggedPlan(group, order)
        if (found !== undefined) {
          const hash = planHash(dialect, found.plan)
          outcomes.set(group.queryId, { _tag: "Plan", method: "logged", capturedAt: new Date(found.atMs), hash, plan: found.plan })
          logged.push({ queryId: group.queryId, remember: { at: now, status: "plan", hash } })
          continue
        }
        if (explainer === undefined) continue
        const choice = choose(policy, group)
        if (choice._tag === "Refuse") {
          outcomes.set(group.queryId, { _tag: "Skipped", reason: choice.reason })
          continue
        }
        const memory = Option.flatMap(Option.fromNullable(remembered.get(memoryKey(group.queryId))), decodeRemembered)
        if (Option.isSome(memory) && isFresh(memory.value, now, config)) {
          deferredByTtl++
          continue
        }
        if (budget <= 0) {
          overBudget++
          continue
        }
        budget--
        pending.push({ queryId: group.queryId, statement: choice.statement, db: choice.db })
      }

      // Nothing is pending without an explainer.
      const explained = explainer === undefined ? [] : yield* Effect.forEach(
        pending,
        ({ queryId, statement, db }) =>
          Effect.gen(function* () {
            const attempt = yield* explainer.explain(statement, db)
            const at = yield* Clock.currentTimeMillis
            if (attempt._tag === "Plan") {
              const hash = planHash(dialect, attempt.plan)
              const outcome: ExplainOutcome = {
                _tag: "Plan",
                method: attempt.method,
                capturedAt: new Date(at),
                hash,
                plan: attempt.plan
              }
              return { queryId, outcome, remember: { at, status: "plan", hash } satisfies Remembered }
            }
            // Not the reason: a database's error may quote the statement's values, which the pipeline's sample policy
            // may keep out of everything slowq writes. It is stored (under that policy) and served by the API.
            yield* Effect.logDebug("EXPLAIN failed").pipe(Effect.annotateLogs({ query_id: queryId }))
            const outcome: ExplainOutcome = { _tag: "Failed", reason: attempt.reason }
            return { queryId, outcome, remember: { at, status: "failed", reason: attempt.reason } satisfies Remembered }
          }),
        { concurrency: config.max_connections }
      )
      for (const { queryId, outcome } of explained) outcomes.set(queryId, outcome)

      const counts = { plans: 0, failed: 0, skipped: 0 }
      for (const outcome of outcomes.values()) {
        if (outcome._tag === "Plan") counts.plans++
        else if (outcome._tag === "Failed") counts.failed++
        else counts.skipped++
      }
      yield* Effect.logDebug("explain stage processed a batch").pipe(
        Effect.annotateLogs({
          queries: groups.length,
          plans: counts.plans,
          failed: counts.failed,
          skipped: counts.skipped,
          within_ttl: deferredByTtl,
          over_budget: overBudget
        })
      )
      if (overBudget > 0) {
        yield* Effect.logInfo("explain budget of this run used up; the rest waits for the next run").pipe(
          Effect.annotateLogs({ max_per_run: config.max_per_run, waiting: overBudget })
        )
      }

      return {
        events: events.map((event): CollectedEvent => {
          const outcome = outcomes.get(event.fingerprint.queryId)
          return outcome === undefined ? event : attach(event, explainEnrichment, outcome)
        }),
        remember: [...logged, ...explained].map(({ queryId, remember }) => ({ key: memoryKey(queryId), value: remember }))
      } satisfies StageOutput
    })

    return { process }
  })

const makeExplainer = (
  config: Config,
  context: StageContext
): Effect.Effect<Explainer | undefined, StageError, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = yield* resolveTarget(config, context)
    if (Option.isNone(resolved)) return undefined
    const target = resolved.value
    const options = {
      url: target.url,
      password: target.password,
      maxConnections: config.max_connections,
      statementTimeoutMs: config.statement_timeout_ms,
      lockTimeoutMs: config.lock_timeout_ms
    }
    return context.source.dialect === "postgres"
      ? yield* PostgresExplainer.make(options)
      : yield* MysqlExplainer.make(options)
  })

/** The stage as a layer of the port; its connection pool lives and dies with the layer (one pipeline run). */
export const layer = (config: Config, context: StageContext): Layer.Layer<PipelineStage, StageError> =>
  Layer.scoped(
    PipelineStage,
    Effect.gen(function* () {
      const explainer = yield* makeExplainer(config, context)
      return yield* makeWith(config, context, explainer)
    })
  )
