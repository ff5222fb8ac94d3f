import { describe, expect, it } from "@effect/vitest"
import { compilePrefix, type PrefixMatcher, prefixTimeUs } from "./LogLinePrefix.js"
import { bindParameters, parseParameters, type PostgresLogEvent, PostgresLogParser } from "./PostgresLogParser.js"

const DEBIAN = "%m [%p] %q%u@%d "

const matcher = (prefix: string): PrefixMatcher => {
  const compiled = compilePrefix(prefix)
  if ("unknown" in compiled) throw new Error(`unknown escapes ${compiled.unknown.join(", ")}`)
  return compiled
}

const parse = (text: string, options: { prefix?: string; cuts?: ReadonlyArray<number> } = {}) => {
  const parser = new PostgresLogParser({
    prefix: matcher(options.prefix ?? DEBIAN),
    startOffset: 0,
    maxStatementBytes: 1024 * 1024,
    localOffsetMinutes: 0
  })
  const bytes = Buffer.from(text)
  const events: Array<PostgresLogEvent> = []
  const problems: Array<{ kind: string; offset: number; length: number }> = []
  let from = 0
  for (const cut of [...(options.cuts ?? []), bytes.length]) {
    const out = parser.push(bytes.subarray(from, cut))
    events.push(...out.events)
    problems.push(...out.problems.map(({ kind, offset, length }) => ({ kind, offset, length })))
    from = cut
  }
  const last = parser.finish()
  events.push(...last.events)
  problems.push(...last.problems.map(({ kind, offset, length }) => ({ kind, offset, length })))
  return { events, problems }
}

const us = (iso: string) => Date.parse(iso) * 1000

// Lines as PostgreSQL 15.20 wrote them (auto_explain.log_format = json; plans cut to their first fields).
const P = "2026-12-07 23:30:50.414 UTC [9426] postgres@shop "
const seqScanPlan = [
  `${P}LOG:  duration: 0.065 ms  plan:`,
  "\t{",
  `\t  "Query Text": "select *\\n  from t\\n where name = 'n5';",`,
  '\t  "Plan": {',
  '\t    "Node Type": "Seq Scan",',
  '\t    "Relation Name": "t",',
  '\t    "Alias": "t",',
  '\t    "Total Cost": 25.88,',
  `\t    "Filter": "(name = 'n5'::text)"`,
  "\t  }",
  "\t}"
].join("\n")
const seqScanStatement = [`${P}LOG:  duration: 0.312 ms  statement: select *`, "\t  from t", "\t where name = 'n5';"].join("\n")

