import { SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Schema } from "effect"
import { Severity } from "../plugin/Finding.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { bucketValueSql } from "../domain/LatencyHistogram.js"
import { rangeParams, rollupRangesSql } from "./RollupRanges.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

// The reads behind the HTTP API's query endpoints. Each row schema is also the API's response schema, so the
// OpenAPI document and the SQL cannot drift apart. Timestamps leave PostgreSQL as ISO 8601 text in UTC (`iso`
// below), which is what `Schema.Date` decodes here and encodes again in the API's JSON.

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

export const QueryOrder = Schema.Literal("total_ms", "avg_ms", "calls", "max_ms", "rows_examined", "p95_ms").annotations({
  description: "What the fingerprints are ranked by, largest first."
})
export type QueryOrder = typeof QueryOrder.Type

// Fixed SQL per order (never interpolated from input): ties broken by pipeline and id so pages are stable.
const orderSql: Record<QueryOrder, string> = {
  total_ms: "total_ms DESC, pipeline, id",
  avg_ms: "avg_ms DESC, pipeline, id",
  calls: "calls DESC, pipeline, id",
  max_ms: "max_ms DESC, pipeline, id",
  rows_examined: "rows_examined DESC, pipeline, id",
  p95_ms: "p95_ms DESC NULLS LAST, pipeline, id"
}

const figures = {
  events: Schema.Number.annotations({ description: "Stored events (one per statement for log sources)." }),
  calls: Schema.Number.annotations({ description: "Executions." }),
  total_ms: Schema.Number.annotations({ description: "Total execution time, ms." }),
  avg_ms: Schema.Number.annotations({ description: "total_ms / calls." }),
  max_ms: Schema.Number.annotations({ description: "Slowest single execution seen (for aggregates: slowest interval average), ms." }),
  lock_ms: Schema.Number.annotations({ description: "Total lock time, ms." }),
  rows_sent: Schema.Number,
  rows_examined: Schema.Number,
  rows_affected: Schema.Number,
  first_seen: Schema.Date.annotations({ description: "Start of the first execution seen (in the window, when one is given)." }),
  last_seen: Schema.Date.annotations({ description: "Start of the last execution seen (in the window, when one is given)." })
}

const classification = {
  fingerprint: Schema.String.annotations({ description: "The normalized text every statement of the class shares." }),
  dialect: Schema.String,
  statement_type: Schema.String,
  read_only: Schema.Boolean,
  tables: Schema.Array(Schema.String)
}

/** One fingerprint of one pipeline in a ranking, as the ranking's statements read it. */
export const QueryRankRow = Schema.Struct({
  id: Schema.String.annotations({ description: "The query id (fingerprint hash)." }),
  pipeline: Schema.String,
  ...classification,
  ...figures,
  p95_ms: Schema.NullOr(Schema.Number).annotations({
    description:
      "Over a window: the 95th percentile of the time per call, ms, from the rollups' latency histograms (within 2% of a recorded value; an aggregate source counts each interval's calls at its mean); null without calls. Null all time: the store keeps no all-time histogram per query."
  })
})
export interface QueryRankRow extends Schema.Schema.Type<typeof QueryRankRow> {}

/** What the list adds to each row of its page, read for the page's rows only (topSeveritySql). */
const pageFacts = {
  first_seen_ever: Schema.Date.annotations({
    description:
      "Start of the first execution this pipeline ever saw, whatever the window: inside the window, the query is new in it."
  }),
  top_severity: Schema.NullOr(Severity).annotations({
    description: "Severity of the query's most severe open finding in this pipeline; null when it has none."
  })
}

/** One fingerprint of one pipeline in a ranking. */
export const QueryListItem = Schema.Struct({ ...QueryRankRow.fields, ...pageFacts }).annotations({
  identifier: "QueryListItem"
})
export interface QueryListItem extends Schema.Schema.Type<typeof QueryListItem> {}

/** The sums over every fingerprint the list's filters keep, in its window: each row's share is its own over these. */
export const QueryTotals = Schema.Struct({
  total_ms: Schema.Number.annotations({ description: "Total execution time of every matching fingerprint, ms." }),
  calls: Schema.Number.annotations({ description: "Executions of every matching fingerprint." })
}).annotations({ identifier: "QueryTotals" })
export interface QueryTotals extends Schema.Schema.Type<typeof QueryTotals> {}

/** One name a filter can choose, and how many fingerprints (per pipeline) have it. */
export const FacetCount = Schema.Struct({
  name: Schema.String,
  queries: Schema.Number.annotations({ description: "Fingerprints (one per pipeline that saw it) with this name." })
}).annotations({ identifier: "FacetCount" })
export interface FacetCount extends Schema.Schema.Type<typeof FacetCount> {}

/** At most this many names per facet, those of the most fingerprints. */
export const MAX_FACET_NAMES = 500

/** The names the list's filters can choose, from every fingerprint stored (all time), each list sorted by name. */
export const QueryFacets = Schema.Struct({
  databases: Schema.Array(FacetCount).annotations({ description: "The databases the events came with." }),
  users: Schema.Array(FacetCount).annotations({ description: "The accounts that ran them (the user name only)." }),
  statement_types: Schema.Array(FacetCount)
}).annotations({ identifier: "QueryFacets" })
export interface QueryFacets extends Schema.Schema.Type<typeof QueryFacets> {}

/** One fingerprint's totals since it was first seen, over every pipeline asked for. */
export const QueryStats = Schema.Struct({
  id: Schema.String,
  pipelines: Schema.Array(Schema.String).annotations({ description: "Pipelines that saw this fingerprint." }),
  ...classification,
  ...figures,
  slowest_sample: Schema.String.annotations({ description: "Text of the slowest execution seen, as stored." })
}).annotations({ identifier: "QueryStats" })
export interface QueryStats extends Schema.Schema.Type<typeof QueryStats> {}

