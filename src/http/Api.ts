import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Data, Duration, Either, Option, ParseResult, Schema } from "effect"
import { parseDuration } from "../domain/Duration.js"
import type { AnyEnrichment } from "../plugin/Enrichment.js"
import { Severity } from "../plugin/Finding.js"
import { FindingView, QueryFindingView, SuggestionView } from "../store/FindingReads.js"
import { SeriesPoint, SparkSeries } from "../store/SeriesReads.js"
import {
  MAX_FACET_NAMES,
  QueryFacets,
  QueryInterval,
  QueryListItem,
  QueryOrder,
  QuerySample,
  QueryStats,
  QueryTotals
} from "../store/QueryReads.js"

// The API's one definition: routes, parameters, responses and errors. The server, the OpenAPI document and the
// docs page are all derived from it; the query schemas are the store's own row schemas, plus the fields of the
// registered enrichments (makeSlowqApi).

// ---------------------------------------------------------------------------------------------------------------------
// Errors: each a JSON body `{ "_tag", "message", … }` with its status.

export class UnauthorizedError extends Schema.TaggedError<UnauthorizedError>()(
  "UnauthorizedError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401, description: "No bearer token was sent." })
) {}

export class ForbiddenError extends Schema.TaggedError<ForbiddenError>()(
  "ForbiddenError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403, description: "The bearer token is wrong, or control is disabled." })
) {}

export class NotFoundError extends Schema.TaggedError<NotFoundError>()(
  "NotFoundError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "No such pipeline, query or route." })
) {}

export class BadRequestError extends Schema.TaggedError<BadRequestError>()(
  "BadRequestError",
  { message: Schema.String, parameter: Schema.String },
  HttpApiSchema.annotations({ status: 400, description: "Parameters that are valid one by one but not together." })
) {}

export class PipelineRunningError extends Schema.TaggedError<PipelineRunningError>()(
  "PipelineRunningError",
  { message: Schema.String, pipeline: Schema.String, run: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "The pipeline is running already; `run` is that run." })
) {}

export class StoreUnavailableError extends Schema.TaggedError<StoreUnavailableError>()(
  "StoreUnavailableError",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503, description: "The store could not answer." })
) {}

export class OverloadedError extends Schema.TaggedError<OverloadedError>()(
  "OverloadedError",
  { message: Schema.String },
  HttpApiSchema.annotations({
    status: 503,
    description: "Too many store reads are waiting already; retry after the `Retry-After` header's seconds."
  })
) {}

export class MisdirectedRequestError extends Schema.TaggedError<MisdirectedRequestError>()(
  "MisdirectedRequestError",
  { message: Schema.String },
  HttpApiSchema.annotations({
    status: 421,
    description:
      "The Host header names neither this server's address, localhost, nor a name of SLOWQ_HTTP_ALLOWED_HOSTS (a defence against DNS rebinding)."
  })
) {}

export class NotReadyError extends Schema.TaggedError<NotReadyError>()(
  "NotReadyError",
  { message: Schema.String, store: Schema.Boolean, pipelines: Schema.Number },
  HttpApiSchema.annotations({ status: 503, description: "The store is unreachable or the pipelines are not loaded." })
) {}

// ---------------------------------------------------------------------------------------------------------------------
// Access: a bearer token, checked by the middlewares of ApiAuth.ts.

/** Required by every endpoint that changes something: pipelines run, pause and resume; the scheduler. */
export class ControlAccess extends HttpApiMiddleware.Tag<ControlAccess>()("slowq/http/ControlAccess", {
  failure: Schema.Union(UnauthorizedError, ForbiddenError),
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** Required by the read endpoints under /api/v1 unless SLOWQ_API_PUBLIC_READ=true. */
export class ReadAccess extends HttpApiMiddleware.Tag<ReadAccess>()("slowq/http/ReadAccess", {
  failure: Schema.Union(UnauthorizedError, ForbiddenError),
  security: { bearer: HttpApiSecurity.bearer }
}) {}

// ---------------------------------------------------------------------------------------------------------------------
// Parameters

const showActual = (issue: ParseResult.ParseIssue) =>
  issue.actual === undefined ? "nothing" : JSON.stringify(issue.actual)

const expected = (what: string) => (issue: ParseResult.ParseIssue) => ({
  message: `Expected ${what}, actual ${showActual(issue)}`,
  override: true
})

export const PipelineName = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]{0,99}$/),
  Schema.annotations({
    description: "A pipeline's name (snake_case).",
    message: expected("a pipeline name (snake_case: a-z, 0-9, _)")
  })
)

