import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { FindingReads, type SuggestionView } from "../store/FindingReads.js"
import { StoreLive } from "../store/StoreLive.js"
import { CliFailure } from "./CliFailure.js"

const pipeline = Options.text("pipeline").pipe(Options.withDescription("The pipeline whose suggestions to list."))
const top = Options.integer("top").pipe(Options.withDescription("How many suggestions, most impact first."), Options.withDefault(10))
const format = Options.choice("format", ["sql", "json"]).pipe(
  Options.withDescription("sql: a script to review, each DDL after comments saying why; json: the API's objects."),
  Options.withDefault("sql" as const)
)

const MS = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const PERCENT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 })
const COST = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 })

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat
}

const costs = (before: number | null, after: number | null) =>
  before === null || after === null || before <= 0
    ? "not verified"
    : `cost ${COST.format(before)} -> ${COST.format(after)} (-${PERCENT.format((1 - after / before) * 100)}%)`

/**
 * The suggestions as a SQL script a DBA reads before running any of it: every line but the DDL is a comment, so the
 * file runs as it is only once each statement has been reviewed and the `--` of the ones to skip added.
 */
export const formatScript = (pipeline: string, suggestions: ReadonlyArray<SuggestionView>): string => {
  if (suggestions.length === 0) {
    return `-- slowq advise: no open suggestion for pipeline ${pipeline} (the analyze stage proposes indexes for the plans it reads)`
  }
  const blocks = suggestions.map((s, i) => {
    const head = `-- ${i + 1}. ${s.severity} ${s.kind}, ${s.verified ? "verified" : "NOT verified"} on the planner; impact ${MS.format(s.impact_ms)} ms; serves ${s.queries.length} ${s.queries.length === 1 ? "query" : "queries"}:`
    const served = s.queries.map(
      (q) => `--    ${q.query_id}  ${costs(q.cost_before, q.cost_after)}  ${oneLine(q.fingerprint, 90)}`
    )
    return [head, ...served, `${s.ddl.replace(/;\s*$/, "")};`].join("\n")
  })
  return [`-- slowq advise: ${suggestions.length} suggestion(s) for pipeline ${pipeline}, most impact first. Review before running.`, ...blocks].join("\n\n")
}

export const adviseCommand = Command.make("advise", { pipeline, top, format }, ({ pipeline, top, format }) =>
  Effect.gen(function* () {
    if (top < 1) return yield* new CliFailure({ message: `--top must be at least 1, got ${top}` })
    const reads = yield* FindingReads
    const suggestions = yield* reads.listSuggestions({ pipeline, limit: top })
    yield* Console.log(
      format === "json" ? JSON.stringify({ suggestions }, null, 2) : formatScript(pipeline, suggestions)
    )
  }).pipe(
    Effect.provide(StoreLive),
    Effect.catchTag("StoreError", (error) => new CliFailure({ message: error.message }))
  )
).pipe(
  Command.withDescription(
    "The pipeline's open suggestions (indexes to create), each once with the queries it serves and the planner's costs, ranked by impact: a script to review."
  )
)