/** One time bucket of a fingerprint's series. */
export const QueryInterval = Schema.Struct({
  start: Schema.Date.annotations({
    description: "Start of the bucket (a multiple of its width since the epoch); an aggregate source's interval counts where it was measured."
  }),
  events: Schema.Number,
  calls: Schema.Number,
  total_ms: Schema.Number,
  avg_ms: Schema.Number,
  max_ms: Schema.Number,
  rows_sent: Schema.Number,
  rows_examined: Schema.Number
}).annotations({ identifier: "QueryInterval" })
export interface QueryInterval extends Schema.Schema.Type<typeof QueryInterval> {}

/** A kept sample of a fingerprint, newest first: per query and hour, the first event and the slowest (per call). */
export const QuerySample = Schema.Struct({
  pipeline: Schema.String,
  kind: Schema.Literal("first", "slowest").annotations({
    description: "Which of its hour's kept samples: the first event, or the slowest per call (an event that is both is listed once, as slowest)."
  }),
  start_time: Schema.Date,
  calls: Schema.Number,
  query_time_ms: Schema.Number,
  lock_time_ms: Schema.Number,
  rows_sent: Schema.Number,
  rows_examined: Schema.Number,
  rows_affected: Schema.Number,
  db: Schema.NullOr(Schema.String),
  sql_text: Schema.String.annotations({ description: "The statement as stored under the pipeline's sample policy." }),
  truncated: Schema.Boolean
}).annotations({ identifier: "QuerySample" })
export interface QuerySample extends Schema.Schema.Type<typeof QuerySample> {}

export interface TimeWindow {
  /** Inclusive. */
  readonly since?: Date
  /** Exclusive. */
  readonly until?: Date
}

export interface ListQueriesOptions extends TimeWindow, QueryFilters {
  /** Also the totals of every query the filters keep: a read over all of them (~20 ms all time, ~65 ms a busy day). */
  readonly withTotals?: boolean
  readonly order: QueryOrder
  readonly limit: number
  readonly offset: number
}

export interface ListQueriesResult {
  readonly queries: ReadonlyArray<QueryListItem>
  /** Whether another page follows this one. */
  readonly more: boolean
  /** When asked for (withTotals); null otherwise. */
  readonly totals: QueryTotals | null
}


/** The list's filters other than the window: each a column of slowq_queries. */
export interface QueryFilters {
  readonly pipeline?: string
  /** Only fingerprints of this statement type (slowq_queries.statement_type: select, insert, …). */
  readonly statementType?: string
  /** Only fingerprints seen in this database (slowq_queries.databases: a set, of at most 64 names). */
  readonly database?: string
  /** Only fingerprints run by this account (slowq_queries.users: a set, of at most 64 names). */
  readonly user?: string
}

/** The placeholders of the filters given, numbered from `first` in this order, and their values. */
const filterRefs = (filters: QueryFilters, first: number) => {
  const values: Array<string> = []
  const ref = (value: string | undefined) => {
    if (value === undefined) return undefined
    values.push(value)
    return `$${first + values.length - 1}`
  }
  const pipeline = ref(filters.pipeline)
  const statementType = ref(filters.statementType)
  const database = ref(filters.database)
  const user = ref(filters.user)
  return { pipeline, statementType, database, user, values }
}
type FilterRefs = ReturnType<typeof filterRefs>

/**
 * The conditions of `refs` on slowq_queries' columns, joined by AND; "true" without any. A set's is containment
 * (`@>`), which its GIN index (migration 0014) can serve, where `= ANY` could not.
 */
const queriesWhere = (refs: FilterRefs) =>
  [
    ...(refs.pipeline === undefined ? [] : [`pipeline = ${refs.pipeline}`]),
    ...(refs.statementType === undefined ? [] : [`statement_type = ${refs.statementType}`]),
    ...(refs.database === undefined ? [] : [`databases @> ARRAY[${refs.database}::text]`]),
    ...(refs.user === undefined ? [] : [`users @> ARRAY[${refs.user}::text]`])
  ].join(" AND ") || "true"

/** Whether `refs` filter on more than the pipeline, which the rollups carry themselves. */
const filtersBeyondPipeline = (refs: FilterRefs) =>
  refs.statementType !== undefined || refs.database !== undefined || refs.user !== undefined

// The severity of the most severe open finding of the query `pipeline`, `id` (columns of a page's row): a primary
// key range of slowq_findings, evaluated for the page's rows only (in the final SELECT of each ranking, after its
// LIMIT), rather than a statement of its own, whose round trip cost more than the lookups.
const topSeveritySql = (pipeline: string, id: string) => `(SELECT f.severity FROM slowq_findings f
   WHERE f.pipeline = ${pipeline} AND f.query_id = ${id} AND f.resolved_at IS NULL
   ORDER BY CASE f.severity WHEN 'crit' THEN 3 WHEN 'warn' THEN 2 ELSE 1 END DESC
   LIMIT 1) AS top_severity`

// All-time ranking: the per-query totals read in the index order of the ranking (migrations 0003, 0014), cut to the
// page, then formatted. The inner ORDER BY names output columns, so `avg_ms` is the indexed expression. No p95: the
// store keeps no all-time histogram per query (migration 0017 says why), so there is no all-time ranking by it
// either (listQueries reads it as a window without bounds). A statement type
// filters the index's rows as they are read (no index leads with it: the common types are most of the rows); so do
// a database and a user, unless the planner finds the set's GIN index cheaper (a name few queries have). $1 limit,
// $2 offset, then the filters (filterRefs from $3).
const listAllTimeSql = (order: Exclude<QueryOrder, "p95_ms">, refs: FilterRefs) => `${SLOWQ_MARKER}
SELECT r.id, r.pipeline, r.fingerprint, r.dialect, r.statement_type, r.read_only, r.tables, r.events, r.calls,
  r.total_ms, r.avg_ms, r.max_ms, NULL::float8 AS p95_ms, r.lock_ms, r.rows_sent, r.rows_examined,
  r.rows_affected, ${iso("r.first_seen")} AS first_seen, ${iso("r.last_seen")} AS last_seen,
  ${iso("r.first_seen")} AS first_seen_ever, ${topSeveritySql("r.pipeline", "r.id")}
FROM (
  SELECT query_id AS id, pipeline, fingerprint, dialect, statement_type, read_only, tables,
    events::float8 AS events, calls::float8 AS calls, total_ms, total_ms / greatest(calls, 1) AS avg_ms, max_ms,
    lock_ms, rows_sent, rows_examined, rows_affected, first_seen, last_seen
  FROM slowq_queries
  WHERE ${queriesWhere(refs)}
  ORDER BY ${orderSql[order]}
  LIMIT $1 OFFSET $2
) r
ORDER BY ${orderSql[order]}`