export const QueryId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,128}$/),
  Schema.annotations({
    description: "A query id, as listed by GET /api/v1/queries.",
    message: expected("a query id (letters, digits, _ or -)")
  })
)

const integerParam = (min: number, max: number, description: string) =>
  Schema.NumberFromString.pipe(
    Schema.int(),
    Schema.between(min, max),
    Schema.annotations({ description, message: expected(`an integer from ${min} to ${max}`) })
  )

/** A point in time: ISO 8601, or a duration back from now (`90s`, `15m`, `1h`, `7d`, `1h30m`). */
export type TimeParam = { readonly _tag: "At"; readonly date: Date } | { readonly _tag: "Ago"; readonly millis: number }

/**
 * The longest duration a time parameter takes: 100 years back stays well inside PostgreSQL's timestamps (a
 * larger one such as 3000000d reached the store and came back as "timestamp out of range").
 */
export const maxDurationDays = 36_500
const maxDurationMillis = maxDurationDays * 86_400_000

const isoDateTime = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/

export const TimeParam = Schema.transformOrFail(
  Schema.String.annotations({
    description: `ISO 8601 (2024-05-01T12:00:00Z), or a duration back from now: 90s, 15m, 1h, 7d, 1h30m (at most ${maxDurationDays}d).`
  }),
  Schema.Union(
    Schema.TaggedStruct("At", { date: Schema.DateFromSelf }),
    Schema.TaggedStruct("Ago", { millis: Schema.Number })
  ),
  {
    strict: true,
    decode: (text, _, ast) => {
      if (isoDateTime.test(text)) {
        const date = new Date(text)
        if (!Number.isNaN(date.getTime())) return ParseResult.succeed({ _tag: "At" as const, date })
      }
      return Option.match(parseDuration(text), {
        onNone: () =>
          ParseResult.fail(
            new ParseResult.Type(
              ast,
              text,
              `Expected an ISO 8601 time or a duration such as 15m, 1h, 7d, actual ${JSON.stringify(text)}`
            )
          ),
        onSome: (duration) =>
          Duration.toMillis(duration) > maxDurationMillis
            ? ParseResult.fail(
                new ParseResult.Type(
                  ast,
                  text,
                  `Expected a duration back from now of at most ${maxDurationDays}d (100 years), actual ${JSON.stringify(text)}`
                )
              )
            : ParseResult.succeed({ _tag: "Ago" as const, millis: Duration.toMillis(duration) })
      })
    },
    encode: (value) =>
      ParseResult.succeed(value._tag === "At" ? value.date.toISOString() : `${Math.round(value.millis / 1000)}s`)
  }
)

/** A bucket width, decoded to whole seconds, from 1s to maxDurationDays. */
const BucketParam = Schema.transformOrFail(
  Schema.String.annotations({
    description: `Width of the series' buckets: 1m, 5m, 1h, 1d… (1s to ${maxDurationDays}d). Chosen from the window when absent.`
  }),
  Schema.Int.pipe(Schema.between(1, maxDurationDays * 86_400)),
  {
    strict: true,
    decode: (text, _, ast) => {
      const seconds = Option.map(parseDuration(text), (duration) => Math.round(Duration.toSeconds(duration)))
      return Option.isSome(seconds) && seconds.value >= 1 && seconds.value <= maxDurationDays * 86_400
        ? ParseResult.succeed(seconds.value)
        : ParseResult.fail(
            new ParseResult.Type(
              ast,
              text,
              `Expected a duration from 1s to ${maxDurationDays}d such as 1m, 5m, 1h, actual ${JSON.stringify(text)}`
            )
          )
    },
    encode: (seconds) => ParseResult.succeed(`${seconds}s`)
  }
)

// Unknown parameters are errors, not silently ignored: a misspelt `limt=5` must not return the default page.
const strictParams = { parseOptions: { onExcessProperty: "error" } } as const

export { QueryFacets }

