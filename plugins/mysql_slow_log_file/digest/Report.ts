/**
 * The digest as pt-query-digest presents it: the text report (overall statistics, the profile, one section per
 * class) and the JSON document documented in the plugin's README. Number formats follow pt's `micro_t`,
 * `shorten` and `percentage_of`, so that the two reports read the same.
 */
import { type Attribute, type ClassStats, type DigestAggregator, type OrderBy, rankClasses } from "./Aggregator.js"
import { distill, extractTables } from "./Distill.js"
import { decadeHistogram, metricsOf, type Stat } from "./Stats.js"

const LINE_LENGTH = 74

// ---------------------------------------------------------------------------------------------------------------------
// pt's number formats

/** Perl's default number to string (`%.15g`). */
const perlNumber = (n: number): string => {
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return String(n)
  return String(Number(n.toPrecision(15)))
}

/** pt's `micro_t`: seconds as `318us`, `13ms`, `95s`; times are cut, not rounded, to microseconds first. */
export const microT = (seconds: number, precisionMs = 0, precisionS = 0): string => {
  let t = Math.max(0, seconds)
  t = Math.trunc(t * 1e6 + 1e-7) / 1e6
  if (t > 0 && t <= 0.000999) return `${perlNumber(t * 1_000_000)}us`
  if (t >= 0.001 && t <= 0.999999) return `${perlNumber(Number((t * 1000).toFixed(precisionMs)))}ms`
  if (t >= 1) return `${perlNumber(Number(t.toFixed(precisionS)))}s`
  return "0"
}

/** pt's `shorten`: 1.92M, 19.71k, 0.35, 200 (divisor 1024 unless said otherwise). */
export const shorten = (value: number, divisor = 1024, precision = 2): string => {
  const units = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]
  let n = value
  let unit = 0
  while (n >= divisor && unit < units.length - 1) {
    n /= divisor
    unit++
  }
  return perlNumber(n).includes(".") || unit > 0 ? `${n.toFixed(precision)}${units[unit]}` : String(Math.trunc(n))
}

/** pt's `percentage_of`: a whole percentage, cut toward zero. */
export const percentageOf = (part: number, whole: number): string => String(Math.trunc((part * 100) / (whole || 1)))

const pad = (text: string, width: number, left = false) => (left ? text.padEnd(width) : text.padStart(width))

/** `%1$-12s %2$3s %3$7s …`: the label left-aligned in 12, then right-aligned columns. */
const numLine = (label: string, pct: string, values: ReadonlyArray<string>) =>
  `# ${pad(label, 12, true)} ${pad(pct, 3)} ${values.map((v) => pad(v, 7)).join(" ")}`.trimEnd()

/** `2024-01-15T10:00:00` in UTC, with microseconds when there are any. */
export const formatTimestamp = (epochUs: number): string => {
  const d = new Date(Math.floor(epochUs / 1000))
  const iso = d.toISOString().slice(0, 19)
  const micros = ((epochUs % 1_000_000) + 1_000_000) % 1_000_000
  return micros === 0 ? iso : `${iso}.${String(micros).padStart(6, "0")}`
}

const timeRange = (minUs: number, maxUs: number): string | undefined => {
  if (!Number.isFinite(minUs) || !Number.isFinite(maxUs)) return undefined
  const min = formatTimestamp(minUs)
  const max = formatTimestamp(maxUs)
  if (min === max) return `all events occurred at ${min}`
  return min.slice(0, 10) === max.slice(0, 10) ? `${min} to ${max.slice(11)}` : `${min} to ${max}`
}

const LABELS: Record<Attribute, string> = {
  Query_time: "Exec time",
  Lock_time: "Lock time",
  Rows_sent: "Rows sent",
  Rows_examined: "Rows examine",
  Rows_affected: "Rows affecte",
  Query_length: "Query size"
}
const isTime = (attribute: Attribute) => attribute === "Query_time" || attribute === "Lock_time"
const SHOWN: ReadonlyArray<Attribute> = ["Query_time", "Lock_time", "Rows_sent", "Rows_examined", "Rows_affected", "Query_length"]

const statValues = (attribute: Attribute, stat: Stat): Array<string> => {
  const metrics = metricsOf(stat)
  const format = isTime(attribute) ? (v: number) => microT(v) : (v: number) => shorten(v)
  return [stat.sum, stat.min, stat.max, stat.avg, metrics.pct95, metrics.stddev, metrics.median].map(format)
}

/** Rate and concurrency over the class's time span, as pt computes them. */
const rates = (cls: ClassStats): { qps: number; concurrency: number } => {
  const seconds = (cls.tsMax - cls.tsMin) / 1e6
  if (!(seconds > 0)) return { qps: 0, concurrency: 0 }
  return { qps: cls.count / seconds, concurrency: (cls.stats.Query_time?.sum ?? 0) / seconds }
}