// Windowed ranking, read at minute precision: the minutes in [since, until), `since` counted from the start of its
// minute. The whole hours of the window are read from the hour rollups (migration 0009) and only the minutes of its
// partial hours at either end from the minute rollups (0008): the same sums, since the statement that stores the
// events writes both, and 60 times fewer rows for a query seen every minute. The bounds come as parameters
// (`windowBounds`), text so that an open end is `-infinity`/`infinity` and the predicates stay plain ranges the
// time-first indexes of migration 0010 serve; a pipeline is a second statement rather than a `$n IS NULL OR` that
// would hide the range from the planner.
//
// The ranking aggregates only the column it ranks by (a 24 h window of a busy store groups ~10^5 queries: every
// other column summed there would be summed for all of them), cuts the page, and only then sums the page's figures
// from its queries' own rollup rows (primary key: pipeline, query, time) and joins their per-query rows.
interface WindowBounds {
  /** The window's first minute. */
  readonly since: string
  /** The end of its last minute. */
  readonly until: string
  /** The whole hours read from the hour rollups: [fromHour, toHour); none when toHour <= fromHour. */
  readonly fromHour: string
  readonly toHour: string
}

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const floorTo = (ms: number, unit: number) => Math.floor(ms / unit) * unit
const ceilTo = (ms: number, unit: number) => Math.ceil(ms / unit) * unit
const isoOr = (ms: number | undefined, open: string) => (ms === undefined ? open : new Date(ms).toISOString())

/** [since, until) as minute and hour bounds (UTC; a time zone's offset is a whole number of minutes, not of hours). */
export const windowBounds = (window: TimeWindow): WindowBounds => {
  const since = window.since === undefined ? undefined : floorTo(window.since.getTime(), MINUTE_MS)
  // A minute is in the window when it starts before `until`: every minute before until rounded up.
  const until = window.until === undefined ? undefined : ceilTo(window.until.getTime(), MINUTE_MS)
  return {
    since: isoOr(since, "-infinity"),
    until: isoOr(until, "infinity"),
    fromHour: isoOr(since === undefined ? undefined : ceilTo(since, HOUR_MS), "-infinity"),
    toHour: isoOr(until === undefined ? undefined : floorTo(until, HOUR_MS), "infinity")
  }
}

/**
 * The minutes read from the minute rollups, as two plain ranges rather than one range and an OR (which the planner
 * served with a bitmap OR of two index scans per query, one of them always empty for an open end, and the heap of
 * the minutes read in bitmap order): the head [since, least(fromHour, until)) and the tail [greatest(fromHour,
 * toHour), until). With whole hours these are the partial hours before and after them; without any (fromHour >=
 * toHour) they are [since, fromHour) and [fromHour, until), every minute of the window once. As $3 to $6 of the SQL
 * below, in that order: since, headUntil, tailFrom, until; the hours are $7 and $8.
 */
export const windowRanges = (window: TimeWindow) => {
  const bounds = windowBounds(window)
  const ms = (iso: string) => (iso === "-infinity" ? Number.NEGATIVE_INFINITY : iso === "infinity" ? Number.POSITIVE_INFINITY : Date.parse(iso))
  const pick = (a: string, b: string, larger: boolean) => ((ms(a) > ms(b)) === larger ? a : b)
  return {
    since: bounds.since,
    headUntil: pick(bounds.fromHour, bounds.until, false),
    tailFrom: pick(bounds.fromHour, bounds.toHour, true),
    until: bounds.until,
    fromHour: bounds.fromHour,
    toHour: bounds.toHour
  }
}

const rankKeySql: Record<Exclude<QueryOrder, "p95_ms">, string> = {
  total_ms: "sum(total_ms)",
  avg_ms: "sum(total_ms) / greatest(sum(calls), 1)",
  calls: "sum(calls)::float8",
  max_ms: "max(max_ms)",
  rows_examined: "sum(rows_examined)"
}
const rankColumnsSql: Record<Exclude<QueryOrder, "p95_ms">, string> = {
  total_ms: "total_ms",
  avg_ms: "total_ms, calls",
  calls: "calls",
  max_ms: "max_ms",
  rows_examined: "rows_examined"
}

// The window's rollup rows: `$first` to `$first + 5` windowRanges (since, headUntil, tailFrom, until, fromHour,
// toHour), then the filters of `refs`. The rollups have no statement type, database or user: a filter on them keeps
// the rows of the queries that match it (a hash of the matching slowq_queries rows, probed by each rollup row).
const windowRowsSql = (columns: string, refs: FilterRefs, first = 3) => {
  const rows = rollupRangesSql(
    () => columns,
    { head: rangeParams(first, first + 1), hours: rangeParams(first + 4, first + 5), tail: rangeParams(first + 2, first + 3) },
    refs.pipeline === undefined ? undefined : `pipeline = ${refs.pipeline}`
  )
  return !filtersBeyondPipeline(refs)
    ? rows
    : `SELECT * FROM (${rows}) t
    WHERE (t.pipeline, t.query_id) IN (SELECT pipeline, query_id FROM slowq_queries WHERE ${queriesWhere(refs)})`
}