/** A database or user name to filter by: any text a server may name them with, within reason. */
const FilterName = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(256),
  Schema.annotations({ message: expected("a name of 1 to 256 characters") })
)

const ListQueriesParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline." }),
  since: Schema.optionalWith(TimeParam, { exact: true }).annotations({ description: "Start of the window (inclusive). Absent: all time." }),
  until: Schema.optionalWith(TimeParam, { exact: true }).annotations({ description: "End of the window (exclusive). Absent: now." }),
  order: Schema.optionalWith(
    QueryOrder.annotations({ message: expected("one of total_ms | avg_ms | calls | max_ms | rows_examined | p95_ms") }),
    { exact: true }
  ).annotations({
    description:
      "Ranking: total_ms (default), avg_ms, calls, max_ms, rows_examined or p95_ms (the 95th percentile of the time per call, from the rollups' latency histograms: over a window only, with since or until; all time it is a 400)."
  }),
  statement_type: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[a-z][a-z_]{0,31}$/)).annotations({ message: expected("a statement type such as select") }),
    { exact: true }
  ).annotations({ description: "Only fingerprints of this statement type (select, insert, update, delete, …)." }),
  database: Schema.optionalWith(FilterName, { exact: true }).annotations({
    description: "Only fingerprints seen in this database (their events' db; see GET /api/v1/queries/facets)."
  }),
  user: Schema.optionalWith(FilterName, { exact: true }).annotations({
    description:
      "Only fingerprints run by this account: the user name alone (app, not app[app] @ host), as GET /api/v1/queries/facets lists them."
  }),
  totals: Schema.optionalWith(Schema.Literal("true", "false").annotations({ message: expected("true or false") }), {
    exact: true
  }).annotations({
    description:
      "Also sum total_ms and calls over every fingerprint the filters keep (default false): one more read over all of them, 20-65 ms with 100k fingerprints."
  }),
  limit: Schema.optionalWith(integerParam(1, 1000, "Page size (default 50)."), { exact: true }),
  offset: Schema.optionalWith(integerParam(0, 10_000_000, "Fingerprints to skip (default 0)."), { exact: true })
}).annotations(strictParams)

const FacetsParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline's fingerprints." })
}).annotations(strictParams)

const GetQueryParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline's events." }),
  since: Schema.optionalWith(TimeParam, { exact: true }).annotations({ description: "Start of the series (default: 24 hours before `until`)." }),
  until: Schema.optionalWith(TimeParam, { exact: true }).annotations({ description: "End of the series (default: now)." }),
  bucket: Schema.optionalWith(BucketParam, { exact: true }),
  samples: Schema.optionalWith(integerParam(0, 100, "How many recent samples (default 10)."), { exact: true })
}).annotations(strictParams)

/** A series step: a whole number of minutes (rollups are per minute), from 1m to 100 days. */
const StepParam = Schema.transformOrFail(
  Schema.String.annotations({
    description: "Width of the series' buckets in whole minutes: 1m, 5m, 1h, 1d… Chosen from the window when absent."
  }),
  Schema.Int.pipe(Schema.between(60, maxDurationDays * 86_400)),
  {
    strict: true,
    decode: (text, _, ast) => {
      const seconds = Option.map(parseDuration(text), (duration) => Math.round(Duration.toSeconds(duration)))
      return Option.isSome(seconds) && seconds.value >= 60 && seconds.value % 60 === 0 && seconds.value <= maxDurationDays * 86_400
        ? ParseResult.succeed(seconds.value)
        : ParseResult.fail(
            new ParseResult.Type(
              ast,
              text,
              `Expected whole minutes from 1m to ${maxDurationDays}d such as 1m, 5m, 1h (the series is read from per-minute rollups), actual ${JSON.stringify(text)}`
            )
          )
    },
    encode: (seconds) => ParseResult.succeed(`${seconds / 60}m`)
  }
)

const SeriesParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline's calls." }),
  since: Schema.optionalWith(TimeParam, { exact: true }).annotations({ description: "Start of the series (default: 24 hours before `until`)." }),
  until: Schema.optionalWith(TimeParam, { exact: true }).annotations({ description: "End of the series (default: now)." }),
  step: Schema.optionalWith(StepParam, { exact: true })
}).annotations(strictParams)

