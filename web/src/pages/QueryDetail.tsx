import { lazy, Suspense } from "react"
import { getQuery, getSeries, type QueryDetailJson, type QuerySampleJson, queryFindings } from "../api.js"
import { FindingCard } from "../FindingCard.js"
import { formatCount, formatMs, formatTime } from "../format.js"
import { Problem } from "../Problem.js"
import { hrefOf, onLinkClick, useLocation } from "../router.js"
import { useApi } from "../useApi.js"

// One fingerprint: its totals and series (Overview), its kept samples (Samples), its plan as a tree (Plan), its
// distinct plans compared (Plan history), its findings and its tables. The tab, the pipeline, the time range and the
// plans compared are in the URL.

// uPlot loads with the first chart, not with the list; the plan tabs' code with the first of them.
const SeriesCharts = lazy(() => import("../SeriesCharts.js"))
const PlanTab = lazy(() => import("../plan/PlanTabs.js").then((m) => ({ default: m.PlanTab })))
const PlanHistoryTab = lazy(() => import("../plan/PlanTabs.js").then((m) => ({ default: m.PlanHistoryTab })))
const TablesTab = lazy(() => import("../plan/PlanTabs.js").then((m) => ({ default: m.TablesTab })))

const tabs = [
  { id: "overview", label: "Overview" },
  { id: "samples", label: "Samples" },
  { id: "plan", label: "Plan" },
  { id: "plan-history", label: "Plan history" },
  { id: "findings", label: "Findings" },
  { id: "tables", label: "Tables" }
] as const

const minuteMs = 60_000

export const QueryDetailPage = ({ id }: { readonly id: string }) => {
  const { search } = useLocation()
  const pipeline = search.get("pipeline") ?? ""
  const since = search.get("since") ?? ""
  const until = search.get("until") ?? ""
  const tab = tabs.find((t) => t.id === search.get("tab"))?.id ?? "overview"
  const scope = { ...(pipeline === "" ? {} : { pipeline }), ...(since === "" ? {} : { since }), ...(until === "" ? {} : { until }) }
  const params = { ...scope, samples: "20" }
  const detail = useApi(JSON.stringify([id, params]), (signal) => getQuery(id, params, signal))
  const back = hrefOf("/", { pipeline, since, until })

  return (
    <section aria-labelledby="query-title">
      <p className="crumbs">
        <a href={back} onClick={onLinkClick}>
          ← Queries
        </a>
      </p>
      <h1 id="query-title">Query {id}</h1>
      {detail.state === "loading" && <p className="status" aria-busy="true">Loading the query…</p>}
      {detail.state === "failed" && <Problem failure={detail.failure} />}
      {detail.state === "ok" && (
        <>
          <pre className="fingerprint-full">{detail.value.fingerprint}</pre>
          <nav className="tabs" aria-label="Query views">
            {tabs.map((t) => (
              <a
                key={t.id}
                href={hrefOf(`/queries/${encodeURIComponent(id)}`, { pipeline, since, until, tab: t.id === "overview" ? "" : t.id })}
                onClick={onLinkClick}
                aria-current={tab === t.id ? "page" : undefined}
              >
                {t.label}
              </a>
            ))}
          </nav>
          {tab === "overview" && <Overview id={id} detail={detail.value} scope={scope} />}
          {tab === "samples" && <Samples samples={detail.value.samples} />}
          {tab === "findings" && <Findings id={id} pipeline={pipeline} />}
          {(tab === "plan" || tab === "plan-history" || tab === "tables") && (
            <Suspense fallback={<p className="status">Loading…</p>}>
              {tab === "plan" && <PlanTab detail={detail.value} pipeline={pipeline} />}
              {tab === "plan-history" && <PlanHistoryTab detail={detail.value} pipeline={pipeline} />}
              {tab === "tables" && <TablesTab id={id} detail={detail.value} pipeline={pipeline} />}
            </Suspense>
          )}
        </>
      )}
    </section>
  )
}

