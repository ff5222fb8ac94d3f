import { lazy, Suspense, useMemo, useState } from "react"
import type { StatementType } from "../../../src/domain/Fingerprint.js"
import { STATEMENT_TYPES } from "../../../src/domain/StatementTypes.js"
import {
  getQueryFacets,
  getSeriesBatch,
  listPipelines,
  listQueries,
  type QueryListItemJson,
  type QueryListJson,
  type QueryOrder,
  type SeriesBatchJson
} from "../api.js"
import { choicesWithAll, FilterSelect, facetChoices } from "../FilterSelect.js"
import { formatCount, formatMs, formatShare, formatTime } from "../format.js"
import { Problem } from "../Problem.js"
import { hrefOf, navigate, onLinkClick, useLocation } from "../router.js"
import { useApi } from "../useApi.js"

// The ranked list of fingerprints (GET /api/v1/queries). Everything the list shows is in the URL: order, pipeline,
// statement type, database, user, since, until, offset (the database and user choices, with their counts, from GET
// /api/v1/queries/facets); each change is a navigation, so Back undoes it and a link shows the same list.
// Each row's sparkline comes from one read of the page's series (GET /api/v1/series) made once the rows are shown;
// uPlot and the sparkline code are a chunk of their own, loaded with it.

const Sparkline = lazy(() => import("../Sparkline.js"))

// The fingerprinter's statement types, from the plain list its schema is made of (no Schema in the browser).
const statementTypes: ReadonlyArray<StatementType> = STATEMENT_TYPES

const orders: ReadonlyArray<{ readonly value: QueryOrder; readonly label: string }> = [
  { value: "total_ms", label: "Total time" },
  { value: "calls", label: "Calls" },
  { value: "avg_ms", label: "Mean" },
  { value: "p95_ms", label: "p95" },
  { value: "max_ms", label: "Max" },
  { value: "rows_examined", label: "Rows examined" }
]
const isOrder = (text: string | null): text is QueryOrder => orders.some((o) => o.value === text)

const ranges = [
  { since: "", label: "All time" },
  { since: "1h", label: "Last hour" },
  { since: "24h", label: "Last 24 hours" },
  { since: "7d", label: "Last 7 days" },
  { since: "30d", label: "Last 30 days" }
]

const pageSize = 50