// The window's figures of one query `r` (its own rollup rows: primary key ranges).
const ownFiguresSql = `
  SELECT sum(events)::float8 AS events, sum(calls)::float8 AS calls, sum(total_ms) AS total_ms,
    sum(total_ms) / greatest(sum(calls), 1) AS avg_ms, max(max_ms) AS max_ms, sum(lock_ms) AS lock_ms,
    sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected,
    min(first_seen) AS first_seen, max(last_seen) AS last_seen
  FROM (
    ${rollupRangesSql(
      () => "events, calls, total_ms, max_ms, lock_ms, rows_sent, rows_examined, rows_affected, first_seen, last_seen",
      { head: rangeParams(3, 4), hours: rangeParams(7, 8), tail: rangeParams(5, 6) },
      "pipeline = r.pipeline AND query_id = r.query_id"
    )}
  ) own`

// The window's p95 of one query (`pipeline`, `id`: columns of a page's row) from its own rollup rows' histograms,
// evaluated for the page's rows only, as topSeveritySql: their buckets summed, and the first whose running count
// reaches ⌈0.95·n⌉ (as p95RankedSql, per query). Relational rather than merged into one jsonb for
// slowq_histogram_quantile: 40-70 ms for the 51 rows of a day's page of the hottest of 100k queries, against 90.
const ownP95Sql = (pipeline: string, id: string) => `(SELECT ${bucketValueSql("min(bucket)")} FROM (
    SELECT bucket, sum(n) OVER (ORDER BY bucket) AS seen, sum(n) OVER () AS total
    FROM (
      SELECT b.key::int AS bucket, sum(b.value::float8) AS n
      FROM (
        ${rollupRangesSql(
          () => "histogram",
          { head: rangeParams(3, 4), hours: rangeParams(7, 8), tail: rangeParams(5, 6) },
          `pipeline = ${pipeline} AND query_id = ${id}`
        )}
      ) own, jsonb_each_text(own.histogram) AS b
      GROUP BY 1
    ) buckets
    WHERE n > 0
  ) running
  WHERE seen >= greatest(1, ceil(0.95 * total))) AS p95_ms`

const listItemSql = (withSample: boolean) => `r.query_id AS id, r.pipeline, q.fingerprint, q.dialect, q.statement_type,
  q.read_only, q.tables, f.events, f.calls, f.total_ms, f.avg_ms, f.max_ms, f.lock_ms, f.rows_sent, f.rows_examined,
  f.rows_affected, ${iso("f.first_seen")} AS first_seen, ${iso("f.last_seen")} AS last_seen,
  ${iso("q.first_seen")} AS first_seen_ever${withSample ? ", q.sample" : ""}`

// By p95: every query's buckets of the window summed (jsonb_each_text of each rollup row's histogram, the rows
// relational rather than merged as jsonb), each query's running count per bucket, and the first bucket whose running
// count reaches ⌈0.95·n⌉, as slowq_histogram_quantile reads one histogram. A query without calls in the window has no
// histogram there and is not ranked by it.
const p95RankedSql = (refs: FilterRefs) => `
  SELECT pipeline, query_id, ${bucketValueSql("min(bucket)")} AS rank_key
  FROM (
    SELECT pipeline, query_id, bucket, sum(n) OVER (PARTITION BY pipeline, query_id ORDER BY bucket) AS seen,
      sum(n) OVER (PARTITION BY pipeline, query_id) AS total
    FROM (
      SELECT w.pipeline, w.query_id, b.key::int AS bucket, sum(b.value::float8) AS n
      FROM (${windowRowsSql("pipeline, query_id, histogram", refs)}) w, jsonb_each_text(w.histogram) AS b
      GROUP BY 1, 2, 3
    ) buckets
    WHERE n > 0
  ) running
  WHERE seen >= greatest(1, ceil(0.95 * total))
  GROUP BY pipeline, query_id
  ORDER BY rank_key DESC, pipeline, query_id
  LIMIT $1 OFFSET $2`

// $1 limit, $2 offset, $3 to $8 windowRanges, then the filters (filterRefs from $9).
const listWindowSql = (order: QueryOrder, refs: FilterRefs, withSample = false) => `${SLOWQ_MARKER}
WITH ranked AS (${
  order === "p95_ms"
    ? p95RankedSql(refs)
    : `
  SELECT pipeline, query_id, ${rankKeySql[order]} AS rank_key
  FROM (${windowRowsSql(`pipeline, query_id, ${rankColumnsSql[order]}`, refs)}) w
  GROUP BY pipeline, query_id
  ORDER BY rank_key DESC, pipeline, query_id
  LIMIT $1 OFFSET $2`
}
)
SELECT ${listItemSql(withSample)}, ${ownP95Sql("r.pipeline", "r.query_id")}, ${topSeveritySql("r.pipeline", "r.query_id")}
FROM ranked r
CROSS JOIN LATERAL (${ownFiguresSql}) f
JOIN slowq_queries q ON q.pipeline = r.pipeline AND q.query_id = r.query_id
ORDER BY r.rank_key DESC, r.pipeline, r.query_id`

