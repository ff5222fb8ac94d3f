import { useState } from "react"
import { listPipelines, listQueries, type QueryListItemJson, type QueryOrder } from "../api.js"
import { formatCount, formatMs, formatTime } from "../format.js"
import { Problem } from "../Problem.js"
import { hrefOf, navigate, onLinkClick, useLocation } from "../router.js"
import { useApi } from "../useApi.js"

// The ranked list of fingerprints (GET /api/v1/queries). Everything the list shows is in the URL: order, pipeline,
// since, until, offset; each change is a navigation, so Back undoes it and a link shows the same list.

const orders: ReadonlyArray<{ readonly value: QueryOrder; readonly label: string }> = [
  { value: "total_ms", label: "Total time" },
  { value: "calls", label: "Calls" },
  { value: "avg_ms", label: "Mean" },
  { value: "max_ms", label: "Max" }
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
  const since = search.get("since") ?? ""
  const until = search.get("until") ?? ""
  const offset = Math.max(0, Number.parseInt(search.get("offset") ?? "0", 10) || 0)
  const state = { order: order === "total_ms" ? "" : order, pipeline, since, until, offset: offset === 0 ? "" : String(offset) }
  const go = (change: Partial<typeof state>) => navigate(hrefOf("/", { ...state, offset: "", ...change }))

  const params = {
    order,
    limit: String(pageSize),
    offset: String(offset),
    ...(pipeline === "" ? {} : { pipeline }),
    ...(since === "" ? {} : { since }),
    ...(until === "" ? {} : { until })
  }
  const key = JSON.stringify(params)
  const list = useApi(key, (signal) => listQueries(params, signal))
  const pipelines = useApi("pipelines", listPipelines)
  const pipelineNames = pipelines.state === "ok" ? pipelines.value.pipelines.map((p) => p.name) : []

  return (
    <section aria-labelledby="queries-title">
      <h1 id="queries-title">Queries</h1>
      <form className="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Rank by{" "}
          <select name="order" value={order} onChange={(event) => go({ order: event.target.value === "total_ms" ? "" : event.target.value })}>
            {orders.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Pipeline{" "}
          <select name="pipeline" value={pipeline} onChange={(event) => go({ pipeline: event.target.value })}>
            <option value="">All</option>
            {[...new Set([...pipelineNames, ...(pipeline === "" ? [] : [pipeline])])].map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <TimeRange since={since} until={until} onChange={(range) => go(range)} />
      </form>
      {list.state === "loading" && <p className="status" aria-busy="true">Loading the ranking…</p>}
      {list.state === "failed" && <Problem failure={list.failure} />}
      {list.state === "ok" && list.value.queries.length === 0 && (
        <Empty filtered={pipeline !== "" || since !== "" || until !== "" || offset > 0} pipelines={pipelines.state === "ok" ? pipelineNames.length : null} />
      )}
      {list.state === "ok" && list.value.queries.length > 0 && (
        <>
          <QueryTable rows={list.value.queries} order={order} offset={offset} onOrder={(o) => go({ order: o === "total_ms" ? "" : o })} search={{ pipeline, since, until }} />
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
      <p>Nothing was stored for these filters: widen the time range, choose another pipeline, or go back to the first page.</p>
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
  { order: "max_ms", label: "Max" }
]

const QueryTable = ({
  rows,
  order,
  offset,
  onOrder,
  search
}: {
  readonly rows: ReadonlyArray<QueryListItemJson>
  readonly order: QueryOrder
  readonly offset: number
  readonly onOrder: (order: QueryOrder) => void
  readonly search: Record<string, string>
}) => (
  <table className="queries">
    <thead>
      <tr>
        <th scope="col" className="rank">
          #
        </th>
        <th scope="col">Query</th>
        {sortable.map((s) => (
          <th key={s.order} scope="col" className="num" aria-sort={order === s.order ? "descending" : "none"}>
            <button type="button" className={order === s.order ? "sorted" : ""} onClick={() => onOrder(s.order)}>
              {s.label}
              {order === s.order ? " ↓" : ""}
            </button>
          </th>
        ))}
        <th scope="col" className="num">
          Rows examined
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
              {row.statement_type} · {row.pipeline}
              {row.tables.length > 0 ? ` · ${row.tables.join(", ")}` : ""}
            </span>
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
          <td className="num" data-label="Max">
            {formatMs(row.max_ms)}
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