export const QueriesPage = () => {
  const { search } = useLocation()
  const order: QueryOrder = isOrder(search.get("order")) ? (search.get("order") as QueryOrder) : "total_ms"
  const pipeline = search.get("pipeline") ?? ""
  const statementType = search.get("statement_type") ?? ""
  const database = search.get("database") ?? ""
  const user = search.get("user") ?? ""
  const until = search.get("until") ?? ""
  // p95 ranks a time range only (the store keeps no all-time histogram per query): without one, the last 24 hours.
  const since = order === "p95_ms" && until === "" && (search.get("since") ?? "") === "" ? "24h" : (search.get("since") ?? "")
  const offset = Math.max(0, Number.parseInt(search.get("offset") ?? "0", 10) || 0)
  const state = {
    order: order === "total_ms" ? "" : order,
    pipeline,
    statement_type: statementType,
    database,
    user,
    since,
    until,
    offset: offset === 0 ? "" : String(offset)
  }
  const go = (change: Partial<typeof state>) => navigate(hrefOf("/", { ...state, offset: "", ...change }))
  // p95 ranks a range: chosen all time, the last 24 hours, in the URL.
  const rankBy = (value: string) =>
    go({ order: value === "total_ms" ? "" : value, ...(value === "p95_ms" && since === "" && until === "" ? { since: "24h" } : {}) })

  const params = {
    order,
    limit: String(pageSize),
    offset: String(offset),
    ...(pipeline === "" ? {} : { pipeline }),
    ...(statementType === "" ? {} : { statement_type: statementType }),
    ...(database === "" ? {} : { database }),
    ...(user === "" ? {} : { user }),
    // Each row's share of the whole: the sums over every query the filters keep.
    totals: "true",
    ...(since === "" ? {} : { since }),
    ...(until === "" ? {} : { until })
  }
  const key = JSON.stringify(params)
  const list = useApi(key, (signal) => listQueries(params, signal))
  const pipelines = useApi("pipelines", listPipelines)
  const pipelineNames = pipelines.state === "ok" ? pipelines.value.pipelines.map((p) => p.name) : []
  const facets = useApi("facets", (signal) => getQueryFacets({}, signal))
  const facetsOk = facets.state === "ok" ? facets.value : null

  return (
    <section aria-labelledby="queries-title">
      <h1 id="queries-title">Queries</h1>
      <form className="filters" onSubmit={(event) => event.preventDefault()}>
        <FilterSelect
          label="Rank by"
          name="order"
          value={order}
          options={orders}
          onChange={rankBy}
        />
        <FilterSelect
          label="Pipeline"
          name="pipeline"
          value={pipeline}
          options={choicesWithAll(pipelineNames, pipeline)}
          onChange={(value) => go({ pipeline: value })}
        />
        <FilterSelect
          label="Statement"
          name="statement_type"
          value={statementType}
          options={choicesWithAll(statementTypes, statementType)}
          onChange={(value) => go({ statement_type: value })}
        />
        <FilterSelect
          label="Database"
          name="database"
          value={database}
          options={facetChoices(facetsOk?.databases ?? [], database)}
          onChange={(value) => go({ database: value })}
        />
        <FilterSelect
          label="User"
          name="user"
          value={user}
          options={facetChoices(facetsOk?.users ?? [], user)}
          onChange={(value) => go({ user: value })}
        />
        <TimeRange
          since={since}
          until={until}
          onChange={(range) => go(order === "p95_ms" && range.since === "" && range.until === "" ? { ...range, order: "" } : range)}
        />
      </form>
      {order === "p95_ms" && (
        <p className="meta" data-note="p95-range">
          p95 ranks a time range: slowq keeps latency histograms per minute and hour, not per query for all time (all time
          ranks by total time).
        </p>
      )}
      {list.state === "loading" && <p className="status" aria-busy="true">Loading the ranking…</p>}
      {list.state === "failed" && <Problem failure={list.failure} />}
      {list.state === "ok" && list.value.queries.length === 0 && (
        <Empty filtered={pipeline !== "" || statementType !== "" || database !== "" || user !== "" || since !== "" || until !== "" || offset > 0} pipelines={pipelines.state === "ok" ? pipelineNames.length : null} />
      )}
      {list.state === "ok" && list.value.queries.length > 0 && (
        <>
          <QueryTable list={list.value} order={order} offset={offset} onOrder={rankBy} search={{ pipeline, since, until }} />
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={offset === 0} onClick={() => go({ offset: String(Math.max(0, offset - pageSize)) })}>
              ← Previous
            </button>
            <span>
              {formatCount(offset + 1)}–{formatCount(offset + list.value.queries.length)}
            </span>
            <button
              type="button"
              disabled={list.value.next_offset === null}
              onClick={() => list.value.next_offset !== null && go({ offset: String(list.value.next_offset) })}
            >
              Next →
            </button>
          </nav>
        </>
      )}
    </section>
  )
}

const TimeRange = ({
  since,
  until,
  onChange
}: {
  readonly since: string
  readonly until: string
  readonly onChange: (range: { since: string; until: string }) => void
}) => {
  const preset = until === "" && ranges.some((r) => r.since === since)
  const [custom, setCustom] = useState(!preset)
  const [draft, setDraft] = useState({ since, until })
  return (
    <>
      <label>
        Time range{" "}
        <select
          name="range"
          value={custom ? "custom" : since}
          onChange={(event) => {
            if (event.target.value === "custom") {
              setCustom(true)
              return
            }
            setCustom(false)
            onChange({ since: event.target.value, until: "" })
          }}
        >
          {ranges.map((r) => (
            <option key={r.since} value={r.since}>
              {r.label}
            </option>
          ))}
          <option value="custom">Custom…</option>
        </select>
      </label>
      {custom && (
        <span className="custom-range">
          <label>
            since{" "}
            <input name="since" size={22} placeholder="2024-05-01T12:00Z or 2h" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })} />
          </label>
          <label>
            until{" "}
            <input name="until" size={22} placeholder="now" value={draft.until} onChange={(e) => setDraft({ ...draft, until: e.target.value })} />
          </label>
          <button type="button" onClick={() => onChange({ since: draft.since.trim(), until: draft.until.trim() })}>
            Apply
          </button>
        </span>
      )}
    </>
  )
}

