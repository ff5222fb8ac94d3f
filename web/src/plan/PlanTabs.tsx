import { useState } from "react"
import {
  type ExplainJson,
  explainFieldsOf,
  type PlanJson,
  type QueryDetailJson,
  type QueryFindingListJson,
  queryFindings
} from "../api.js"
import { formatCount, formatMs, formatTime } from "../format.js"
import { Problem } from "../Problem.js"
import { hrefOf, navigate, useLocation } from "../router.js"
import { type Loaded, useApi } from "../useApi.js"
import { diffPlans, type NormalizedPlan, nodesOf, normalizePlan } from "./normalize.js"
import { FLAG_TEXT, PlanTree } from "./PlanTree.js"
import "./plan.css"

// The query detail's Plan, Plan history and Tables tabs, loaded with the first of them (QueryDetail.tsx): the plans
// come with the query's detail, from the explain stage's enrichment (plugins/explain/PlanStore.ts).

const METHOD_TEXT: Readonly<Record<string, string>> = {
  direct: "The statement as it was collected",
  rewritten: "MySQL/MariaDB: the SELECT that finds the rows of the UPDATE/DELETE/INSERT…SELECT, or the read without its locking clause",
  prepared_generic: "PostgreSQL: the generic plan of the statement with $n parameters (PREPARE + force_generic_plan)",
  generic_plan: "PostgreSQL: EXPLAIN (GENERIC_PLAN)",
  logged: "PostgreSQL: the plan auto_explain logged with a slow execution (no EXPLAIN ran)"
}

/** The badge's words where the method's own name says less than where the plan came from. */
const METHOD_LABEL: Readonly<Record<string, string>> = { logged: "auto_explain" }

export const MethodBadge = ({ method }: { readonly method: string }) => (
  <span className="method" data-method={method} title={METHOD_TEXT[method] ?? method}>
    {METHOD_LABEL[method] ?? method.replaceAll("_", " ")}
  </span>
)

const NoExplain = () => (
  <div className="empty" role="status">
    <h2>No plan</h2>
    <p>
      This query was never explained: its pipeline has no <code>explain</code> stage, its source reads no database it
      could explain on (a slow log file needs <code>explain_url</code>), or the stage has not reached it yet (see{" "}
      <code>plugins/explain/README.md</code>).
    </p>
  </div>
)

const shortHash = (hash: string) => hash.slice(0, 12)

/** A stored plan drawn as a tree, its raw JSON one click away. */
const StoredPlan = ({ plan, caption }: { readonly plan: PlanJson; readonly caption?: string }) => {
  const [raw, setRaw] = useState(false)
  const normalized = normalizePlan(plan.plan)
  return (
    <figure className="plan" data-hash={plan.hash}>
      <figcaption>
        {caption !== undefined && <strong>{caption} </strong>}
        <MethodBadge method={plan.method} /> <code title={plan.hash}>{shortHash(plan.hash)}</code>
        <span className="meta"> · captured {formatTime(plan.last_captured)}</span>{" "}
        <button type="button" className="link" aria-expanded={raw} onClick={() => setRaw(!raw)}>
          {raw ? "Hide the raw JSON" : "Raw JSON"}
        </button>
      </figcaption>
      {normalized === undefined ? (
        <p className="status">This JSON is no plan this page can draw: its raw form is below.</p>
      ) : (
        <PlanTree plan={normalized} />
      )}
      {(raw || normalized === undefined) && <pre className="plan-json">{JSON.stringify(plan.plan, null, 2)}</pre>}
    </figure>
  )
}

const Outcome = ({ explain, plans }: { readonly explain: ExplainJson; readonly plans: ReadonlyArray<PlanJson> }) => {
  const plan = plans.find((p) => p.pipeline === explain.pipeline && p.hash === explain.hash)
  return (
    <section className="plan-outcome" data-pipeline={explain.pipeline} aria-label={`Plan in ${explain.pipeline}`}>
      <h2>
        {explain.pipeline}
        <span className="meta"> · last explained {formatTime(explain.captured_at)}</span>
      </h2>
      {explain.status !== "plan" && (
        <p className="problem">
          {explain.status === "skipped" ? "Not explained: " : "EXPLAIN failed: "}
          {explain.reason}
        </p>
      )}
      {explain.status !== "plan" && plan === undefined && plans.some((p) => p.pipeline === explain.pipeline) && (
        <p className="meta">Its earlier plans are in the Plan history tab.</p>
      )}
      {plan !== undefined && <StoredPlan plan={plan} />}
    </section>
  )
}