// The same page without aggregating the whole window, when it can be proven from the all-time totals: a query's
// total time (calls, slowest execution) in any window is at most its all-time one in slowq_queries, written by the
// same statement. So the queries are walked in all-time order (the indexes of migration 0003), the first $8 of
// them get their window's figures from their own rollup rows, and if the last row the page needs ranks above the
// all-time figure of the first query not walked, no query left could rank in it: the page is exact ("proven").
// Else (a window where the all-time leaders were quiet) the caller aggregates the window. A busy day's window
// is the first case: its leaders are the all-time ones. The margin of 1e-9 covers the two sums' rounding.
// Neither a mean nor a percentile has such a bound: a window's p95 can be above the all-time one (a query slow for
// one hour of a fast month: the month's p95 is fast, the hour's slow), so no all-time order proves a window's page
// by p95; it is always aggregated (listWindowSql).
type BoundedOrder = Exclude<QueryOrder, "avg_ms" | "p95_ms">
const Proof = Schema.Struct({ proven: Schema.Boolean })
// Walked: first the rows up to the page's end and a quarter more (at least 16 more), which proves the page when the
// window holds most of what the store keeps (a busy day's leaders are the all-time ones, well apart: the first page
// of 51 rows walks 67 queries instead of 204, each read from its own rollup rows); else 4 times the rows up to the
// page's end, at least 200; pages ending past row 250 are aggregated.
const walkSizes = (end: number): ReadonlyArray<number> => [end + Math.max(16, Math.ceil(end / 4)), Math.max(200, 4 * end)]
const WALK_MAX_ROWS = 250
// Rows examined are never negative, so a window's sum is at most the all-time one too.
const windowKeySql: Record<BoundedOrder, string> = {
  total_ms: "f.total_ms",
  calls: "f.calls",
  max_ms: "f.max_ms",
  rows_examined: "f.rows_examined"
}
const allTimeSql: Record<BoundedOrder, string> = {
  total_ms: "total_ms",
  calls: "calls::float8",
  max_ms: "max_ms",
  rows_examined: "rows_examined"
}

// $1 to $8 as listWindowSql's, $9 how many queries to walk, then the filters (filterRefs from $10). A filter keeps
// the proof: the walk and the bound are then over the matching queries only.
const walkWindowSql = (order: BoundedOrder, refs: FilterRefs, withSample = false) => {
  const queries = `FROM slowq_queries WHERE ${queriesWhere(refs)} ORDER BY ${order} DESC, pipeline, query_id`
  return `${SLOWQ_MARKER}
WITH walked AS (
  SELECT ${listItemSql(withSample)}, ${windowKeySql[order]} AS rank_key
  FROM (SELECT pipeline, query_id ${queries} LIMIT $9) r
  CROSS JOIN LATERAL (${ownFiguresSql}) f
  JOIN slowq_queries q ON q.pipeline = r.pipeline AND q.query_id = r.query_id
  WHERE f.events IS NOT NULL
),
page AS (
  SELECT * FROM walked ORDER BY rank_key DESC, pipeline, id LIMIT $1 OFFSET $2
),
next AS (
  SELECT ${allTimeSql[order]} AS bound ${queries} OFFSET $9 LIMIT 1
)
SELECT page.*, ${ownP95Sql("page.pipeline", "page.id")}, ${topSeveritySql("page.pipeline", "page.id")},
  coalesce((SELECT count(*) FROM walked) >= $1 + $2
    AND (SELECT min(rank_key) FROM page) > (SELECT bound FROM next) * (1 + 1e-9), false)
    OR NOT EXISTS (SELECT 1 FROM next) AS proven
FROM page
ORDER BY rank_key DESC, pipeline, id`
}

// The sums over every query the filters keep: all time from the per-query totals ($1 and on: the filters); over a
// window from its rollups ($1 to $6 windowRanges, then the filters), one sum, no grouping.
const allTimeTotalsSql = (refs: FilterRefs) => `${SLOWQ_MARKER}
SELECT coalesce(sum(total_ms), 0) AS total_ms, coalesce(sum(calls), 0)::float8 AS calls
FROM slowq_queries WHERE ${queriesWhere(refs)}`
const windowTotalsSql = (refs: FilterRefs) => `${SLOWQ_MARKER}
SELECT coalesce(sum(total_ms), 0) AS total_ms, coalesce(sum(calls), 0)::float8 AS calls
FROM (${windowRowsSql("pipeline, query_id, calls, total_ms", refs, 1)}) w`

// The filters' choices: one pass over slowq_queries (or a pipeline's rows), every set unnested and counted. With 100k
// fingerprints a scan of the table (README: its figures); the page asks once, not per ranking.
const facetsSql = `${SLOWQ_MARKER}
SELECT facet, name, queries FROM (
  SELECT facet, name, count(*)::float8 AS queries,
    row_number() OVER (PARTITION BY facet ORDER BY count(*) DESC, name COLLATE "C") AS n
  FROM slowq_queries q
  CROSS JOIN LATERAL (
    SELECT 'databases' AS facet, d AS name FROM unnest(q.databases) AS d
    UNION ALL SELECT 'users', u FROM unnest(q.users) AS u
    UNION ALL SELECT 'statement_types', q.statement_type
  ) f
  WHERE $1::text IS NULL OR q.pipeline = $1
  GROUP BY facet, name
) c
WHERE n <= ${MAX_FACET_NAMES}
ORDER BY facet, name COLLATE "C"`
const FacetRow = Schema.Struct({
  facet: Schema.Literal("databases", "users", "statement_types"),
  name: Schema.String,
  queries: Schema.Number
})

// One query over the pipelines that hold it (all of them, or the one asked for). The query_id index of
// migration 0003 finds them without a pipeline. Its classification is the same in every pipeline (the id is a
// hash of the fingerprint): it is taken from the first.
const statsSql = `${SLOWQ_MARKER}
WITH q AS (
  SELECT * FROM slowq_queries WHERE query_id = $1 AND ($2::text IS NULL OR pipeline = $2)
),
first AS (
  SELECT query_id, fingerprint, dialect, statement_type, tables FROM q ORDER BY pipeline LIMIT 1
),
totals AS (
  SELECT array_agg(pipeline ORDER BY pipeline) AS pipelines, bool_and(read_only) AS read_only,
    sum(events)::float8 AS events, sum(calls)::float8 AS calls, sum(total_ms) AS total_ms,
    sum(total_ms) / greatest(sum(calls), 1) AS avg_ms, max(max_ms) AS max_ms,
    sum(lock_ms) AS lock_ms, sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined,
    sum(rows_affected) AS rows_affected, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
    (array_agg(sample ORDER BY max_ms DESC, pipeline))[1] AS slowest_sample
  FROM q
)
SELECT f.query_id AS id, t.pipelines, f.fingerprint, f.dialect, f.statement_type, t.read_only, f.tables, t.events,
  t.calls, t.total_ms, t.avg_ms, t.max_ms, t.lock_ms, t.rows_sent, t.rows_examined, t.rows_affected,
  ${iso("t.first_seen")} AS first_seen, ${iso("t.last_seen")} AS last_seen, t.slowest_sample
FROM first f CROSS JOIN totals t`

