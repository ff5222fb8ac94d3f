import { Schema } from "effect"
import parsePrometheusTextFormat from "parse-prometheus-text-format"

/** What parse-prometheus-text-format returns (prom2json's shape), decoded rather than trusted. */
const ParsedFamilies = Schema.Array(
  Schema.Struct({
    name: Schema.String,
    help: Schema.String,
    type: Schema.Literal("COUNTER", "GAUGE", "HISTOGRAM", "SUMMARY", "UNTYPED"),
    metrics: Schema.Array(
      Schema.Struct({
        value: Schema.optional(Schema.String),
        labels: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
        buckets: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
        count: Schema.optional(Schema.String),
        sum: Schema.optional(Schema.String)
      })
    )
  })
)

/** Parsed by the npm port of the official Python client's parser (prom2json's output shape). */
export const parsePrometheus = (text: string) => Schema.decodeUnknownSync(ParsedFamilies)(parsePrometheusTextFormat(text))

// That parser is lenient (it takes `foo abc` or an unclosed label set) and merges a histogram's label sets, so the
// exposition format's own rules are checked here too, line by line (text format 0.0.4).
const name = "[a-zA-Z_:][a-zA-Z0-9_:]*"
const labelValue = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"'
const labels = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=${labelValue}(?:,[a-zA-Z_][a-zA-Z0-9_]*=${labelValue})*)?\\}`
const value = "(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN)"
const sampleLine = new RegExp(`^(${name})(${labels})? (${value})$`)
const helpLine = new RegExp(`^# HELP (${name}) (.*)$`)
const typeLine = new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`)

/** Every problem with the text as a Prometheus exposition; empty when it is valid. */
export const expositionProblems = (text: string): Array<string> => {
  const problems: Array<string> = []
  if (!text.endsWith("\n")) problems.push("does not end with a newline")
  const types = new Map<string, string>()
  const finished = new Set<string>()
  let current: string | undefined
  const histograms = new Map<string, Array<{ le: string; count: number }>>()
  const lines = text.split("\n").slice(0, -1)
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${line}`
    const help = helpLine.exec(line)
    const type = typeLine.exec(line)
    const sample = sampleLine.exec(line)
    const family = help?.[1] ?? type?.[1]
    if (family !== undefined) {
      if (family !== current) {
        if (current !== undefined) finished.add(current)
        if (finished.has(family)) problems.push(`${where}: family ${family} is split`)
        current = family
      }
      if (type !== null) {
        if (types.has(family)) problems.push(`${where}: second TYPE for ${family}`)
        types.set(family, type[2]!)
      }
      continue
    }
    if (sample === null) {
      problems.push(`${where}: not a sample, HELP or TYPE line`)
      continue
    }
    const sampleName = sample[1]!
    const base = [...types.keys()].find(
      (f) =>
        f === sampleName ||
        (["histogram", "summary"].includes(types.get(f)!) && [`${f}_sum`, `${f}_count`, `${f}_bucket`].includes(sampleName))
    )
    if (base === undefined) problems.push(`${where}: sample before the TYPE of its family`)
    else if (base !== current) problems.push(`${where}: sample outside its family's block`)
    if (base !== undefined && sampleName === `${base}_bucket`) {
      const le = /le="([^"]*)"/.exec(sample[2] ?? "")?.[1]
      if (le === undefined) problems.push(`${where}: bucket without le`)
      const series = `${base}${(sample[2] ?? "").replace(/,?le="[^"]*"/, "").replace("{,", "{").replace("{}", "")}`
      const buckets = histograms.get(series) ?? []
      buckets.push({ le: le ?? "", count: Number(sample[3]) })
      histograms.set(series, buckets)
    }
  }
  for (const [series, buckets] of histograms) {
    if (buckets.at(-1)?.le !== "+Inf") problems.push(`${series}: last bucket is not le="+Inf"`)
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]!.count < buckets[i - 1]!.count) problems.push(`${series}: bucket counts decrease`)
      if (buckets[i]!.le !== "+Inf" && Number(buckets[i]!.le) <= Number(buckets[i - 1]!.le)) {
        problems.push(`${series}: bucket bounds do not increase`)
      }
    }
  }
  return problems
}

/** The value of the sample `name{labels…}` whose labels include all of `match`, as a number. */
export const sampleValue = (text: string, metric: string, match: Record<string, string> = {}): number | undefined => {
  for (const line of text.split("\n")) {
    const sample = sampleLine.exec(line)
    if (sample === null || sample[1] !== metric) continue
    const set = sample[2] ?? ""
    if (Object.entries(match).every(([k, v]) => set.includes(`${k}="${v}"`))) return Number(sample[3])
  }
  return undefined
}