const legend = (
  <p className="meta plan-legend">
    Estimates of the optimizer, not measurements. <span className="mark mark-costliest">costliest</span> the node with
    the largest cost of its own (MariaDB prints no costs: the most rows read); <span className="mark mark-full_scan">full scan</span>{" "}
    every row of the table read; <span className="mark mark-filesort">sort</span> rows sorted after reading;{" "}
    <span className="mark mark-temporary">temporary table</span> rows kept aside for grouping or reuse.
  </p>
)

export const PlanTab = ({ detail, pipeline }: { readonly detail: QueryDetailJson; readonly pipeline: string }) => {
  const fields = explainFieldsOf(detail)
  const explains = (fields.explain ?? []).filter((e) => pipeline === "" || e.pipeline === pipeline)
  if (explains.length === 0) return <NoExplain />
  return (
    <>
      {legend}
      {explains.map((explain) => (
        <Outcome key={explain.pipeline} explain={explain} plans={fields.plans ?? []} />
      ))}
    </>
  )
}

// ---------------------------------------------------------------------------------------------------------------------
// Plan history

const planKey = (plan: PlanJson) => `${plan.pipeline}:${plan.hash}`

/**
 * A plan replaced in the minute it was first captured has no minute of its own: the rollups count by the minute, and
 * that minute's calls are the next plan's (its period starts there). Shown as such rather than as "no calls".
 */
const replacedWithinAMinute = (plan: PlanJson) => plan.latency.since === plan.latency.until
const WITHIN_A_MINUTE = "replaced within a minute; that minute's calls are counted under the next plan"

/** A plan's calls, mean and p95 over its period (served with it: PlanView.latency, from the rollups). */
const underText = (plan: PlanJson) => {
  const { calls, mean_ms, p95_ms } = plan.latency
  if (replacedWithinAMinute(plan)) return WITHIN_A_MINUTE
  return calls === 0 ? "no calls" : `${formatCount(calls)} calls · mean ${formatMs(mean_ms ?? 0)} · p95 ${p95_ms === null ? "–" : formatMs(p95_ms)}`
}

/** The calls cell of a plan: its count, or "< 1 min" (with why) for a plan replaced within its first minute. */
const CallsUnder = ({ plan }: { readonly plan: PlanJson }) =>
  replacedWithinAMinute(plan) ? (
    <span className="meta" title={WITHIN_A_MINUTE} data-within-a-minute="">
      &lt; 1 min
    </span>
  ) : (
    <>{formatCount(plan.latency.calls)}</>
  )