export const RollupSeries = Schema.Struct({
  query_id: Schema.String,
  since: Schema.Date,
  until: Schema.Date,
  step_seconds: Schema.Number,
  points: Schema.Array(SeriesPoint).annotations({
    description: "Every bucket from the one holding `since` to the last before `until`, empty ones included."
  })
}).annotations({ identifier: "RollupSeries" })

/** The most queries one GET /api/v1/series answers for: two pages of the dashboard's list. */
export const MAX_SERIES_IDS = 100

const SeriesBatchParams = Schema.Struct({
  ids: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9_-]{1,128}(,[A-Za-z0-9_-]{1,128})*$/),
    Schema.annotations({
      description: `Query ids, comma-separated, at most ${MAX_SERIES_IDS}.`,
      message: expected("query ids separated by commas (letters, digits, _ or -)")
    })
  ),
  ...SeriesParams.fields
}).annotations(strictParams)

export const SeriesBatch = Schema.Struct({
  since: Schema.Date,
  until: Schema.Date,
  step_seconds: Schema.Number,
  starts: Schema.Array(Schema.Date).annotations({
    description: "Every step from the one holding `since` to the last before `until`: each series' values are aligned on these."
  }),
  series: Schema.Array(SparkSeries).annotations({
    description: "One per pipeline holding one of the ids (or the one pipeline asked for), in the order of the ids; an id no pipeline holds is absent."
  })
}).annotations({ identifier: "SeriesBatch" })

const ListFindingsParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline." }),
  severity: Schema.optionalWith(Severity.annotations({ message: expected("one of info | warn | crit") }), {
    exact: true
  }).annotations({ description: "At least this severity: info (all), warn (warn and crit) or crit." }),
  rule: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_]{0,63}$/)).annotations({ message: expected("a rule id such as mysql_full_scan") }),
    { exact: true }
  ).annotations({ description: "Only this rule." }),
  resolved: Schema.optionalWith(
    Schema.Literal("true", "false").annotations({ message: expected("true or false") }),
    { exact: true }
  ).annotations({ description: "Resolved findings too, after the open ones (default false)." }),
  limit: Schema.optionalWith(integerParam(1, 1000, "How many (default 50)."), { exact: true })
}).annotations(strictParams)

const ListSuggestionsParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline." }),
  limit: Schema.optionalWith(integerParam(1, 1000, "How many (default 50)."), { exact: true })
}).annotations(strictParams)

const QueryFindingsParams = Schema.Struct({
  pipeline: Schema.optionalWith(PipelineName, { exact: true }).annotations({ description: "Only this pipeline's findings." })
}).annotations(strictParams)

// An empty Struct accepts any object (excess keys are not checked without declared ones): every key is refused here.
const NoParams = Schema.Record({
  key: Schema.String,
  value: Schema.Never.annotations({ message: () => "is unexpected: this endpoint takes no query parameters" })
})

// ---------------------------------------------------------------------------------------------------------------------
// Responses

export const RunView = Schema.Struct({
  run: Schema.String.annotations({ description: "The run id, as in the logs." }),
  trigger: Schema.Literal("schedule", "manual"),
  started_at: Schema.Date,
  duration_ms: Schema.Number,
  events_read: Schema.Number,
  events_stored: Schema.Number,
  events_dropped: Schema.Number.annotations({
    description: "Events the store refused (a value it cannot hold): left out, logged, kept in slowq_dropped_events."
  }),
  new_fingerprints: Schema.Number,
  error: Schema.NullOr(Schema.String).annotations({ description: "Why the run failed after its retries; null if it did not." })
}).annotations({ identifier: "Run" })

