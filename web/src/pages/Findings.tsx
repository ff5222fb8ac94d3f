import { useState } from "react"
import { listFindings, listPipelines, type Severity } from "../api.js"
import { choicesWithAll, FilterSelect } from "../FilterSelect.js"
import { FindingCard } from "../FindingCard.js"
import { Problem } from "../Problem.js"
import { hrefOf, navigate, useLocation } from "../router.js"
import { useApi } from "../useApi.js"

// Every finding of every pipeline, ranked by impact (GET /api/v1/findings); severity, rule, pipeline and whether
// resolved ones show are in the URL.

const severities: ReadonlyArray<{ readonly value: "" | Severity; readonly label: string }> = [
  { value: "", label: "All" },
  { value: "warn", label: "warn and crit" },
  { value: "crit", label: "crit" }
]
const isSeverity = (text: string): text is Severity => text === "info" || text === "warn" || text === "crit"

const limit = 100

export const FindingsPage = () => {
  const { search } = useLocation()
  const severity = search.get("severity") ?? ""
  const rule = search.get("rule") ?? ""
  const pipeline = search.get("pipeline") ?? ""
  const resolved = search.get("resolved") === "true" ? "true" : ""
  const state = { severity, rule, pipeline, resolved }
  const go = (change: Partial<typeof state>) => navigate(hrefOf("/findings", { ...state, ...change }))
  const params = {
    limit: String(limit),
    ...(isSeverity(severity) ? { severity } : {}),
    ...(rule === "" ? {} : { rule }),
    ...(pipeline === "" ? {} : { pipeline }),
    ...(resolved === "" ? {} : { resolved })
  }
  const list = useApi(JSON.stringify(params), (signal) => listFindings(params, signal))
  const pipelines = useApi("pipelines", listPipelines)
  const [ruleDraft, setRuleDraft] = useState(rule)

  return (
    <section aria-labelledby="findings-title">
      <h1 id="findings-title">Findings</h1>
      <form
        className="filters"
        onSubmit={(event) => {
          event.preventDefault()
          go({ rule: ruleDraft.trim() })
        }}
      >
        <FilterSelect label="Severity" name="severity" value={severity} options={severities} onChange={(value) => go({ severity: value })} />
        <FilterSelect
          label="Pipeline"
          name="pipeline"
          value={pipeline}
          options={choicesWithAll(pipelines.state === "ok" ? pipelines.value.pipelines.map((p) => p.name) : [], pipeline)}
          onChange={(value) => go({ pipeline: value })}
        />
        <label>
          Rule <input name="rule" size={24} placeholder="e.g. stmt_select_star" value={ruleDraft} onChange={(e) => setRuleDraft(e.target.value)} />
        </label>
        <label>
          <input type="checkbox" name="resolved" checked={resolved === "true"} onChange={(e) => go({ resolved: e.target.checked ? "true" : "" })} /> resolved
          too
        </label>
      </form>
      {list.state === "loading" && <p className="status" aria-busy="true">Loading the findings…</p>}
      {list.state === "failed" && <Problem failure={list.failure} />}
      {list.state === "ok" && list.value.findings.length === 0 && (
        <div className="empty" role="status">
          <h2>No findings{severity !== "" || rule !== "" || pipeline !== "" ? " for these filters" : ""}</h2>
          <p>
            Findings come from a pipeline's <code>analyze</code> stage (see <code>plugins/analyze/README.md</code>); with
            it, they appear after the pipeline's next run.
          </p>
        </div>
      )}
      {list.state === "ok" && list.value.findings.length > 0 && (
        <>
          <ol className="findings">
            {list.value.findings.map((finding) => (
              <FindingCard key={`${finding.pipeline}/${finding.query_id}/${finding.rule}/${finding.subject}`} finding={finding} showQuery />
            ))}
          </ol>
          {list.value.findings.length === limit && <p className="status">The {limit} with the most impact; narrow the filters to see others.</p>}
        </>
      )}
    </section>
  )
}