const Compared = ({ left, right }: { readonly left: PlanJson; readonly right: PlanJson }) => {
  const a = normalizePlan(left.plan)
  const b = normalizePlan(right.plan)
  const changes = (x: NormalizedPlan | undefined, y: NormalizedPlan | undefined) =>
    x === undefined || y === undefined ? undefined : diffPlans(x.root, y.root)
  const count = (plan: NormalizedPlan | undefined, of: ReadonlyMap<string, ReadonlyArray<unknown>> | undefined) =>
    plan === undefined || of === undefined ? 0 : nodesOf(plan.root).filter((n) => of.has(n.path)).length
  const ofA = changes(a, b)
  const ofB = changes(b, a)
  return (
    <>
      <p className="meta">
        {count(a, ofA) + count(b, ofB) === 0
          ? "The two plans have the same nodes, read the same way."
          : "Marked: nodes in one plan only, tables read another way, row estimates that moved by 2× or more."}
      </p>
      <div className="plan-compare">
        {[
          [left, a, ofA, "Before"],
          [right, b, ofB, "After"]
        ].map(([plan, normalized, of, caption]) => {
          const p = plan as PlanJson
          const n = normalized as NormalizedPlan | undefined
          return (
            <figure key={caption as string} className="plan" data-hash={p.hash} data-side={caption === "Before" ? "a" : "b"}>
              <figcaption>
                <strong>{caption as string} </strong>
                <MethodBadge method={p.method} /> <code title={p.hash}>{shortHash(p.hash)}</code>
                <span className="meta">
                  {" "}
                  · {formatTime(p.first_captured)} – {formatTime(p.last_captured)}
                </span>
                <span className="plan-under" data-calls={p.latency.calls}>
                  {" "}
                  · {underText(p)}
                </span>
              </figcaption>
              {n === undefined ? (
                <pre className="plan-json">{JSON.stringify(p.plan, null, 2)}</pre>
              ) : (
                <PlanTree plan={n} changes={of as ReadonlyMap<string, ReadonlyArray<"only" | "access" | "rows">>} />
              )}
            </figure>
          )
        })}
      </div>
    </>
  )
}

