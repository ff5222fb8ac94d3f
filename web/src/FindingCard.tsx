import { useState } from "react"
import type { FindingJson } from "./api.js"
import { formatMs, formatTime } from "./format.js"
import { hrefOf, onLinkClick } from "./router.js"

const percent = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 })

/** One finding: what is wrong, where, what to do, the change to review (to copy) and its verified cost. */
export const FindingCard = ({ finding, showQuery }: { readonly finding: FindingJson; readonly showQuery: boolean }) => {
  const [copied, setCopied] = useState(false)
  const ddl = finding.suggestion?.ddl
  return (
    <li className="finding" data-rule={finding.rule} data-severity={finding.severity}>
      <p className="finding-head">
        <span className={`severity severity-${finding.severity}`}>{finding.severity}</span> <strong>{finding.rule}</strong>
        {finding.subject === "" ? "" : ` on ${finding.subject}`}
        <span className="meta">
          {" "}
          · saves up to {formatMs(finding.impact_ms)} ({percent.format(finding.impact_share)} of {finding.pipeline}'s time) · {finding.stage}
          {finding.resolved_at === null ? "" : ` · resolved ${formatTime(finding.resolved_at)}`}
        </span>
      </p>
      {showQuery && (
        <a className="finding-query" href={hrefOf(`/queries/${encodeURIComponent(finding.query_id)}`, { pipeline: finding.pipeline, tab: "findings" })} onClick={onLinkClick}>
          <code>{finding.fingerprint}</code>
        </a>
      )}
      <p>{finding.message}</p>
      {finding.evidence !== "" && (
        <p className="meta">
          Where: <code>{finding.evidence}</code>
        </p>
      )}
      <p>{finding.advice}</p>
      {ddl !== undefined && (
        <div className="ddl">
          <pre>{ddl}</pre>
          <button
            type="button"
            onClick={() =>
              navigator.clipboard.writeText(ddl).then(
                () => setCopied(true),
                () => setCopied(false)
              )
            }
          >
            {copied ? "Copied" : "Copy"}
          </button>
          {finding.verified !== null && (
            <p className="meta">
              Verified on the planner: cost {finding.verified.cost_before.toFixed(0)} → {finding.verified.cost_after.toFixed(0)}
            </p>
          )}
        </div>
      )}
    </li>
  )
}
