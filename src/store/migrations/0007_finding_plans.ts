import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The two plans a finding compares (issue 12): without and with a suggested index, or before and after a plan change.
// Kept with the finding, not by reference to slowq_plans: a hypothetical index's plan is never a stored plan, and a
// plan the finding shows must not change under it. Nullable, so existing rows stay as they are.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE slowq_findings ADD COLUMN plans jsonb`
})
