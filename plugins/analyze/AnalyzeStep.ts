import type { Effect } from "effect"
import type { CollectedEvent } from "../../src/domain/CollectedEvent.js"
import type { QueryFindings } from "../../src/plugin/Finding.js"
import type { MemoryEntry } from "../../src/plugin/PipelineStage.js"
import type { PlanMethod } from "../explain/Outcome.js"
import type { RuleDialect } from "./rules/Rule.js"

/** A plan the explain stage (before analyze in the pipeline) attached to a query's events in this batch. */
export interface BatchPlan {
  readonly plan: unknown
  /** The plan's shape hash: a new hash for a query is a plan change. */
  readonly hash: string
  readonly method: PlanMethod
  readonly capturedAt: Date
}

/** A query's figures in this batch. */
export interface BatchTotals {
  readonly calls: number
  readonly totalMs: number
  /** The first and last event's time in the batch, epoch ms. */
  readonly firstAt: number
  readonly lastAt: number
}

/** What each step of the analyze stage sees of one batch, computed once. */
export interface BatchView {
  readonly dialect: RuleDialect
  readonly events: ReadonlyArray<CollectedEvent>
  /** Per query id: its slowest sample of the batch (time per call). */
  readonly slowest: ReadonlyMap<string, CollectedEvent>
  /** Per query id: the plan the explain stage gave it in this batch, if it did. */
  readonly plans: ReadonlyMap<string, BatchPlan>
  readonly totals: ReadonlyMap<string, BatchTotals>
  /** When the batch is analyzed, epoch ms. */
  readonly now: number
}

/**
 * What a step made of a batch: findings by query and scope (a scope is one step's own: `statement`, `plan`,
 * `index_advice`, `regression`, `ai`), and entries of the stage's memory to set, with keys prefixed by the step
 * (`plan:<query id>`), stored by the runtime in the batch's transaction.
 */
export interface StepOutput {
  readonly findings: ReadonlyArray<QueryFindings>
  readonly remember: ReadonlyArray<MemoryEntry>
}

export const noOutput: StepOutput = { findings: [], remember: [] }

/**
 * One check of the analyze stage. Steps run in order; each gets the findings of the steps before it (the AI step
 * reads the rules' findings). A step never fails the batch: what it cannot do, it logs and leaves out, and the
 * findings of a scope it did not examine stay open.
 */
export interface AnalyzeStep {
  readonly name: string
  readonly run: (batch: BatchView, earlier: ReadonlyArray<QueryFindings>) => Effect.Effect<StepOutput>
}