// Buckets of `$9` seconds aligned on the epoch, summed from the rollups (the events are kept only for a while, and
// only for exactly-once): the window's minutes and, when a bucket is whole hours, the whole hours among them from
// the hour rollups, as the series reads them ($3 to $8: windowRanges' since, the head's end, the whole hours, the
// tail's start, until). A rollup counts an event in the minute it started, so an aggregate source's interval is
// in the bucket of the snapshot that measured it, as in the series. The query's pipelines (or the one asked for, $2)
// are looked up in the same statement: the rollups' primary key leads with the pipeline.
const intervalsSql = `${SLOWQ_MARKER}
WITH pipes AS (
  SELECT array_agg(pipeline) AS list FROM slowq_queries WHERE query_id = $1 AND ($2::text IS NULL OR pipeline = $2)
)
SELECT ${iso("bucket")} AS start, sum(events)::float8 AS events, sum(calls)::float8 AS calls, sum(total_ms) AS total_ms,
  sum(total_ms) / greatest(sum(calls), 1) AS avg_ms, max(max_ms) AS max_ms, sum(rows_sent) AS rows_sent,
  sum(rows_examined) AS rows_examined
FROM (
  SELECT date_bin($9::float8 * interval '1 second', at, timestamptz 'epoch') AS bucket, events, calls, total_ms, max_ms,
    rows_sent, rows_examined
  FROM (
    ${rollupRangesSql(
      (time) => `${time} AS at, events, calls, total_ms, max_ms, rows_sent, rows_examined`,
      { head: rangeParams(3, 4), hours: rangeParams(5, 6), tail: rangeParams(7, 8) },
      "query_id = $1 AND pipeline = ANY((SELECT list FROM pipes)::text[])"
    )}
  ) w
) b
GROUP BY bucket
ORDER BY bucket`

/**
 * The bucket of a query's intervals: the one asked for, at least a minute (the rollups' grain), and the ranges of
 * intervalsSql ($3 to $8) that read its window: the whole hours among its minutes from the hour rollups when the
 * bucket is whole hours.
 */
export const intervalRanges = (window: { readonly since: Date; readonly until: Date; readonly bucketSeconds: number }) => {
  const bucketSeconds = Math.max(60, window.bucketSeconds)
  const ranges = windowRanges(window)
  return {
    bucketSeconds,
    ranges:
      bucketSeconds % 3600 === 0
        ? [ranges.since, ranges.headUntil, ranges.fromHour, ranges.toHour, ranges.tailFrom, ranges.until]
        : [ranges.since, ranges.until, ranges.until, ranges.until, ranges.until, ranges.until]
  }
}

// An event that is both its hour's first and slowest is listed once, as the slowest.
const samplesSql = `${SLOWQ_MARKER}
SELECT * FROM (
  SELECT DISTINCT ON (s.pipeline, s.hour, s.event_key) s.pipeline, s.kind, ${iso("s.start_time")} AS start_time,
    s.start_time AS at, s.calls::float8 AS calls, s.query_time_ms, s.lock_time_ms, s.rows_sent, s.rows_examined,
    s.rows_affected, s.db, s.sql_text, s.truncated
  FROM slowq_samples s
  WHERE s.query_id = $1 AND ($2::text IS NULL OR s.pipeline = $2)
    AND ($3::timestamptz IS NULL OR s.start_time >= $3) AND ($4::timestamptz IS NULL OR s.start_time < $4)
  ORDER BY s.pipeline, s.hour, s.event_key, s.kind DESC
) kept
ORDER BY at DESC, pipeline, kind
LIMIT $5`

/** The top queries of `slowq report`: all time, or over a window read like the API's (rollups, minute precision). */
export interface TopQueriesOptions extends TimeWindow {
  readonly top: number
  readonly pipeline?: string
  /** Leave out baseline events: the history a source found when it first looked (pg_stat_statements). */
  readonly excludeBaseline?: boolean
}

export const QuerySummary = Schema.Struct({
  id: Schema.String,
  pipeline: Schema.String,
  fingerprint: Schema.String,
  dialect: Schema.String,
  statement_type: Schema.String,
  read_only: Schema.Boolean,
  tables: Schema.Array(Schema.String),
  events: Schema.Number,
  calls: Schema.Number,
  total_ms: Schema.Number,
  avg_ms: Schema.Number,
  max_ms: Schema.Number,
  lock_ms: Schema.Number,
  rows_sent: Schema.Number,
  rows_examined: Schema.Number,
  rows_affected: Schema.Number,
  first_seen: Schema.DateFromSelf,
  last_seen: Schema.DateFromSelf,
  sample: Schema.String
})
export interface QuerySummary extends Schema.Schema.Type<typeof QuerySummary> {}