export const PipelineView = Schema.Struct({
  name: Schema.String,
  source_type: Schema.String,
  schedule: Schema.String.annotations({ description: "As written in the pipeline file: `30s` or a cron expression." }),
  state: Schema.Literal("scheduled", "running", "paused", "failing", "standby").annotations({
    description: "standby: another replica sharing the store holds the pipeline's lease and runs it (see owner)."
  }),
  paused: Schema.Boolean.annotations({
    description: "Paused on its own (POST …/pause), on whichever replica runs it; the scheduler's pause is scheduler_paused."
  }),
  owner: Schema.NullOr(Schema.String).annotations({
    description:
      "The replica (SLOWQ_REPLICA_ID) holding the pipeline's lease, which runs it, as of this replica's last lease round (a quarter of SLOWQ_LEASE_TTL); null before the first."
  }),
  running: Schema.NullOr(Schema.Struct({ run: Schema.String, started_at: Schema.Date })),
  last_run: Schema.NullOr(RunView),
  next_run_at: Schema.NullOr(Schema.Date),
  consecutive_failures: Schema.Number,
  totals: Schema.Struct({
    runs: Schema.Number,
    failures: Schema.Number,
    events_read: Schema.Number,
    events_stored: Schema.Number,
    events_dropped: Schema.Number,
    new_fingerprints: Schema.Number
  }).annotations({ description: "Since the daemon started." })
}).annotations({ identifier: "Pipeline" })

export const PipelineDetail = Schema.Struct({
  ...PipelineView.fields,
  recent_runs: Schema.Array(RunView).annotations({ description: "Newest first, at most 20." })
}).annotations({ identifier: "PipelineDetail" })

export const PipelineList = Schema.Struct({
  scheduler_paused: Schema.Boolean,
  pipelines: Schema.Array(PipelineView)
}).annotations({ identifier: "PipelineList" })

export const RunAccepted = Schema.Struct({
  pipeline: Schema.String,
  run: Schema.String.annotations({
    description:
      "The id of the run that started; when another replica runs the pipeline, of the run asked of it, which starts on its next lease round."
  })
}).annotations({ identifier: "RunAccepted" })

export const SchedulerState = Schema.Struct({ scheduler_paused: Schema.Boolean }).annotations({
  identifier: "SchedulerState"
})

// The query endpoints' answers are the core's fields plus those of every registered enrichment (see
// plugin/Enrichment): a stage adds API fields, documented in the OpenAPI document, without an edit here. The core
// schemas below are what the handlers are typed by; the answers are encoded with the enriched ones of makeSlowqApi.

/** A query list page, core fields only (each row of a served page also has the enrichments' list fields). */
export const QueryList = Schema.Struct({
  since: Schema.NullOr(Schema.Date).annotations({ description: "The window used; null for all time." }),
  until: Schema.NullOr(Schema.Date),
  order: QueryOrder,
  limit: Schema.Number,
  offset: Schema.Number,
  next_offset: Schema.NullOr(Schema.Number).annotations({ description: "Offset of the next page; null on the last." }),
  totals: Schema.NullOr(QueryTotals).annotations({
    description:
      "With totals=true, total_ms and calls summed over every fingerprint the filters keep (pipeline, statement_type, database, user), in the window or all time: a row's share of the whole is its own over these. Null otherwise."
  }),
  queries: Schema.Array(QueryListItem)
}).annotations({ identifier: "QueryList" })

const QuerySeries = Schema.Struct({
  since: Schema.Date,
  until: Schema.Date,
  bucket_seconds: Schema.Number,
  intervals: Schema.Array(QueryInterval).annotations({ description: "Buckets with events only, oldest first." })
})

const detailTail = {
  series: QuerySeries,
  samples: Schema.Array(QuerySample).annotations({
    description: "The latest events, newest first; within since..until when either is given."
  })
}

/** One query, core fields only (a served answer also has the enrichments' detail fields, before `series`). */
export const QueryDetail = Schema.Struct({ ...QueryStats.fields, ...detailTail }).annotations({ identifier: "QueryDetail" })

/** Values of enrichment fields: declared by plugins at run time, so TypeScript cannot follow them. */
export type EnrichmentValues = { readonly [field: string]: unknown }

/**
 * A Struct of `head`, then `extra`, then `tail`, typed as the core's fields plus loosely typed others: the value is
 * exactly the Struct of all of them (a schema of a type TypeScript cannot name, hence `Schema.make` over its AST).
 * Encoding keeps the declared fields only, in this order.
 */
const enrichedStruct = <Head extends Schema.Struct.Fields, Tail extends Schema.Struct.Fields>(
  identifier: string,
  head: Head,
  extra: Schema.Struct.Fields,
  tail: Tail
) =>
  Schema.make<
    Schema.Struct.Type<Head & Tail> & EnrichmentValues,
    Schema.Struct.Encoded<Head & Tail> & EnrichmentValues,
    Schema.Struct.Context<Head & Tail>
  >(Schema.Struct({ ...head, ...extra, ...tail }).annotations({ identifier }).ast)

