import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { makeEvent } from "../domain/SlowQueryEvent.js"
import { sampleScrubber } from "../store/SampleScrubber.js"
import { scrubbingLogger, withLogScrub } from "./LogScrub.js"

const event = {
  event: makeEvent({ key: "k", startTimeUs: 0, queryTimeMs: 1, sqlText: "SELECT * FROM users WHERE email = 'bob@example.org' AND id = 987654" }),
  fingerprint: {
    fingerprint: "select * from users where email = ? and id = ?",
    queryId: "AAAA",
    statementType: "select" as const,
    readOnly: true,
    tables: ["users"],
    multiStatement: false,
    truncated: false,
    tags: {},
    parser: "tokenizer" as const
  }
}

describe("log lines under a sample policy", () => {
  it.effect("a batch's literals leave the message and the annotations; outside a batch nothing changes", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        scrubbingLogger(Logger.logfmtLogger.pipe(Logger.map((line) => lines.push(line))))
      )
      const scrub = sampleScrubber("normalized", "mysql", [event]).text
      const warn = Effect.logWarning("index advice failed: Truncated incorrect value 'bob@example.org' (row 987654)").pipe(
        Effect.annotateLogs({ reason: "bob@example.org", query_id: "AAAA" })
      )
      yield* warn.pipe(withLogScrub(scrub), Effect.provide(capture))
      yield* warn.pipe(Effect.provide(capture))
      expect(lines.map((line) => line.replace(/^timestamp=\S+ /, "").replace(/ fiber=#\d+/, ""))).toEqual([
        'level=WARN message="index advice failed: Truncated incorrect value ? (row ?)" reason=? query_id=AAAA',
        "level=WARN message=\"index advice failed: Truncated incorrect value 'bob@example.org' (row 987654)\" reason=bob@example.org query_id=AAAA"
      ])
    })
  )
})
