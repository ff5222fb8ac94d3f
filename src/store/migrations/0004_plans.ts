import { Effect } from "effect"

// Migration 0004 created the explain stage's tables (slowq_plans, slowq_explains) when the core knew that stage.
// They are the explain plugin's own now, created by its enrichment's migrations (IF NOT EXISTS, so a store that ran
// this migration before keeps its tables and data). The id stays taken: stores record it as applied.
export default Effect.void
