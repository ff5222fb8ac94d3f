import { describe, expect, it } from "@effect/vitest"
import type { CollectedEvent } from "../domain/CollectedEvent.js"
import { makeEvent } from "../domain/SlowQueryEvent.js"
import { sampleScrubber } from "./SampleScrubber.js"

const collected = (sqlText: string, fingerprint = "select ?"): CollectedEvent => ({
  event: makeEvent({ key: "k", startTimeUs: 0, queryTimeMs: 1, sqlText }),
  fingerprint: {
    fingerprint,
    queryId: "AAAA",
    statementType: "select",
    readOnly: true,
    tables: [],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer"
  }
})

const batch = [
  collected("SELECT * FROM users WHERE email = 'bob@example.org' AND id IN (12, 34567) LIMIT 5"),
  collected(`UPDATE users SET note = "it's ok" WHERE phone = E'+49\\n151' OR token = $$s3cr3t$$`)
]

describe("sampleScrubber", () => {
  it("raw: everything as it is", () => {
    const scrub = sampleScrubber("raw", "mysql", batch)
    expect(scrub.sample(batch[0]!)).toBe(batch[0]!.event.sqlText)
    expect(scrub.text("email = 'bob@example.org'")).toBe("email = 'bob@example.org'")
  })

  it("normalized: samples with every literal a ?, free text without the batch's strings and long numbers", () => {
    const scrub = sampleScrubber("normalized", "mysql", batch)
    expect(scrub.sample(batch[0]!)).toBe("SELECT * FROM users WHERE email = ? AND id IN (?, ?) LIMIT ?")
    expect(scrub.sample(batch[1]!)).toBe("UPDATE users SET note = ? WHERE phone = ? OR token = $$s3cr3t$$")
    // Quoted as written, or its content alone (3 characters or more); numbers of 3 digits or more, as whole words.
    expect(scrub.text("WHERE email = 'bob@example.org' (bob@example.org), note it's ok")).toBe("WHERE email = ? (?), note ?")
    expect(scrub.text("id 34567 of 345678, idx_34567, 1.34567, 12 rows, 5 calls")).toBe("id ? of 345678, idx_34567, 1.34567, 12 rows, 5 calls")
  })

  it("postgres: E'' and dollar-quoted strings are literals too", () => {
    const scrub = sampleScrubber("normalized", "postgres", batch)
    expect(scrub.sample(batch[1]!)).toBe('UPDATE users SET note = "it\'s ok" WHERE phone = ? OR token = ?')
    expect(scrub.text("Filter: (token = 's3cr3t'::text) phone +49\\n151")).toBe("Filter: (token = '?'::text) phone ?")
  })

  it("values: strings scrubbed in plain objects and arrays; numbers, Dates and keys kept", () => {
    const scrub = sampleScrubber("normalized", "mysql", batch)
    const at = new Date(0)
    expect(scrub.value({ reason: "Unknown value 'bob@example.org'", rows: 34567, at, list: ["34567", "x"], "bob@example.org": 1 })).toEqual({
      reason: "Unknown value ?",
      rows: 34567,
      at,
      list: ["?", "x"],
      "bob@example.org": 1
    })
    expect(scrub.value({ at }).at).toBe(at)
  })

  it("plans: expressions of known fields normalized, MySQL's cost strings kept", () => {
    const scrub = sampleScrubber("normalized", "mysql", batch)
    expect(
      scrub.plan({
        query_block: {
          cost_info: { query_cost: "2034.25" },
          table: { table_name: "users", attached_condition: "users.email = 'x@y.z' and users.age > 7", rows_examined_per_scan: 20000 }
        }
      })
    ).toEqual({
      query_block: {
        cost_info: { query_cost: "2034.25" },
        table: { table_name: "users", attached_condition: "users.email = ? and users.age > ?", rows_examined_per_scan: 20000 }
      }
    })
  })

  it("none: no sample; another dialect's normalized sample is its fingerprint", () => {
    expect(sampleScrubber("none", "mysql", batch).sample(batch[0]!)).toBeUndefined()
    const redis = collected("GET user:1001", "GET user:?")
    expect(sampleScrubber("normalized", "redis", [redis]).sample(redis)).toBe("GET user:?")
  })
})