const Overview = ({
  id,
  detail,
  scope
}: {
  readonly id: string
  readonly detail: QueryDetailJson
  readonly scope: { readonly pipeline?: string; readonly since?: string; readonly until?: string }
}) => {
  // Without a range in the URL the series spans the query's life, from its first minute to its last: a log read
  // long after it was written (the demo's) has nothing in the last 24 hours, the API's default.
  const firstMinute = Math.floor(Date.parse(detail.first_seen) / minuteMs) * minuteMs
  const afterLast = (Math.floor(Date.parse(detail.last_seen) / minuteMs) + 1) * minuteMs
  const params = {
    ...scope,
    since: scope.since ?? new Date(firstMinute).toISOString(),
    ...(scope.since === undefined && scope.until === undefined ? { until: new Date(afterLast).toISOString() } : {})
  }
  const series = useApi(JSON.stringify([id, params]), (signal) => getSeries(id, params, signal))
  const figures: ReadonlyArray<readonly [string, string]> = [
    ["Calls", formatCount(detail.calls)],
    ["Total time", formatMs(detail.total_ms)],
    ["Mean", formatMs(detail.avg_ms)],
    ["Max", formatMs(detail.max_ms)],
    ["Lock time", formatMs(detail.lock_ms)],
    ["Rows examined", formatCount(detail.rows_examined)],
    ["Rows examined per call", detail.calls === 0 ? "–" : formatCount(Math.round(detail.rows_examined / detail.calls))],
    ["Rows sent", formatCount(detail.rows_sent)],
    ["First seen", formatTime(detail.first_seen)],
    ["Last seen", formatTime(detail.last_seen)],
    ["Statement", `${detail.statement_type}${detail.read_only ? " (read only)" : ""}`],
    ["Tables", detail.tables.length === 0 ? "–" : detail.tables.join(", ")],
    ["Pipelines", detail.pipelines.join(", ")]
  ]
  return (
    <>
      <dl className="figures">
        {figures.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {series.state === "loading" && <p className="status" aria-busy="true">Loading the series…</p>}
      {series.state === "failed" && <Problem failure={series.failure} />}
      {series.state === "ok" && (
        <Suspense fallback={<p className="status">Loading the charts…</p>}>
          <SeriesCharts series={series.value} />
        </Suspense>
      )}
    </>
  )
}

const Samples = ({ samples }: { readonly samples: ReadonlyArray<QuerySampleJson> }) =>
  samples.length === 0 ? (
    <div className="empty" role="status">
      <h2>No samples</h2>
      <p>
        None is kept for this query in this range: the pipeline's sample policy may be <code>none</code> (its sink's{" "}
        <code>samples</code>), or its samples were pruned with its events (SLOWQ_RETAIN_EVENTS).
      </p>
    </div>
  ) : (
    <ol className="samples">
      {samples.map((sample) => (
        <li key={`${sample.pipeline}/${sample.start_time}/${sample.kind}`}>
          <p className="meta">
            {formatTime(sample.start_time)} · {sample.kind === "slowest" ? "slowest of its hour" : "first of its hour"} ·{" "}
            {formatMs(sample.query_time_ms)}
            {sample.calls > 1 ? ` (${formatCount(sample.calls)} calls)` : ""} · {formatCount(sample.rows_examined)} rows examined
            {sample.db === null ? "" : ` · ${sample.db}`} · {sample.pipeline}
          </p>
          <pre>{sample.sql_text}</pre>
          {sample.truncated && <p className="meta">The statement was truncated when stored.</p>}
        </li>
      ))}
    </ol>
  )

const Findings = ({ id, pipeline }: { readonly id: string; readonly pipeline: string }) => {
  const params = pipeline === "" ? {} : { pipeline }
  const findings = useApi(JSON.stringify([id, params]), (signal) => queryFindings(id, params, signal))
  if (findings.state === "loading") return <p className="status" aria-busy="true">Loading the findings…</p>
  if (findings.state === "failed") return <Problem failure={findings.failure} />
  if (findings.value.findings.length === 0) {
    return (
      <div className="empty" role="status">
        <h2>No findings</h2>
        <p>
          Nothing was found wrong with this query, or its pipeline has no <code>analyze</code> stage (see{" "}
          <code>plugins/analyze/README.md</code>).
        </p>
      </div>
    )
  }
  return (
    <ol className="findings">
      {findings.value.findings.map((finding) => (
        <FindingCard key={`${finding.pipeline}/${finding.rule}/${finding.subject}`} finding={finding} showQuery={false} />
      ))}
    </ol>
  )
}