/** An enrichment field that would hide a core field or another enrichment's: refused before the API serves. */
export class EnrichmentFieldError extends Data.TaggedError("EnrichmentFieldError")<{
  readonly message: string
  readonly enrichment: string
  readonly field: string
}> {}

/** The fields every enrichment adds at `where`, checked against the core's and each other's. */
const claimFields = (
  where: string,
  core: ReadonlyArray<string>,
  enrichments: ReadonlyArray<AnyEnrichment>,
  fieldsOf: (enrichment: AnyEnrichment) => Schema.Struct.Fields | undefined
): Either.Either<Schema.Struct.Fields, EnrichmentFieldError> => {
  const owners = new Map<string, string>()
  const claimed: Record<string, Schema.Struct.Fields[string]> = {}
  for (const enrichment of enrichments) {
    for (const [field, schema] of Object.entries(fieldsOf(enrichment) ?? {})) {
      const owner = owners.get(field)
      if (core.includes(field) || owner !== undefined) {
        const taken = owner === undefined ? "is a core field" : `enrichment ${owner} declares already`
        return Either.left(
          new EnrichmentFieldError({
            message: `enrichment ${enrichment.name} declares the field ${field} of ${where}, which ${taken}: each field of an answer has one owner`,
            enrichment: enrichment.name,
            field
          })
        )
      }
      owners.set(field, enrichment.name)
      claimed[field] = schema
    }
  }
  return Either.right(claimed)
}

/** The query answers' schemas with the enrichments' fields; an error if one field would have two owners. */
export const enrichedQuerySchemas = (enrichments: ReadonlyArray<AnyEnrichment>) =>
  Either.gen(function* () {
    const listFields = yield* claimFields("GET /api/v1/queries", Object.keys(QueryListItem.fields), enrichments, (e) => e.list?.fields)
    const detailFields = yield* claimFields(
      "GET /api/v1/queries/{id}",
      Object.keys(QueryDetail.fields),
      enrichments,
      (e) => e.detail?.fields
    )
    const item = enrichedStruct("QueryListItem", QueryListItem.fields, listFields, {})
    return {
      QueryList: Schema.Struct({ ...QueryList.fields, queries: Schema.Array(item) }).annotations({ identifier: "QueryList" }),
      QueryDetail: enrichedStruct("QueryDetail", QueryStats.fields, detailFields, detailTail)
    }
  })

export const Health = Schema.Struct({ status: Schema.Literal("ok") }).annotations({ identifier: "Health" })

export const Readiness = Schema.Struct({
  status: Schema.Literal("ready"),
  store: Schema.Boolean,
  pipelines: Schema.Number
}).annotations({ identifier: "Readiness" })

const PrometheusText = Schema.String.pipe(
  HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain; version=0.0.4; charset=utf-8" })
)

// ---------------------------------------------------------------------------------------------------------------------
// Routes

const namePath = Schema.Struct({ name: PipelineName })

export class PipelinesGroup extends HttpApiGroup.make("pipelines")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/pipelines")
      .setUrlParams(NoParams)
      .addSuccess(PipelineList)
      .middleware(ReadAccess)
      .annotate(OpenApi.Summary, "Every pipeline: state, last and next run, totals since start.")
  )
  .add(
    HttpApiEndpoint.get("get", "/api/v1/pipelines/:name")
      .setPath(namePath)
      .setUrlParams(NoParams)
      .addSuccess(PipelineDetail)
      .addError(NotFoundError)
      .middleware(ReadAccess)
      .annotate(OpenApi.Summary, "One pipeline, with its recent runs.")
  )
  .add(
    HttpApiEndpoint.post("run", "/api/v1/pipelines/:name/run")
      .setPath(namePath)
      .setUrlParams(NoParams)
      .addSuccess(RunAccepted, { status: 202 })
      .addError(NotFoundError)
      .addError(PipelineRunningError)
      .addError(StoreUnavailableError)
      .middleware(ControlAccess)
      .annotate(OpenApi.Summary, "Run now, out of schedule (also while paused). 202 once the run has started.")
  )
  .add(
    HttpApiEndpoint.post("pause", "/api/v1/pipelines/:name/pause")
      .setPath(namePath)
      .setUrlParams(NoParams)
      .addSuccess(PipelineView)
      .addError(NotFoundError)
      .middleware(ControlAccess)
      .annotate(OpenApi.Summary, "Skip the pipeline's scheduled runs until resumed; a run in flight finishes.")
  )
  .add(
    HttpApiEndpoint.post("resume", "/api/v1/pipelines/:name/resume")
      .setPath(namePath)
      .setUrlParams(NoParams)
      .addSuccess(PipelineView)
      .addError(NotFoundError)
      .middleware(ControlAccess)
      .annotate(OpenApi.Summary, "Resume the pipeline's scheduled runs.")
  )
  .annotate(OpenApi.Description, "The pipelines and their schedules.") {}