export const PlanHistoryTab = ({ detail, pipeline }: { readonly detail: QueryDetailJson; readonly pipeline: string }) => {
  const { path, search } = useLocation()
  const fields = explainFieldsOf(detail)
  const plans = (fields.plans ?? []).filter((p) => pipeline === "" || p.pipeline === pipeline)
  if (plans.length === 0) return <NoExplain />
  const current = new Set((fields.explain ?? []).filter((e) => e.status === "plan").map((e) => `${e.pipeline}:${e.hash}`))
  const byKey = new Map(plans.map((p) => [planKey(p), p]))
  const samePipeline = plans.filter((p) => p.pipeline === plans.at(-1)!.pipeline)
  const right = byKey.get(search.get("b") ?? "") ?? samePipeline.at(-1)!
  const left = byKey.get(search.get("a") ?? "") ?? samePipeline.at(-2)
  const choose = (side: "a" | "b", key: string) => {
    const params: Record<string, string> = {}
    for (const [k, v] of search) params[k] = v
    navigate(hrefOf(path, { ...params, [side]: key }), { replace: true })
  }
  return (
    <>
      <table className="plan-history">
        <thead>
          <tr>
            <th>Plan</th>
            <th>Pipeline</th>
            <th>Method</th>
            <th>First seen</th>
            <th>Last seen</th>
            <th className="num" title="Calls from the minute it was first captured to the minute the next plan was (the latest: to its last capture)">
              Calls under it
            </th>
            <th className="num">Mean under it</th>
            <th className="num">p95 under it</th>
            <th>Compare</th>
          </tr>
        </thead>
        <tbody>
          {plans.map((plan) => {
            const key = planKey(plan)
            const figures = plan.latency
            return (
              <tr key={key} data-hash={plan.hash}>
                <td>
                  <code title={plan.hash}>{shortHash(plan.hash)}</code>
                  {current.has(key) && <span className="mark mark-current">current</span>}
                </td>
                <td>{plan.pipeline}</td>
                <td>
                  <MethodBadge method={plan.method} />
                </td>
                <td className="when">{formatTime(plan.first_captured)}</td>
                <td className="when">{formatTime(plan.last_captured)}</td>
                <td className="num" data-label="Calls" title={`${formatTime(figures.since)} – ${formatTime(figures.until)}`}>
                  <CallsUnder plan={plan} />
                </td>
                <td className="num" data-label="Mean" data-ms={figures.mean_ms ?? ""}>
                  {figures.mean_ms === null ? "–" : formatMs(figures.mean_ms)}
                </td>
                <td className="num" data-label="p95" data-ms={figures.p95_ms ?? ""}>
                  {figures.p95_ms === null ? "–" : formatMs(figures.p95_ms)}
                </td>
                <td className="pick">
                  <label>
                    <input type="radio" name="plan-a" checked={left !== undefined && planKey(left) === key} onChange={() => choose("a", key)} /> before
                  </label>{" "}
                  <label>
                    <input type="radio" name="plan-b" checked={planKey(right) === key} onChange={() => choose("b", key)} /> after
                  </label>
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
      <p className="meta">
        Calls, mean and p95 are those of the minutes from a plan's first capture to the next plan's (the latest plan: to
        its last capture), from the rollups: slowq does not record which plan each call ran with.
      </p>
      {left === undefined ? (
        <>
          <p className="status">One plan so far: nothing to compare. A new plan of this query (after an index, an ANALYZE, …) appears here.</p>
          <StoredPlan plan={right} />
        </>
      ) : planKey(left) === planKey(right) ? (
        <p className="status">Choose two different plans to compare.</p>
      ) : (
        <Compared left={left} right={right} />
      )}
    </>
  )
}

// ---------------------------------------------------------------------------------------------------------------------
// Tables

const bareName = (name: string) => name.split(".").at(-1)!.replace(/[`"]/g, "").toLowerCase()

const mentions = (text: string, table: string) => new RegExp(`(^|[^\\w$])${table.replace(/[$]/g, "\\$")}([^\\w$]|$)`, "i").test(text)

export const TablesTab = ({ id, detail, pipeline }: { readonly id: string; readonly detail: QueryDetailJson; readonly pipeline: string }) => {
  const params = pipeline === "" ? {} : { pipeline }
  const findings = useApi(JSON.stringify([id, params]), (signal) => queryFindings(id, params, signal))
  const fields = explainFieldsOf(detail)
  const currentPlans = (fields.explain ?? [])
    .filter((e) => e.status === "plan" && (pipeline === "" || e.pipeline === pipeline))
    .flatMap((e) => (fields.plans ?? []).filter((p) => p.pipeline === e.pipeline && p.hash === e.hash))
  const reads = currentPlans.flatMap((plan) => {
    const normalized = normalizePlan(plan.plan)
    return normalized === undefined ? [] : nodesOf(normalized.root).filter((n) => n.relation !== undefined).map((node) => ({ plan, node }))
  })
  // Every plan of the history, oldest first, with the nodes that read a table: how each plan read it.
  const history = (fields.plans ?? [])
    .filter((p) => pipeline === "" || p.pipeline === pipeline)
    .map((plan) => {
      const normalized = normalizePlan(plan.plan)
      return { plan, nodes: normalized === undefined ? [] : nodesOf(normalized.root).filter((n) => n.relation !== undefined) }
    })
  const named = detail.tables.map((table) => ({ table, bare: bareName(table) }))
  const planOnly = [...new Set(reads.map((r) => r.node.relation!))].filter(
    (relation) => !named.some((t) => t.bare === bareName(relation)) && !relation.startsWith("<")
  )
  const all = [...named, ...planOnly.map((table) => ({ table, bare: bareName(table) }))]
  if (all.length === 0) {
    return (
      <div className="empty" role="status">
        <h2>No tables</h2>
        <p>The statement names no table slowq recognised, and no stored plan reads one.</p>
      </div>
    )
  }
  return (
    <>
      <p className="meta">
        The tables the statement names (from its fingerprint): how the latest plan reads each one (access, index, the
        optimizer's rows, marks and conditions), how every stored plan read it with the latency under that plan, and
        the findings and suggested indexes that name it.
      </p>
      <ul className="tables">
        {all.map(({ table, bare }) => {
          const mine = reads.filter((r) => bareName(r.node.relation!) === bare)
          const about =
            findings.state === "ok"
              ? findings.value.findings.filter(
                  (f) => mentions(f.subject, bare) || mentions(f.evidence, bare) || (f.suggestion !== null && mentions(f.suggestion.ddl, bare))
                )
              : []
          const plansReading = history
            .map(({ plan, nodes }) => ({ plan, nodes: nodes.filter((n) => bareName(n.relation!) === bare) }))
            .filter((h) => h.nodes.length > 0)
          return (
            <li key={table} className="table-card" data-table={table}>
              <h2>
                <code>{table}</code>
                {!detail.tables.includes(table) && <span className="meta"> · read by the plan, not named by the fingerprint</span>}
              </h2>
              {mine.length === 0 ? (
                <p className="meta">{currentPlans.length === 0 ? "No plan is stored for this query." : "The latest plan does not read it directly."}</p>
              ) : (
                <table className="table-reads">
                  <thead>
                    <tr>
                      <th>Read by</th>
                      <th>Access</th>
                      <th>Index</th>
                      <th className="num">Rows (estimate)</th>
                      <th>Marks</th>
                      <th>Conditions</th>
                      <th>Pipeline</th>
                    </tr>
                  </thead>
                  <tbody>
                    {mine.map(({ plan, node }) => (
                      <tr key={`${plan.pipeline}/${node.path}`}>
                        <td>
                          <code>{node.label}</code>
                        </td>
                        <td data-label="Access">{node.access ?? "–"}</td>
                        <td data-label="Index">{node.index ?? "–"}</td>
                        <td className="num" data-label="Rows">
                          {node.rows === undefined ? "–" : formatCount(Math.round(node.rows))}
                        </td>
                        <td className="marks">
                          {node.flags.length === 0
                            ? "–"
                            : node.flags.map((flag) => (
                                <span key={flag} className={`mark mark-${flag}`}>
                                  {FLAG_TEXT[flag]}
                                </span>
                              ))}
                        </td>
                        <td className="conditions">
                          {node.details.length === 0
                            ? "–"
                            : node.details.map(([key, value]) => (
                                <code key={key} className="condition">
                                  {key}: {value}
                                </code>
                              ))}
                        </td>
                        <td>{plan.pipeline}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {plansReading.length > 0 && (
                <table className="table-reads table-history">
                  <caption>Under each stored plan, oldest first</caption>
                  <thead>
                    <tr>
                      <th>Plan</th>
                      <th>Read as</th>
                      <th className="num">Calls under it</th>
                      <th className="num">Mean</th>
                      <th className="num">p95</th>
                    </tr>
                  </thead>
                  <tbody>
                    {plansReading.map(({ plan, nodes }) => (
                      <tr key={planKey(plan)} data-hash={plan.hash}>
                        <td>
                          <code title={plan.hash}>{shortHash(plan.hash)}</code> <span className="meta">{plan.pipeline}</span>
                        </td>
                        <td className="read-as">{nodes.map((n) => [n.access, n.index].filter((x) => x !== undefined).join(" on ")).join(", ")}</td>
                        <td className="num" data-label="Calls">
                          <CallsUnder plan={plan} />
                        </td>
                        <td className="num" data-label="Mean">
                          {plan.latency.mean_ms === null ? "–" : formatMs(plan.latency.mean_ms)}
                        </td>
                        <td className="num" data-label="p95">
                          {plan.latency.p95_ms === null ? "–" : formatMs(plan.latency.p95_ms)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              <TableFindings findings={findings} about={about} />
            </li>
          )
        })}
      </ul>
    </>
  )
}

const TableFindings = ({ findings, about }: { readonly findings: Loaded<QueryFindingListJson>; readonly about: QueryFindingListJson["findings"] }) => {
  if (findings.state === "loading") return <p className="status">Loading the findings…</p>
  if (findings.state === "failed") return <Problem failure={findings.failure} />
  if (about.length === 0) return <p className="meta">No finding names it.</p>
  return (
    <ul className="table-findings">
      {about.map((f) => (
        <li key={`${f.pipeline}/${f.rule}/${f.subject}`} data-rule={f.rule}>
          <span className={`severity severity-${f.severity}`}>{f.severity}</span> <strong>{f.rule}</strong>
          {f.subject === "" ? "" : ` on ${f.subject}`}
          {f.resolved_at === null ? "" : " (resolved)"}
          {f.suggestion !== null && <pre className="ddl-inline">{f.suggestion.ddl}</pre>}
          {f.verified !== null && (
            <span className="meta verified">
              Verified on the planner: cost {f.verified.cost_before.toFixed(0)} → {f.verified.cost_after.toFixed(0)}
            </span>
          )}
        </li>
      ))}
    </ul>
  )
}