const Empty = ({ filtered, pipelines }: { readonly filtered: boolean; readonly pipelines: number | null }) =>
  pipelines === 0 ? (
    <div className="empty" role="status">
      <h2>No pipelines yet</h2>
      <p>
        slowq reads slow queries through pipelines: see <code>pipelines/</code> (<code>pipelines/demo/demo_slow_log.yaml</code> reads
        a sample slow log; <code>pipelines/lab_postgres.yaml</code> and <code>lab_mariadb.yaml</code> read live servers), add a file
        and start <code>slowq run --pipelines &lt;folder&gt;</code>.
      </p>
    </div>
  ) : filtered ? (
    <div className="empty" role="status">
      <h2>No queries here</h2>
      <p>Nothing was stored for these filters: widen the time range, choose another pipeline, database or user, or go back to the first page.</p>
    </div>
  ) : (
    <div className="empty" role="status">
      <h2>No queries stored yet</h2>
      <p>The pipelines have not stored any statement so far. Their first run may still be going: reload in a moment, or see the log of <code>slowq run</code>.</p>
    </div>
  )

const sortable: ReadonlyArray<{ readonly order: QueryOrder; readonly label: string }> = [
  { order: "calls", label: "Calls" },
  { order: "total_ms", label: "Total" },
  { order: "avg_ms", label: "Mean" },
  { order: "p95_ms", label: "p95" },
  { order: "max_ms", label: "Max" }
]

/**
 * The window the sparklines cover: the list's when it has one; all time, the rows' activity (from the earliest first
 * execution to the latest one) but at most 30 days back from that, the minute rollups' retention.
 */
const sparkWindow = (list: QueryListJson, search: Record<string, string>): { since: string; until?: string } => {
  if (search.since !== "" || search.until !== "") {
    return { since: search.since === "" ? "36500d" : (search.since ?? ""), ...(search.until === "" ? {} : { until: search.until }) }
  }
  const last = Math.max(...list.queries.map((q) => Date.parse(q.last_seen)))
  const first = Math.min(...list.queries.map((q) => Date.parse(q.first_seen)))
  const until = Math.floor(last / 60_000) * 60_000 + 60_000
  return { since: new Date(Math.max(first, until - 30 * 86_400_000)).toISOString(), until: new Date(until).toISOString() }
}

/**
 * A row's sparkline values for the ranking: the metric it ranks by, per step; for p95 the mean per call (the batch of
 * series carries no percentiles: a page's histograms would cost more than its rows). A step without calls has no mean
 * and no slowest call: a gap, not a zero.
 */
const sparkValues = (order: QueryOrder, line: SparkLine): ReadonlyArray<number | null> => {
  switch (order) {
    case "calls":
      return line.calls
    case "total_ms":
      return line.totalMs
    case "rows_examined":
      return line.rowsExamined
    case "max_ms":
      return line.maxMs.map((ms, i) => (line.calls[i]! > 0 ? ms : null))
    case "avg_ms":
    case "p95_ms":
      return line.totalMs.map((ms, i) => (line.calls[i]! > 0 ? ms / line.calls[i]! : null))
  }
}

const sparkLabel: Record<QueryOrder, string> = {
  total_ms: "total time",
  calls: "calls",
  avg_ms: "time per call",
  p95_ms: "time per call",
  max_ms: "slowest call",
  rows_examined: "rows examined"
}