export class SchedulerGroup extends HttpApiGroup.make("scheduler")
  .add(
    HttpApiEndpoint.post("pause", "/api/v1/scheduler/pause")
      .setUrlParams(NoParams)
      .addSuccess(SchedulerState)
      .middleware(ControlAccess)
      .annotate(OpenApi.Summary, "Skip every pipeline's scheduled runs until resumed.")
  )
  .add(
    HttpApiEndpoint.post("resume", "/api/v1/scheduler/resume")
      .setUrlParams(NoParams)
      .addSuccess(SchedulerState)
      .middleware(ControlAccess)
      .annotate(OpenApi.Summary, "Resume every pipeline's schedule (pipelines paused one by one stay paused).")
  )
  .annotate(OpenApi.Description, "All pipelines at once.") {}

type EnrichedQuerySchemas = Either.Either.Right<ReturnType<typeof enrichedQuerySchemas>>

const queriesGroup = (schemas: EnrichedQuerySchemas) =>
  HttpApiGroup.make("queries")
    .add(
      HttpApiEndpoint.get("list", "/api/v1/queries")
        .setUrlParams(ListQueriesParams)
        .addSuccess(schemas.QueryList)
        .addError(BadRequestError)
        .addError(StoreUnavailableError)
        .addError(OverloadedError)
        .middleware(ReadAccess)
        .annotate(OpenApi.Summary, "Top fingerprints, all time or over a window.")
    )
    .add(
      HttpApiEndpoint.get("facets", "/api/v1/queries/facets")
        .setUrlParams(FacetsParams)
        .addSuccess(QueryFacets)
        .addError(BadRequestError)
        .addError(StoreUnavailableError)
        .addError(OverloadedError)
        .middleware(ReadAccess)
        .annotate(OpenApi.Summary, "What the list can be filtered by: databases, users and statement types, with their fingerprints' counts.")
        .annotate(
          OpenApi.Description,
          `From every stored fingerprint, all time; each list sorted by name, at most ${MAX_FACET_NAMES} names (those of the most fingerprints).`
        )
    )
    .add(
      HttpApiEndpoint.get("get", "/api/v1/queries/:id")
        .setPath(Schema.Struct({ id: QueryId }))
        .setUrlParams(GetQueryParams)
        .addSuccess(schemas.QueryDetail)
        .addError(NotFoundError)
        .addError(BadRequestError)
        .addError(StoreUnavailableError)
        .addError(OverloadedError)
        .middleware(ReadAccess)
        .annotate(OpenApi.Summary, "One fingerprint: totals, time series, recent samples, and the fields the stages add.")
    )
    .add(
      HttpApiEndpoint.get("series", "/api/v1/queries/:id/series")
        .setPath(Schema.Struct({ id: QueryId }))
        .setUrlParams(SeriesParams)
        .addSuccess(RollupSeries)
        .addError(NotFoundError)
        .addError(BadRequestError)
        .addError(StoreUnavailableError)
        .addError(OverloadedError)
        .middleware(ReadAccess)
        .annotate(
          OpenApi.Summary,
          "One fingerprint's time series from the per-minute rollups: calls, total and mean time, p50/p95/p99 per bucket."
        )
    )
    .add(
      HttpApiEndpoint.get("batch", "/api/v1/series")
        .setUrlParams(SeriesBatchParams)
        .addSuccess(SeriesBatch)
        .addError(BadRequestError)
        .addError(StoreUnavailableError)
        .addError(OverloadedError)
        .middleware(ReadAccess)
        .annotate(
          OpenApi.Summary,
          `Calls, total time, slowest call and rows examined per step of up to ${MAX_SERIES_IDS} fingerprints at once (a page's sparklines), from the rollups, in one read.`
        )
    )
    .annotate(OpenApi.Description, "What slowq found, from its store.")

