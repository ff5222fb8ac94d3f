import { formatCount } from "../format.js"
import type { NodeChange, NormalizedPlan, PlanFlag, PlanNode } from "./normalize.js"

// One tree for both dialects: nested lists with CSS guide lines, each node its label, what it reads and how, the
// optimizer's rows and cost, and marks for what a DBA looks for first.

export const FLAG_TEXT: Readonly<Record<PlanFlag, string>> = {
  full_scan: "full scan",
  full_index_scan: "full index scan",
  filesort: "sort",
  temporary: "temporary table"
}

const CHANGE_TEXT: Readonly<Record<NodeChange, string>> = {
  only: "only in this plan",
  access: "read another way",
  rows: "rows estimate changed"
}

const cost = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

const Node = ({
  node,
  plan,
  changes
}: {
  readonly node: PlanNode
  readonly plan: NormalizedPlan
  readonly changes: ReadonlyMap<string, ReadonlyArray<NodeChange>> | undefined
}) => {
  const costliest = plan.costliest === node.path
  const changed = changes?.get(node.path) ?? []
  const classes = ["plan-node", costliest ? "costliest" : "", ...changed.map((c) => `change-${c}`), ...node.flags.map((f) => `flag-${f}`)]
  return (
    <li>
      <div className={classes.filter((c) => c !== "").join(" ")} data-path={node.path} data-label={node.label}>
        <p className="plan-label">
          <strong>{node.label}</strong>
          {costliest && (
            <span className="mark mark-costliest" title={plan.costliestBy === "cost" ? "The largest cost of its own" : "The most rows read (the plan prints no costs)"}>
              costliest
            </span>
          )}
          {node.flags.map((flag) => (
            <span key={flag} className={`mark mark-${flag}`}>
              {FLAG_TEXT[flag]}
            </span>
          ))}
          {changed.map((change) => (
            <span key={change} className={`mark mark-change change-${change}`}>
              {CHANGE_TEXT[change]}
            </span>
          ))}
        </p>
        <p className="plan-meta">
          {node.access !== undefined && node.relation !== undefined && <span>access {node.access}</span>}
          {node.index !== undefined && <span>index {node.index}</span>}
          {node.rows !== undefined && <span>rows {formatCount(Math.round(node.rows))}</span>}
          {node.cost !== undefined && <span>cost {cost.format(node.cost)}</span>}
          {node.selfCost !== undefined && node.children.length > 0 && <span>own {cost.format(node.selfCost)}</span>}
        </p>
        {node.details.length > 0 && (
          <dl className="plan-details">
            {node.details.map(([key, value]) => (
              <div key={key}>
                <dt>{key}</dt>
                <dd>
                  <code>{value}</code>
                </dd>
              </div>
            ))}
          </dl>
        )}
      </div>
      {node.children.length > 0 && (
        <ul>
          {node.children.map((child) => (
            <Node key={child.path} node={child} plan={plan} changes={changes} />
          ))}
        </ul>
      )}
    </li>
  )
}

export const PlanTree = ({
  plan,
  changes
}: {
  readonly plan: NormalizedPlan
  readonly changes?: ReadonlyMap<string, ReadonlyArray<NodeChange>>
}) => (
  <ul className="plan-tree" data-format={plan.format}>
    <Node node={plan.root} plan={plan} changes={changes} />
  </ul>
)