/** V/M, the variance-to-mean ratio of the query time: how much the calls of a class differ. */
const varianceToMean = (stat: Stat): number => {
  const { stddev } = metricsOf(stat)
  return stddev ** 2 / (stat.avg || 1)
}

/** pt's QueryRewriter::shorten: multi-row VALUES and IN lists of more than 20 items are elided. */
export const shortenSample = (sample: string, length = 1024): string => {
  let query = sample.length > 1024 * 1024 ? `${sample.slice(0, 1024 * 1024)} /*... ${sample.length - 1024 * 1024} characters omitted ...*/` : sample
  query = query.replace(
    /^((?:INSERT|REPLACE)(?:\s+LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)?(?:\s\w+)*\s+\S+\s+VALUES\s*\([\s\S]*?\))\s*,\s*\([\s\S]*?(ON\s+DUPLICATE|$)/i,
    "$1 /*... omitted ...*/$2"
  )
  if (!/IN\s*\(\s*(?!select)/i.test(query)) return query
  let lastLength = 0
  let queryLength = query.length
  while (length > 0 && queryLength > length && queryLength < (lastLength || queryLength + 1)) {
    lastLength = queryLength
    query = query.replace(/(\bIN\s*\()([^)]+)(?=\))/gi, (_, open: string, list: string) => {
      const items = list.split(",")
      return items.length <= 20 ? `${open}${list}` : `${open}${items.slice(0, 20).join(",")}/*... omitted ${items.length - 20} items ...*/`
    })
    queryLength = query.length
  }
  return query
}

// ---------------------------------------------------------------------------------------------------------------------
// The report

export interface ReportInput {
  readonly aggregator: DigestAggregator
  readonly order: OrderBy
  readonly top: number
  readonly files: ReadonlyArray<string>
  readonly hostname?: string
  readonly now?: Date
  /** CPU seconds and peak memory, printed first as pt does; left out when not given (tests). */
  readonly usage?: { readonly userSeconds: number; readonly systemSeconds: number; readonly rssBytes: number }
}

const stringList = (values: ReadonlyArray<readonly [string, number]>, others: number, classCount: number): string => {
  if (values.length === 1 && others === 0) {
    const only = values[0]![0]
    return only.length > LINE_LENGTH - 30 ? `${only.slice(0, LINE_LENGTH - 30)}...` : only
  }
  let line = ""
  let shown = 0
  for (const [value, count] of values) {
    const printed = /(?:\d+\.){3}\d+/.test(value) || value.length <= 10 ? value : `${value.slice(0, 10)}...`
    const item = `${printed} (${count}/${percentageOf(count, classCount)}%)`
    if (line.length + item.length > LINE_LENGTH - 27) break
    line += `${item}, `
    shown++
  }
  line = line.replace(/, $/, "")
  const more = values.length - shown + (others > 0 ? 1 : 0)
  return more > 0 ? `${line}... ${more} more` : line
}

const quoteIdentifier = (name: string) => `\`${name.replaceAll("`", "``")}\``

const classSection = (cls: ClassStats, rank: number, global: ClassStats): string => {
  const lines: Array<string> = []
  const { qps, concurrency } = rates(cls)
  let head = `# Query ${rank}: ${shorten(qps, 1000)} QPS, ${shorten(concurrency, 1000)}x concurrency, ID 0x${cls.id} at byte ${cls.sample?.offset ?? 0} `
  head += "_".repeat(Math.max(0, LINE_LENGTH - head.length))
  lines.push(head)
  lines.push(`# Scores: V/M = ${varianceToMean(cls.stats.Query_time!).toFixed(2)}`)
  const range = timeRange(cls.tsMin, cls.tsMax)
  if (range !== undefined) lines.push(`# Time range: ${range}`)
  lines.push(numLine("Attribute", "pct", ["total", "min", "max", "avg", "95%", "stddev", "median"]))
  lines.push(numLine("============", "===", Array(7).fill("=======")))
  lines.push(numLine("Count", percentageOf(cls.count, global.count), [String(cls.count)]))
  for (const attribute of SHOWN) {
    const stat = cls.stats[attribute]
    if (stat === undefined || stat.cnt === 0) continue
    lines.push(numLine(LABELS[attribute], percentageOf(stat.sum, global.stats[attribute]?.sum ?? 0), statValues(attribute, stat)))
  }
  const strings: Array<readonly [string, ReturnType<ClassStats["databases"]["sorted"]>, number]> = [
    ["Databases", cls.databases.sorted(), cls.databases.others],
    ["Hosts", cls.hosts.sorted(), cls.hosts.others],
    ["Users", cls.users.sorted(), cls.users.others]
  ]
  if (strings.some(([, values]) => values.length > 0)) {
    lines.push("# String:")
    for (const [label, values, others] of strings) {
      if (values.length > 0) lines.push(`# ${pad(label, 12, true)} ${stringList(values, others, cls.count)}`)
    }
  }
  lines.push("# Query_time distribution")
  const decades = decadeHistogram(cls.stats.Query_time!)
  const perMark = Math.max(...decades) / 64
  const labels = ["1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s+"]
  decades.forEach((count, i) => {
    let marks = Math.trunc(count / (perMark || 1))
    if (marks < 1 && count > 0) marks = 1
    lines.push(`# ${pad(labels[i]!, 5)}${marks > 0 ? `  ${"#".repeat(marks)}` : ""}`)
  })
  const sample = cls.sample
  let text = lines.map((line) => line.trimEnd()).join("\n")
  if (sample !== undefined) {
    const lines: Array<string> = []
    const tables = extractTables(sample.sql, sample.db ?? cls.databases.sorted()[0]?.[0])
    if (tables.length === 0) lines.push("# No tables")
    else {
      lines.push("# Tables")
      for (const [db, table] of tables) {
        lines.push(`#    SHOW TABLE STATUS${db === undefined ? "" : ` FROM ${quoteIdentifier(db)}`} LIKE '${table}'\\G`)
        lines.push(`#    SHOW CREATE TABLE ${[db, table].filter((p) => p !== undefined).map((p) => quoteIdentifier(p!)).join(".")}\\G`)
      }
    }
    if (/^(?:[(\s]*select)/.test(cls.fingerprint)) lines.push("# EXPLAIN /*!50100 PARTITIONS*/")
    // The sample is printed as it is, trailing spaces included.
    text += `\n${lines.map((line) => line.trimEnd()).join("\n")}\n${shortenSample(sample.sql)}\\G`
  }
  return text
}

/** The report of `slowq digest --format report`. */
export const textReport = (input: ReportInput): string => {
  const { aggregator, order } = input
  const global = aggregator.global
  const out: Array<string> = []
  if (input.usage !== undefined) {
    const u = input.usage
    out.push(
      `# ${microT(u.userSeconds, 0, 1)} user time, ${microT(u.systemSeconds, 0, 1)} system time, ${shorten(u.rssBytes)} rss`
    )
  }
  if (input.now !== undefined) out.push(`# Current date: ${input.now.toISOString()}`)
  if (input.hostname !== undefined) out.push(`# Hostname: ${input.hostname}`)
  out.push(`# Files: ${input.files.join(", ")}`)
  if (global.count === 0) {
    out.push("", "# No events processed.")
    return `${out.join("\n")}\n`
  }
  const { qps, concurrency } = rates(global)
  let overall = `# Overall: ${shorten(global.count, 1000)} total, ${shorten(aggregator.classes.size, 1000)} unique, ${shorten(qps, 1000)} QPS, ${shorten(concurrency, 1000)}x concurrency `
  overall += "_".repeat(Math.max(0, LINE_LENGTH - overall.length))
  out.push(overall)
  const range = timeRange(global.tsMin, global.tsMax)
  if (range !== undefined) out.push(`# Time range: ${range} (UTC)`)
  out.push(numLine("Attribute", "", ["total", "min", "max", "avg", "95%", "stddev", "median"]))
  out.push(numLine("============", "", Array(7).fill("=======")))
  for (const attribute of SHOWN) {
    const stat = global.stats[attribute]
    if (stat !== undefined && stat.cnt > 0) out.push(numLine(LABELS[attribute], "", statValues(attribute, stat)))
  }

  const ranked = rankClasses(aggregator.classes.values(), order)
  const top = ranked.slice(0, input.top)
  const rest = ranked.slice(input.top)
  const totalR = global.stats.Query_time?.sum ?? 0
  const rows = top.map((cls, i) => {
    const r = cls.stats.Query_time!.sum
    return [
      String(i + 1),
      `0x${cls.id}`,
      `${r.toFixed(4).padStart(10)} ${((r / (totalR || 1)) * 100).toFixed(1).padStart(4)}%`,
      String(cls.count),
      (r / cls.count).toFixed(4).padStart(8),
      varianceToMean(cls.stats.Query_time!).toFixed(2).padStart(4),
      cls.sample === undefined ? "" : distill(cls.sample.sql)
    ]
  })
  if (rest.length > 0) {
    const r = rest.reduce((sum, cls) => sum + cls.stats.Query_time!.sum, 0)
    const count = rest.reduce((sum, cls) => sum + cls.count, 0)
    rows.push([
      "MISC",
      "0xMISC",
      `${r.toFixed(4).padStart(10)} ${((r / (totalR || 1)) * 100).toFixed(1).padStart(4)}%`,
      String(count),
      (r / count).toFixed(4).padStart(8),
      "0.0",
      `<${rest.length} ITEMS>`
    ])
  }
  const headers = ["Rank", "Query ID", "Response time", "Calls", "R/Call", "V/M", "Item"]
  const rightAligned = [true, false, true, true, true, true, false]
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `# ${cells.map((cell, c) => (c === cells.length - 1 ? cell : pad(cell, widths[c]!, !rightAligned[c]))).join(" ")}`.trimEnd()
  out.push("", "# Profile", line(headers), line(widths.map((w, c) => "=".repeat(c === widths.length - 1 ? 4 : w))))
  for (const row of rows) out.push(line(row))

  top.forEach((cls, i) => {
    out.push("", classSection(cls, i + 1, global))
  })
  return `${out.map((line) => line.trimEnd()).join("\n")}\n`
}

// ---------------------------------------------------------------------------------------------------------------------
// JSON

const micro = (seconds: number) => Number(seconds.toFixed(6))

const statJson = (stat: Stat, time: boolean) => {
  const metrics = metricsOf(stat)
  const round = time ? micro : (v: number) => Number(v.toFixed(6))
  return {
    sum: round(stat.sum),
    min: round(stat.min),
    max: round(stat.max),
    avg: round(stat.avg),
    p95: round(metrics.pct95),
    stddev: round(metrics.stddev),
    median: round(metrics.median)
  }
}

const countsJson = (values: ReadonlyArray<readonly [string, number]>) => values.map(([value, count]) => ({ value, count }))

const classJson = (cls: ClassStats, rank: number) => {
  const sample = cls.sample
  const db = sample?.db ?? cls.databases.sorted()[0]?.[0]
  return {
    rank,
    id: cls.id,
    fingerprint: cls.fingerprint,
    distillate: sample === undefined ? null : distill(sample.sql),
    count: cls.count,
    ts_min: Number.isFinite(cls.tsMin) ? formatTimestamp(cls.tsMin) : null,
    ts_max: Number.isFinite(cls.tsMax) ? formatTimestamp(cls.tsMax) : null,
    query_time: statJson(cls.stats.Query_time!, true),
    lock_time: statJson(cls.stats.Lock_time!, true),
    rows_sent: statJson(cls.stats.Rows_sent!, false),
    rows_examined: statJson(cls.stats.Rows_examined!, false),
    ...(cls.stats.Rows_affected === undefined ? {} : { rows_affected: statJson(cls.stats.Rows_affected, false) }),
    query_length: statJson(cls.stats.Query_length!, false),
    query_time_histogram: decadeHistogram(cls.stats.Query_time!),
    variance_to_mean: micro(varianceToMean(cls.stats.Query_time!)),
    databases: countsJson(cls.databases.sorted()),
    users: countsJson(cls.users.sorted()),
    hosts: countsJson(cls.hosts.sorted()),
    tables: sample === undefined ? [] : extractTables(sample.sql, db).map(([d, t]) => (d === undefined ? t : `${d}.${t}`)),
    sample:
      sample === undefined
        ? null
        : {
            query: sample.sql,
            query_time: micro(sample.queryTime),
            ts: sample.startUs === undefined ? null : formatTimestamp(sample.startUs),
            db: sample.db ?? null,
            file: sample.file,
            offset: sample.offset
          }
  }
}

/** The document of `slowq digest --format json` (see the README for each field). */
export const jsonReport = (input: ReportInput) => {
  const { aggregator, order } = input
  const global = aggregator.global
  const { qps, concurrency } = rates(global)
  const ranked = rankClasses(aggregator.classes.values(), order).slice(0, input.top)
  return {
    global: {
      files: input.files,
      order_by: `${order.attribute}:${order.fn}`,
      count: global.count,
      unique: aggregator.classes.size,
      qps: micro(qps),
      concurrency: micro(concurrency),
      ts_min: Number.isFinite(global.tsMin) ? formatTimestamp(global.tsMin) : null,
      ts_max: Number.isFinite(global.tsMax) ? formatTimestamp(global.tsMax) : null,
      ...(global.count === 0
        ? {}
        : {
            query_time: statJson(global.stats.Query_time!, true),
            lock_time: statJson(global.stats.Lock_time!, true),
            rows_sent: statJson(global.stats.Rows_sent!, false),
            rows_examined: statJson(global.stats.Rows_examined!, false),
            ...(global.stats.Rows_affected === undefined ? {} : { rows_affected: statJson(global.stats.Rows_affected, false) }),
            query_length: statJson(global.stats.Query_length!, false)
          })
    },
    classes: ranked.map((cls, i) => classJson(cls, i + 1))
  }
}