export const FindingList = Schema.Struct({
  findings: Schema.Array(FindingView)
}).annotations({ identifier: "FindingList" })

export const QueryFindingList = Schema.Struct({
  findings: Schema.Array(QueryFindingView)
}).annotations({ identifier: "QueryFindingList" })

export const SuggestionList = Schema.Struct({
  suggestions: Schema.Array(SuggestionView)
}).annotations({ identifier: "SuggestionList" })

export class FindingsGroup extends HttpApiGroup.make("findings")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/findings")
      .setUrlParams(ListFindingsParams)
      .addSuccess(FindingList)
      .addError(BadRequestError)
      .addError(StoreUnavailableError)
      .addError(OverloadedError)
      .middleware(ReadAccess)
      .annotate(OpenApi.Summary, "What the stages found wrong, every pipeline, ranked by impact; open findings first.")
  )
  .add(
    HttpApiEndpoint.get("ofQuery", "/api/v1/queries/:id/findings")
      .setPath(Schema.Struct({ id: QueryId }))
      .setUrlParams(QueryFindingsParams)
      .addSuccess(QueryFindingList)
      .addError(NotFoundError)
      .addError(BadRequestError)
      .addError(StoreUnavailableError)
      .addError(OverloadedError)
      .middleware(ReadAccess)
      .annotate(OpenApi.Summary, "Every finding of one fingerprint, open and resolved, ranked by impact, with the plans each compares.")
  )
  .add(
    HttpApiEndpoint.get("suggestions", "/api/v1/suggestions")
      .setUrlParams(ListSuggestionsParams)
      .addSuccess(SuggestionList)
      .addError(BadRequestError)
      .addError(StoreUnavailableError)
      .addError(OverloadedError)
      .middleware(ReadAccess)
      .annotate(
        OpenApi.Summary,
        "The open suggestions (an index to create…), each once with every query it serves, ranked by their total impact."
      )
  )
  .annotate(OpenApi.Description, "Findings: what is wrong with a query and what to do, from the stages that analyze.") {}

export class OperationsGroup extends HttpApiGroup.make("operations", { topLevel: true })
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(Health)
      .annotate(OpenApi.Summary, "The process is alive.")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Readiness)
      .addError(NotReadyError)
      .annotate(OpenApi.Summary, "The store answers and the pipelines are loaded.")
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(PrometheusText)
      .annotate(OpenApi.Summary, "Prometheus text format: slowq_* per pipeline, HTTP and process metrics.")
  )
  .annotate(OpenApi.Description, "Health, readiness and metrics; no token needed.") {}

const buildApi = (schemas: EnrichedQuerySchemas) =>
  HttpApi.make("slowq")
    .add(PipelinesGroup)
    .add(SchedulerGroup)
    .add(queriesGroup(schemas))
    .add(FindingsGroup)
    .add(OperationsGroup)
    .addError(NotFoundError)
    .addError(MisdirectedRequestError)
    .annotate(OpenApi.Title, "slowq")
    .annotate(OpenApi.Version, "1")
    .annotate(
      OpenApi.Description,
      "Control slowq's pipelines and read the slow queries it found. Mutating endpoints need `Authorization: Bearer <SLOWQ_API_TOKEN>`; so do the reads under /api/v1 unless SLOWQ_API_PUBLIC_READ=true."
    )

/** The API as served: its query answers carry the fields of `enrichments` (the registered ones, see Plugins). */
export type SlowqApi = ReturnType<typeof buildApi>

/**
 * The API with the query fields of `enrichments`, which the server, the OpenAPI document and the docs page are all
 * derived from; an error when an enrichment's field collides with a core field or another enrichment's.
 */
export const makeSlowqApi = (enrichments: ReadonlyArray<AnyEnrichment>): Either.Either<SlowqApi, EnrichmentFieldError> =>
  Either.map(enrichedQuerySchemas(enrichments), buildApi)