// Without the baseline, totals come from the events themselves: the per-query totals include it.
const topQueriesSql = (excludeBaseline: boolean) => `${SLOWQ_MARKER}
SELECT query_id AS id, pipeline, fingerprint, dialect, statement_type, read_only, tables,
  events::float8 AS events, calls::float8 AS calls, total_ms, total_ms / greatest(calls, 1) AS avg_ms,
  max_ms, lock_ms, rows_sent, rows_examined, rows_affected, first_seen, last_seen, sample
FROM ${
  excludeBaseline
    ? `(SELECT q.pipeline, q.query_id, q.fingerprint, q.dialect, q.statement_type, q.read_only, q.tables, q.sample,
          e.events, e.calls, e.total_ms, e.max_ms, e.lock_ms, e.rows_sent, e.rows_examined, e.rows_affected,
          e.first_seen, e.last_seen
        FROM slowq_queries q
        JOIN (
          SELECT pipeline, query_id, count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms,
            max(query_time_ms / greatest(calls, 1)) AS max_ms, sum(lock_time_ms) AS lock_ms,
            sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected,
            min(start_time) AS first_seen, max(start_time) AS last_seen
          FROM slowq_events_all
          WHERE ($1::text IS NULL OR pipeline = $1) AND NOT coalesce((attributes->>'baseline')::boolean, false)
          GROUP BY pipeline, query_id
        ) e USING (pipeline, query_id))`
    : "slowq_queries"
} AS q
WHERE ($1::text IS NULL OR pipeline = $1)
ORDER BY total_ms DESC, query_id
LIMIT $2`

// A window's ranking as the report shows it: the API's row, and the query's slowest sample (of all time: samples are
// kept per query, not per minute).
const WindowQuerySummary = Schema.Struct({ ...QueryRankRow.fields, sample: Schema.String })

const ByQuery = Schema.Struct({ id: Schema.String, pipeline: Schema.NullOr(Schema.String) })