const QueryTable = ({
  list,
  order,
  offset,
  onOrder,
  search
}: {
  readonly list: QueryListJson
  readonly order: QueryOrder
  readonly offset: number
  readonly onOrder: (order: QueryOrder) => void
  readonly search: Record<string, string>
}) => {
  const rows: ReadonlyArray<QueryListItemJson> = list.queries
  const window = sparkWindow(list, search)
  const ids = [...new Set(rows.map((r) => r.id))].join(",")
  const seriesParams = { ids, ...window, ...(search.pipeline === "" || search.pipeline === undefined ? {} : { pipeline: search.pipeline }) }
  const series = useApi(`series ${JSON.stringify(seriesParams)}`, (signal) => getSeriesBatch(seriesParams, signal))
  const lines = useMemo(() => sparkLines(series.state === "ok" ? series.value : null), [series])
  const windowStart = list.since === null ? null : Date.parse(list.since)
  const allMs = list.totals?.total_ms ?? 0
  return (
  <table className="queries">
    <thead>
      <tr>
        <th scope="col" className="rank">
          #
        </th>
        <th scope="col">Query</th>
        <th scope="col" className="spark">
          Trend
        </th>
        {sortable.map((s) => (
          <th key={s.order} scope="col" className="num" aria-sort={order === s.order ? "descending" : "none"}>
            <button type="button" className={order === s.order ? "sorted" : ""} onClick={() => onOrder(s.order)}>
              {s.label}
              {order === s.order ? " ↓" : ""}
            </button>
          </th>
        ))}
        <th scope="col" className="num" title="Share of the total time of every query the filters keep, in this range">
          % of total
        </th>
        <th scope="col" className="num" aria-sort={order === "rows_examined" ? "descending" : "none"}>
          <button type="button" className={order === "rows_examined" ? "sorted" : ""} onClick={() => onOrder("rows_examined")}>
            Rows examined{order === "rows_examined" ? " ↓" : ""}
          </button>
        </th>
        <th scope="col">Last seen (UTC)</th>
      </tr>
    </thead>
    <tbody>
      {rows.map((row, index) => (
        <tr key={`${row.pipeline}/${row.id}`} data-query-id={row.id}>
          <td className="rank">{offset + index + 1}</td>
          <td className="query">
            <a href={hrefOf(`/queries/${encodeURIComponent(row.id)}`, { pipeline: row.pipeline, since: search.since, until: search.until })} onClick={onLinkClick}>
              <code className="fingerprint">{row.fingerprint}</code>
            </a>
            <span className="meta">
              {windowStart !== null && Date.parse(row.first_seen_ever) >= windowStart && (
                <span className="badge-new" title={`First seen ${formatTime(row.first_seen_ever)}: new in this range`}>
                  new
                </span>
              )}
              {row.top_severity !== null && (
                <span className={`severity severity-${row.top_severity}`} title="Its most severe open finding">
                  {row.top_severity}
                </span>
              )}
              {row.statement_type} · {row.pipeline}
              {row.tables.length > 0 ? ` · ${row.tables.join(", ")}` : ""}
            </span>
          </td>
          <td className="spark" data-label="Trend">
            <SparkCell line={lines.get(`${row.pipeline}/${row.id}`)} order={order} />
          </td>
          <td className="num" data-label="Calls">
            {formatCount(row.calls)}
          </td>
          <td className="num" data-label="Total" data-ms={row.total_ms}>
            {formatMs(row.total_ms)}
          </td>
          <td className="num" data-label="Mean">
            {formatMs(row.avg_ms)}
          </td>
          <td className="num" data-label="p95" data-ms={row.p95_ms ?? ""}>
            {row.p95_ms === null ? "–" : formatMs(row.p95_ms)}
          </td>
          <td className="num" data-label="Max">
            {formatMs(row.max_ms)}
          </td>
          <td className="num" data-label="% of total" data-share={allMs > 0 ? row.total_ms / allMs : ""}>
            {formatShare(row.total_ms, allMs)}
          </td>
          <td className="num" data-label="Rows examined">
            {formatCount(row.rows_examined)}
          </td>
          <td className="when" data-label="Last seen">
            {formatTime(row.last_seen).replace(" UTC", "")}
          </td>
        </tr>
      ))}
    </tbody>
  </table>
  )
}

interface SparkLine {
  readonly xs: ReadonlyArray<number>
  readonly calls: ReadonlyArray<number>
  readonly totalMs: ReadonlyArray<number>
  readonly maxMs: ReadonlyArray<number>
  readonly rowsExamined: ReadonlyArray<number>
}

/** The page's series by `pipeline/id`, their x the steps' starts in seconds (uPlot's unit). */
const sparkLines = (batch: SeriesBatchJson | null): ReadonlyMap<string, SparkLine> => {
  if (batch === null) return new Map()
  const xs = batch.starts.map((start) => Date.parse(start) / 1000)
  return new Map(
    batch.series.map((s) => [`${s.pipeline}/${s.query_id}`, {
      xs,
      calls: s.calls,
      totalMs: s.total_ms,
      maxMs: s.max_ms,
      rowsExamined: s.rows_examined
    }])
  )
}

const SparkCell = ({ line, order }: { readonly line: SparkLine | undefined; readonly order: QueryOrder }) => {
  const ys = useMemo(() => (line === undefined ? undefined : sparkValues(order, line)), [line, order])
  if (line === undefined || ys === undefined) return <span className="sparkline sparkline-empty" />
  return (
    <Suspense fallback={<span className="sparkline sparkline-empty" />}>
      <Sparkline xs={line.xs} ys={ys} label={`${sparkLabel[order]} per step`} />
    </Suspense>
  )
}
