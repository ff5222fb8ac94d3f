import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { mariadbDatabase } from "../../test/support/explain/Harness.js"
import { parseExplainJson, repairMariadbJson } from "./MariadbJson.js"
import * as MysqlExplainer from "./MysqlExplainer.js"

describe("MariaDB's EXPLAIN FORMAT=JSON text", () => {
  it("keeps valid JSON byte for byte and repairs only SQL escapes and raw control characters inside strings", () => {
    const valid = '{"a": "x\\"y\\\\z\\n\\u0041", "b": [1, 2.5e3, null, true]}'
    expect(repairMariadbJson(valid)).toBe(valid)
    expect(repairMariadbJson(`{"c": "t.a = 'it\\'s' and b = '\t'", "d": "\\\\'"}`)).toBe(
      `{"c": "t.a = 'it's' and b = '\\u0009'", "d": "\\\\'"}`
    )
    // Outside strings nothing is touched (a backslash there is an error JSON.parse reports as before).
    expect(repairMariadbJson("{\\'}")).toBe("{\\'}")
    expect(parseExplainJson(`{"c": "a = 'it\\'s'"}`)).toEqual({ c: "a = 'it's'" })
    expect(parseExplainJson(`{"c": "a = 'say "hi"' or b = 'x'", "d": 1}`)).toEqual({ c: `a = 'say "hi"' or b = 'x'`, d: 1 })
    expect(parseExplainJson("{not json")).toBe(undefined)
  })

  it.live("a statement whose literals hold a quote, a double quote and a tab gets its plan on the local MariaDB", () =>
    Effect.gen(function* () {
      const db = yield* mariadbDatabase("CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(40));")
      const explainer = yield* MysqlExplainer.make({
        url: Redacted.make(db.url),
        password: Option.none(),
        maxConnections: 1,
        statementTimeoutMs: 2000,
        lockTimeoutMs: 2000
      })
      const text = "SELECT id FROM notes WHERE body = 'it''s' OR body = 'say \"hi\"' OR body = 'a\tb'"
      const attempt = yield* explainer.explain({ text, method: "direct", parameters: 0 }, db.name)
      expect(attempt._tag).toBe("Plan")
      type Plan = { query_block: { nested_loop: ReadonlyArray<{ table: { attached_condition: string } }> } }
      const plan = attempt._tag === "Plan" ? (attempt.plan as Plan) : undefined
      expect(plan?.query_block.nested_loop[0]?.table.attached_condition).toBe(
        `notes.\`body\` = 'it's' or notes.\`body\` = 'say "hi"' or notes.\`body\` = 'a\tb'`
      )
    }).pipe(Effect.scoped)
  )
})