describe("PostgresLogParser", () => {
  it("pairs auto_explain's plan with the statement line that follows it: one event with the plan, multi-line text", () => {
    const input = `${seqScanPlan}\n${seqScanStatement}\n`
    const { events, problems } = parse(input)
    expect(problems).toEqual([])
    expect(events).toEqual([
      {
        offset: seqScanPlan.length + 1,
        startUs: us("2026-12-07T23:30:50.414Z") - 312,
        durationMs: 0.312,
        pid: 9426,
        user: "postgres",
        database: "shop",
        application: undefined,
        host: undefined,
        sql: "select *\n  from t\n where name = 'n5';",
        truncatedBytes: 0,
        kind: "statement",
        prepared: undefined,
        plan: {
          "Query Text": "select *\n  from t\n where name = 'n5';",
          Plan: { "Node Type": "Seq Scan", "Relation Name": "t", Alias: "t", "Total Cost": 25.88, Filter: "(name = 'n5'::text)" }
        }
      }
    ])
  })

  it("reads the same events whatever the chunks the file is read in", () => {
    const input = `${seqScanPlan}\n${seqScanStatement}\n`
    const whole = parse(input).events
    for (const cut of [1, 20, seqScanPlan.length, seqScanPlan.length + 1, seqScanPlan.length + 40, input.length - 1]) {
      expect(parse(input, { cuts: [cut] }).events).toEqual(whole)
    }
  })

  it("pairs an extended-protocol execute with the plan after it, binds its parameters, and skips parse and bind", () => {
    const Q = "2026-12-07 23:30:59.463 UTC [9501] app@shop "
    const input = [
      `${Q}LOG:  duration: 0.467 ms  parse <unnamed>: select * from t where name = $1 and id > $2`,
      `${Q}LOG:  duration: 0.547 ms  bind <unnamed>: select * from t where name = $1 and id > $2`,
      `${Q}DETAIL:  parameters: $1 = 'n''9', $2 = '3'`,
      `${Q}LOG:  duration: 0.137 ms  execute <unnamed>: select * from t where name = $1 and id > $2`,
      `${Q}DETAIL:  parameters: $1 = 'n''9', $2 = '3'`,
      `${Q}LOG:  duration: 0.133 ms  plan:`,
      "\t{",
      '\t  "Query Text": "select * from t where name = $1 and id > $2",',
      '\t  "Plan": {',
      '\t    "Node Type": "Bitmap Heap Scan",',
      `\t    "Filter": "(name = 'n''9'::text)"`,
      "\t  }",
      "\t}",
      ""
    ].join("\n")
    const { events, problems } = parse(input)
    expect(problems).toEqual([])
    expect(events.map((e) => [e.kind, e.prepared, e.durationMs, e.sql, e.user, e.plan?.Plan])).toEqual([
      [
        "execute",
        "<unnamed>",
        0.137,
        "select * from t where name = 'n''9' and id > '3'",
        "app",
        { "Node Type": "Bitmap Heap Scan", Filter: "(name = 'n''9'::text)" }
      ]
    ])
    expect(events[0]!.offset).toBe(input.indexOf(`${Q}LOG:  duration: 0.137 ms`))
  })

  it("takes an SQL EXECUTE's plan (its Query Text is the PREPARE's) and skips the DETAIL prepare line", () => {
    const input = [
      `${P}LOG:  duration: 0.006 ms  plan:`,
      '\t{ "Query Text": "prepare p(int) as select * from t where id = $1;", "Plan": { "Node Type": "Index Scan" } }',
      `${P}LOG:  duration: 0.092 ms  statement: execute p(7);`,
      `${P}DETAIL:  prepare: prepare p(int) as select * from t where id = $1;`,
      ""
    ].join("\n")
    const { events } = parse(input)
    expect(events.map((e) => [e.kind, e.sql, e.durationMs, e.plan?.Plan])).toEqual([
      ["statement", "execute p(7);", 0.092, { "Node Type": "Index Scan" }]
    ])
  })

  it("an auto_explain plan alone is an event of its own: its Query Text and auto_explain's duration", () => {
    const input = [
      `${P}LOG:  duration: 1.211 ms  plan:`,
      '\t{ "Query Text": "select count(*) from t", "Plan": { "Node Type": "Aggregate" } }',
      `${P}LOG:  duration: 3.240 ms  statement: insert into t values (1)`,
      ""
    ].join("\n")
    const { events } = parse(input)
    expect(events.map((e) => [e.kind, e.sql, e.durationMs, e.offset, e.plan?.Plan])).toEqual([
      ["plan", "select count(*) from t", 1.211, 0, { "Node Type": "Aggregate" }],
      ["statement", "insert into t values (1)", 3.24, input.indexOf(`${P}LOG:  duration: 3.240`), undefined]
    ])
  })

  it("a plan alone at the end of the input, and a plan followed by an error of its backend", () => {
    const R = "2026-12-07 23:31:00.000 UTC [77] postgres@shop "
    const input = [
      `${R}LOG:  duration: 0.003 ms  plan:`,
      '\t{ "Query Text": "select 1; select 1/0", "Plan": { "Node Type": "Result" } }',
      `${R}ERROR:  division by zero`,
      `${R}STATEMENT:  select 1; select 1/0`,
      `${P}LOG:  duration: 0.5 ms  plan:`,
      '\t{ "Query Text": "select 2", "Plan": { "Node Type": "Result" } }',
      ""
    ].join("\n")
    expect(parse(input).events.map((e) => [e.pid, e.kind, e.sql, e.durationMs])).toEqual([
      [77, "plan", "select 1; select 1/0", 0.003],
      [9426, "plan", "select 2", 0.5]
    ])
  })

  it("a multi-statement string is one event: the line covers both plans, and keeps neither", () => {
    const S = "2026-12-07 23:30:59.467 UTC [9501] postgres@shop "
    const input = [
      `${S}LOG:  duration: 0.003 ms  plan:`,
      '\t{ "Query Text": "select 1; select 2", "Plan": { "Node Type": "Result" } }',
      `${S}LOG:  duration: 0.001 ms  plan:`,
      '\t{ "Query Text": "select 1; select 2", "Plan": { "Node Type": "Result" } }',
      `${S}LOG:  duration: 0.160 ms  statement: select 1; select 2`,
      ""
    ].join("\n")
    expect(parse(input).events.map((e) => [e.kind, e.sql, e.durationMs, e.plan])).toEqual([
      ["statement", "select 1; select 2", 0.16, undefined]
    ])
  })

  it("log_statement = all: the statement announced first, its plan, then a duration line of its own; execute alike", () => {
    const L = "2026-12-07 23:52:17.202 UTC [22872] postgres@shop "
    const input = [
      `${L}LOG:  statement: SET log_min_duration_statement = 0`,
      `${L}LOG:  duration: 0.055 ms`,
      `${L}LOG:  statement: select count(*) from t where name = 'x'`,
      `${L}LOG:  duration: 0.224 ms  plan:`,
      `\t{ "Query Text": "select count(*) from t where name = 'x'", "Plan": { "Node Type": "Aggregate" } }`,
      `${L}LOG:  duration: 4.557 ms`,
      `${L}LOG:  duration: 0.100 ms  parse <unnamed>: select * from t where id = $1`,
      `${L}LOG:  duration: 0.101 ms  bind <unnamed>: select * from t where id = $1`,
      `${L}DETAIL:  parameters: $1 = '5'`,
      `${L}LOG:  execute <unnamed>: select * from t where id = $1`,
      `${L}DETAIL:  parameters: $1 = '5'`,
      `${L}LOG:  duration: 0.298 ms`,
      `${L}LOG:  duration: 0.292 ms  plan:`,
      '\t{ "Query Text": "select * from t where id = $1", "Plan": { "Node Type": "Index Scan" } }',
      // Announced and never timed: under log_min_duration_statement, no event.
      `${L}LOG:  statement: select 1`,
      `${L}LOG:  statement: select 2`,
      `${L}LOG:  duration: 0.010 ms`,
      ""
    ].join("\n")
    const { events, problems } = parse(input)
    expect(problems).toEqual([])
    expect(events.map((e) => [e.offset, e.kind, e.sql, e.durationMs, e.plan?.Plan])).toEqual([
      [0, "statement", "SET log_min_duration_statement = 0", 0.055, undefined],
      [input.indexOf(`${L}LOG:  statement: select count`), "statement", "select count(*) from t where name = 'x'", 4.557, { "Node Type": "Aggregate" }],
      [input.indexOf(`${L}LOG:  execute <unnamed>`), "execute", "select * from t where id = '5'", 0.298, { "Node Type": "Index Scan" }],
      [input.indexOf(`${L}LOG:  statement: select 2`), "statement", "select 2", 0.01, undefined]
    ])
  })

  it("pairs per backend when other backends' lines fall between a plan and its statement", () => {
    const A = "2026-12-07 23:31:00.100 UTC [100] a@shop "
    const B = "2026-12-07 23:31:00.101 UTC [200] b@shop "
    const input = [
      `${A}LOG:  duration: 2.000 ms  plan:`,
      '\t{ "Query Text": "select a", "Plan": { "Node Type": "Seq Scan" } }',
      `${B}LOG:  duration: 1.000 ms  statement: select b`,
      `${A}LOG:  duration: 2.500 ms  statement: select a`,
      ""
    ].join("\n")
    expect(parse(input).events.map((e) => [e.pid, e.sql, e.durationMs, e.plan?.Plan])).toEqual([
      [200, "select b", 1, undefined],
      [100, "select a", 2.5, { "Node Type": "Seq Scan" }]
    ])
  })

  it("skips other entries and reports lines of no entry as skipped bytes", () => {
    const input = [
      "2026-12-07 23:26:36.122 UTC [123] LOG:  checkpoint starting: time",
      `${P}LOG:  connection authorized: user=postgres database=shop`,
      "garbage that is no log line",
      "\tand its tab",
      `${P}ERROR:  relation "nope" does not exist at character 15`,
      `${P}STATEMENT:  select * from nope`,
      `${P}LOG:  duration: 0.010 ms`,
      `${P}LOG:  statement: select 42`,
      `${P}LOG:  duration: 0.020 ms  statement: select 43`,
      ""
    ].join("\n")
    const { events, problems } = parse(input)
    expect(events.map((e) => e.sql)).toEqual(["select 43"])
    const garbage = input.indexOf("garbage")
    expect(problems).toEqual([{ kind: "not_an_event", offset: garbage, length: "garbage that is no log line\n\tand its tab\n".length }])
  })

  it("resumes before a plan that waits for its statement line, and after the last complete entry otherwise", () => {
    const parser = new PostgresLogParser({ prefix: matcher(DEBIAN), startOffset: 1000, maxStatementBytes: 1024, localOffsetMinutes: 0 })
    const statement = `${P}LOG:  duration: 0.020 ms  statement: select 43\n`
    const plan = `${P}LOG:  duration: 0.010 ms  plan:\n\t{ "Query Text": "select 44", "Plan": { "Node Type": "Result" } }\n`
    const out = parser.pushWithResume(Buffer.from(statement + plan))
    // The plan's entry is not known complete yet, nor is it paired: both wait.
    expect(out.map((o) => [o.event.sql, o.resume])).toEqual([["select 43", 1000 + statement.length]])
    expect(parser.resumeOffset).toBe(1000 + statement.length)
    const next = `${P}LOG:  duration: 0.030 ms  statement: select 44\n`
    expect(parser.pushWithResume(Buffer.from(next)).map((o) => o.event.sql)).toEqual([])
    expect(parser.finishWithResume().map((o) => [o.event.sql, o.event.durationMs, o.event.plan !== undefined, o.resume])).toEqual([
      ["select 44", 0.03, true, 1000 + statement.length + plan.length + next.length]
    ])
  })

  it("each event resumes before every entry of the events emitted after it: a batch cut between them loses none", () => {
    const parser = new PostgresLogParser({ prefix: matcher(DEBIAN), startOffset: 0, maxStatementBytes: 1024, localOffsetMinutes: 0 })
    const lonePlan = `${P}LOG:  duration: 1.000 ms  plan:\n\t{ "Query Text": "select a", "Plan": { "Node Type": "Result" } }\n`
    const planB = `${P}LOG:  duration: 1.000 ms  plan:\n\t{ "Query Text": "select b", "Plan": { "Node Type": "Result" } }\n`
    const statementB = `${P}LOG:  duration: 2.000 ms  statement: select b\n`
    const next = `${P}LOG:  duration: 3.000 ms  statement: select c\n`
    const out = parser.pushWithResume(Buffer.from(lonePlan + planB + statementB + next))
    // planB's arrival settles the lone plan; statement b pairs with planB. The lone plan's resume is before planB
    // (still waiting then); statement b's is after its own line.
    expect(out.map((o) => [o.event.sql, o.event.offset, o.resume])).toEqual([
      ["select a", 0, lonePlan.length],
      ["select b", lonePlan.length + planB.length, lonePlan.length + planB.length + statementB.length]
    ])
  })

  it("settles a plan whose statement line has not come 10 s of log later", () => {
    const late = "2026-12-07 23:31:11.000 UTC [300] c@shop "
    const input = [
      "2026-12-07 23:31:00.000 UTC [100] a@shop LOG:  duration: 2.000 ms  plan:",
      '\t{ "Query Text": "select a", "Plan": { "Node Type": "Seq Scan" } }',
      `${late}LOG:  duration: 1.000 ms  statement: select c`,
      `${late}LOG:  duration: 1.000 ms  statement: select d`,
      ""
    ].join("\n")
    const parser = new PostgresLogParser({ prefix: matcher(DEBIAN), startOffset: 0, maxStatementBytes: 1024, localOffsetMinutes: 0 })
    // Without finish: the late line settles the plan.
    expect(parser.push(Buffer.from(input)).events.map((e) => [e.kind, e.sql])).toEqual([
      ["plan", "select a"],
      ["statement", "select c"]
    ])
  })

  it("reads other prefixes: %t, %a, %r, %c, %l, %%", () => {
    const prefix = "%t [%p-%l] %% %c %q%a %r "
    const input = "2024-05-10 19:44:36 CEST [42-7] % 6754f0aa.2a shop app 10.0.0.9(54321) LOG:  duration: 5.000 ms  statement: select 1\n"
    const parser = new PostgresLogParser({ prefix: matcher(prefix), startOffset: 0, maxStatementBytes: 1024, localOffsetMinutes: 120 })
    const events = [...parser.push(Buffer.from(input)).events, ...parser.finish().events]
    expect(events.map((e) => [e.pid, e.application, e.host, e.sql, e.startUs])).toEqual([
      [42, "shop app", "10.0.0.9", "select 1", us("2024-05-10T17:44:36Z") - 5000]
    ])
  })

  it("refuses a prefix with escapes it does not understand, naming them", () => {
    expect(compilePrefix("%m %-10u %Z ")).toEqual({ unknown: ["%-", "%Z"] })
  })

  it("reads time stamps in UTC, numeric zones and the configured offset", () => {
    expect(prefixTimeUs("2026-12-07 23:30:50.404 UTC", 60)).toBe(us("2026-12-07T23:30:50.404Z"))
    expect(prefixTimeUs("2026-12-07 23:30:50.404 +01", 0)).toBe(us("2026-12-07T22:30:50.404Z"))
    expect(prefixTimeUs("2026-12-07 23:30:50 CET", 60)).toBe(us("2026-12-07T22:30:50Z"))
    expect(prefixTimeUs("1733614250.404", 0)).toBe(1733614250404000)
  })

  it("parameters: quotes, NULL, and $n outside strings only", () => {
    expect(parseParameters("$1 = 'n''9', $2 = NULL, $3 = 'a, $4 = b'")).toEqual(["'n''9'", null, "'a, $4 = b'"])
    expect(parseParameters("$2 = '1'")).toBeUndefined()
    expect(bindParameters("select '$1', $1 /* $2 */, $2::int", ["'x'", null])).toBe("select '$1', 'x' /* $2 */, NULL::int")
  })
})