const make = Effect.gen(function* () {
  const { sql, readPermits } = yield* StoreClient

  // A window's rollups are grouped per query: with the default 4 MB of work_mem the hash table spills to disk in
  // batches; 16 MB (32 with the default hash_mem_multiplier) holds the ranking's one summed column for the ~10^5
  // queries of a busy day (measured: 18 MB for 100k; all thirteen columns took 57 MB, hence the ranking's narrow
  // aggregate). SET LOCAL needs the transaction; it ends with it.
  // The p95 ranking's estimates (jsonb_each_text: 100 rows a histogram, for 1 to 30) are high enough for JIT, whose
  // compilation took a third of its time (3.2 s against 2.1 s for a day of 100k queries): off for it.
  const withAggregateMemory = <A, E, R>(read: Effect.Effect<A, E, R>, jit = true) =>
    sql.withTransaction(
      Effect.zipRight(
        Effect.zipRight(
          sql.unsafe(`${SLOWQ_MARKER} SET LOCAL work_mem = '16MB'`),
          jit ? Effect.void : sql.unsafe(`${SLOWQ_MARKER} SET LOCAL jit = off`)
        ),
        read
      )
    )
  // SqlError's own message is generic ("Failed to execute statement"); the server's reason is its cause's.
  const readError = (cause: { readonly message: string; readonly cause?: unknown }) => {
    const reason = cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message
    return new StoreError({ operation: "read", message: `store read failed: ${reason}`, cause })
  }
  const asRead = <A, R>(effect: Effect.Effect<A, { readonly message: string; readonly cause?: unknown }, R>) =>
    effect.pipe(Effect.mapError(readError), readPermits.withPermits(1))

  /** $1 to $8 of listWindowSql and walkWindowSql: `rows` rows from `offset` on, and the window's ranges. */
  const windowParams = (window: TimeWindow, rows: number, offset: number) => {
    const ranges = windowRanges(window)
    return [rows, offset, ranges.since, ranges.headUntil, ranges.tailFrom, ranges.until, ranges.fromHour, ranges.toHour]
  }

  /**
   * `rows` rows from `offset` on of the window's ranking, as `result` (with the query's sample when `withSample`): by
   * the walk in all-time order when it proves the page (walkWindowSql), else by aggregating the window.
   */
  const windowPage = <A, I>(
    result: Schema.Schema<A, I>,
    withSample: boolean,
    options: TimeWindow & QueryFilters & { readonly order: QueryOrder },
    rows: number,
    offset: number
  ) =>
    Effect.gen(function* () {
      const decodeRows = Schema.decodeUnknown(Schema.Array(result))
      const params = windowParams(options, rows, offset)
      // The walk reads a few hundred rollup rows by primary key and aggregates nothing large: it needs neither the
      // aggregate's memory nor the transaction that setting it takes (three round trips more per request).
      if (options.order !== "avg_ms" && options.order !== "p95_ms" && offset + rows <= WALK_MAX_ROWS) {
        for (const walk of walkSizes(offset + rows)) {
          const refs = filterRefs(options, 10)
          const walked = yield* sql.unsafe(walkWindowSql(options.order, refs, withSample), [...params, walk, ...refs.values])
          const proof = walked.length === 0 ? undefined : yield* Schema.decodeUnknown(Proof)(walked[0])
          if (proof?.proven === true) return yield* decodeRows(walked)
        }
      }
      return yield* decodeRows(
        yield* withAggregateMemory(
          Effect.suspend(() => {
            const refs = filterRefs(options, 9)
            return sql.unsafe(listWindowSql(options.order, refs, withSample), [...params, ...refs.values])
          }),
          options.order !== "p95_ms"
        )
      )
    })

  const findListItems = (text: string, params: ReadonlyArray<unknown>) =>
    SqlSchema.findAll({ Request: Schema.Void, Result: QueryListItem, execute: () => sql.unsafe(text, params) })(undefined)
  const decodeTotals = Schema.decodeUnknown(QueryTotals)

  const totalsOf = (options: ListQueriesOptions, windowed: boolean) => {
    if (!windowed) {
      const refs = filterRefs(options, 1)
      return Effect.flatMap(sql.unsafe(allTimeTotalsSql(refs), refs.values), (rows) => decodeTotals(rows[0]))
    }
    const ranges = windowRanges(options)
    const refs = filterRefs(options, 7)
    return Effect.flatMap(
      sql.unsafe(windowTotalsSql(refs), [
        ranges.since,
        ranges.headUntil,
        ranges.tailFrom,
        ranges.until,
        ranges.fromHour,
        ranges.toHour,
        ...refs.values
      ]),
      (rows) => decodeTotals(rows[0])
    )
  }

  /**
   * Top fingerprints: all-time totals when no window is given; else aggregated from the rollups of [since, until).
   * Reads one row more than the page to tell whether another page follows; then, when asked for, the totals of every
   * query the filters keep.
   */
  const listQueries = Effect.fn("QueryReads.listQueries")(function* (options: ListQueriesOptions) {
    const windowed = options.since !== undefined || options.until !== undefined
    const refs = filterRefs(options, 3)
    // By p95 all time: the window of every rollup kept (no all-time histogram; the API asks for a window instead).
    const read =
      windowed || options.order === "p95_ms"
        ? windowPage(QueryListItem, false, options, options.limit + 1, options.offset)
        : findListItems(listAllTimeSql(options.order, refs), [options.limit + 1, options.offset, ...refs.values])
    const rows = yield* asRead(read)
    const totals = options.withTotals === true ? yield* asRead(totalsOf(options, windowed)) : null
    return { queries: rows.slice(0, options.limit), more: rows.length > options.limit, totals } satisfies ListQueriesResult
  })

  const findStats = SqlSchema.findOne({
    Request: ByQuery,
    Result: QueryStats,
    execute: ({ id, pipeline }) => sql.unsafe(statsSql, [id, pipeline])
  })
  /** One fingerprint's all-time figures over the pipelines that saw it; none if no pipeline did. */
  const queryStats = (id: string, pipeline?: string) =>
    asRead(findStats({ id, pipeline: pipeline ?? null })).pipe(Effect.withSpan("QueryReads.queryStats"))

  const findIntervals = SqlSchema.findAll({
    Request: Schema.Struct({ ...ByQuery.fields, ranges: Schema.Array(Schema.String), bucketSeconds: Schema.Number }),
    Result: QueryInterval,
    execute: (r) => sql.unsafe(intervalsSql, [r.id, r.pipeline, ...r.ranges, r.bucketSeconds])
  })
  /**
   * The fingerprint's rollups in [since, until) (at minute precision, as windows are read) summed per bucket of
   * `bucketSeconds`, at least a minute, oldest first; buckets without events are left out. The bucket used comes
   * with them.
   */
  const queryIntervals = (
    id: string,
    options: { readonly pipeline?: string; readonly since: Date; readonly until: Date; readonly bucketSeconds: number }
  ) => {
    const { bucketSeconds, ranges } = intervalRanges(options)
    return asRead(findIntervals({ id, pipeline: options.pipeline ?? null, ranges, bucketSeconds })).pipe(
      Effect.map((intervals) => ({ bucketSeconds, intervals })),
      Effect.withSpan("QueryReads.queryIntervals")
    )
  }

  const findSamples = SqlSchema.findAll({
    Request: Schema.Struct({
      ...ByQuery.fields,
      since: Schema.NullOr(Schema.DateFromSelf),
      until: Schema.NullOr(Schema.DateFromSelf),
      limit: Schema.Number
    }),
    Result: QuerySample,
    execute: (r) => sql.unsafe(samplesSql, [r.id, r.pipeline, r.since, r.until, r.limit])
  })
  /** The fingerprint's most recent stored events (in the window, when one is given), newest first. */
  const querySamples = (id: string, options: TimeWindow & { readonly pipeline?: string; readonly limit: number }) =>
    asRead(
      findSamples({
        id,
        pipeline: options.pipeline ?? null,
        since: options.since ?? null,
        until: options.until ?? null,
        limit: options.limit
      })
    ).pipe(Effect.withSpan("QueryReads.querySamples"))

  const findTop = (excludeBaseline: boolean) =>
    SqlSchema.findAll({
      Request: Schema.Struct({ pipeline: Schema.NullOr(Schema.String), top: Schema.Number }),
      Result: QuerySummary,
      execute: (r) => sql.unsafe(topQueriesSql(excludeBaseline), [r.pipeline, r.top])
    })
  /**
   * The report's ranking: the top queries by total time, all time; over [since, until) when either is given, through
   * the windowed ranking of the API (ties broken by pipeline then id, as there).
   */
  const topQueries = (options: TopQueriesOptions): Effect.Effect<ReadonlyArray<QuerySummary>, StoreError> =>
    (options.since !== undefined || options.until !== undefined
      ? windowPage(WindowQuerySummary, true, { ...options, order: "total_ms" }, options.top, 0)
      : findTop(options.excludeBaseline === true)({ pipeline: options.pipeline ?? null, top: options.top })
    ).pipe(Effect.mapError(readError), Effect.withSpan("QueryReads.topQueries"))

  const findFacets = SqlSchema.findAll({
    Request: Schema.NullOr(Schema.String),
    Result: FacetRow,
    execute: (pipeline) => sql.unsafe(facetsSql, [pipeline])
  })
  /** The names the list can be filtered by (of one pipeline, when given), with their fingerprints' counts. */
  const queryFacets = (options: { readonly pipeline?: string }) =>
    asRead(findFacets(options.pipeline ?? null)).pipe(
      Effect.map((rows): QueryFacets => {
        const of = (facet: (typeof FacetRow.Type)["facet"]) =>
          rows.filter((r) => r.facet === facet).map((r) => ({ name: r.name, queries: r.queries }))
        return { databases: of("databases"), users: of("users"), statement_types: of("statement_types") }
      }),
      Effect.withSpan("QueryReads.queryFacets")
    )

  return { listQueries, queryStats, queryIntervals, querySamples, topQueries, queryFacets } as const
})

/** The store's reads for the HTTP API and the report. */
export class QueryReads extends Context.Tag("slowq/store/QueryReads")<QueryReads, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
