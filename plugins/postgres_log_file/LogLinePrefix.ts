/**
 * PostgreSQL's `log_line_prefix` as a reader of log lines: which escapes are understood, and a matcher that takes a
 * line's prefix apart. The prefix is free text with escapes in it; the server writes it before every line of the
 * stderr log, so slowq must be told the same setting to find where the message starts.
 */

/** What a prefix field tells slowq; `skip` fields are matched and ignored. */
type Field = "time_ms" | "time_s" | "epoch" | "pid" | "user" | "database" | "application" | "host" | "host_port" | "skip"

interface Escape {
  readonly field: Field
  /** The regular expression of its value: no capture group of its own. */
  readonly pattern: string
  readonly description: string
}

const ZONE = "(?:[A-Za-z][A-Za-z0-9_/+-]*|[+-]\\d\\d(?::?\\d\\d)?)"
const ANY = "[^\\n]*?"

/** The escapes slowq understands, as documented in the plugin's README. */
export const ESCAPES: Readonly<Record<string, Escape>> = {
  m: { field: "time_ms", pattern: `\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} ${ZONE}`, description: "time stamp with milliseconds" },
  t: { field: "time_s", pattern: `\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d ${ZONE}`, description: "time stamp without milliseconds" },
  n: { field: "epoch", pattern: "\\d+\\.\\d{3}", description: "time stamp as Unix epoch with milliseconds" },
  p: { field: "pid", pattern: "\\d+", description: "process ID" },
  u: { field: "user", pattern: ANY, description: "user name" },
  d: { field: "database", pattern: ANY, description: "database name" },
  a: { field: "application", pattern: ANY, description: "application name" },
  h: { field: "host", pattern: "[^\\s]*", description: "remote host name or IP address" },
  r: { field: "host_port", pattern: "[^\\s]*", description: "remote host name or IP address, and remote port" },
  c: { field: "skip", pattern: "[0-9a-f]+\\.[0-9a-f]+", description: "session ID" },
  l: { field: "skip", pattern: "\\d+", description: "number of the log line for each session or process" },
  s: { field: "skip", pattern: `\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d ${ZONE}`, description: "process start time stamp" },
  v: { field: "skip", pattern: "[^\\s]*", description: "virtual transaction ID" },
  x: { field: "skip", pattern: "\\d+", description: "transaction ID" },
  e: { field: "skip", pattern: "[0-9A-Z]{5}", description: "SQLSTATE error code" },
  b: { field: "skip", pattern: ANY, description: "backend type" },
  i: { field: "skip", pattern: ANY, description: "command tag" },
  Q: { field: "skip", pattern: "-?\\d+", description: "query identifier" }
}

/** The fields of one line's prefix that slowq uses; absent when the prefix has no such escape (or it was empty). */
export interface PrefixFields {
  /** As written: `2024-05-10 17:44:36.400 UTC` (%m, %t) or `1715363076.400` (%n). */
  readonly time?: string
  readonly pid?: number
  readonly user?: string
  readonly database?: string
  readonly application?: string
  readonly host?: string
}

export interface PrefixMatcher {
  /** The prefix's fields and the rest of the line, or undefined when `line` does not start with the prefix. */
  readonly match: (line: string) => { readonly fields: PrefixFields; readonly rest: string } | undefined
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** What PostgreSQL writes after the prefix: a severity, a colon and two spaces. */
const SEVERITY = "(LOG|ERROR|WARNING|FATAL|PANIC|NOTICE|INFO|DEBUG[1-5]?|DETAIL|HINT|STATEMENT|CONTEXT|QUERY|LOCATION):  "

/** `log_line_prefix` compiled, or the escapes slowq does not understand (`%X` each, in order). */
export const compilePrefix = (prefix: string): PrefixMatcher | { readonly unknown: ReadonlyArray<string> } => {
  const unknown: Array<string> = []
  // Two alternatives: the whole prefix (a session's lines), and the part before %q (background processes').
  let full = ""
  let beforeQ: string | undefined
  const fields: Array<Field> = []
  let fieldsBeforeQ = 0
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix[i]!
    if (c !== "%") {
      full += escapeRegExp(c)
      continue
    }
    const next = prefix[i + 1]
    i++
    if (next === undefined) {
      unknown.push("%")
      continue
    }
    if (next === "%") {
      full += "%"
      continue
    }
    if (next === "q") {
      if (beforeQ === undefined) {
        beforeQ = full
        fieldsBeforeQ = fields.length
      }
      continue
    }
    const known = ESCAPES[next]
    if (known === undefined) {
      // Padding (`%-10u`) and escapes slowq has no pattern for.
      unknown.push(`%${next}`)
      continue
    }
    full += `(${known.pattern})`
    fields.push(known.field)
  }
  if (unknown.length > 0) return { unknown }
  const session = new RegExp(`^${full}${SEVERITY}`)
  const background = beforeQ === undefined ? undefined : new RegExp(`^${beforeQ}${SEVERITY}`)
  return {
    match: (line) => {
      // A prefix is short; matching only the line's head keeps the lazy fields from wandering through a long line.
      const head = line.length > 2048 ? line.slice(0, 2048) : line
      let count = fields.length
      let found = session.exec(head)
      if (found === null && background !== undefined) {
        found = background.exec(head)
        count = fieldsBeforeQ
      }
      if (found === null) return undefined
      const out: { -readonly [K in keyof PrefixFields]: PrefixFields[K] } = {}
      for (let f = 0; f < count; f++) {
        const value = found[f + 1] ?? ""
        switch (fields[f]) {
          case "time_ms":
          case "time_s":
          case "epoch":
            out.time = value
            break
          case "pid":
            out.pid = Number(value)
            break
          case "user":
            if (value !== "" && value !== "[unknown]") out.user = value
            break
          case "database":
            if (value !== "" && value !== "[unknown]") out.database = value
            break
          case "application":
            if (value !== "" && value !== "[unknown]") out.application = value
            break
          case "host":
            if (value !== "") out.host = value
            break
          case "host_port": {
            const paren = value.indexOf("(")
            const host = paren < 0 ? value : value.slice(0, paren)
            if (host !== "") out.host = host
            break
          }
          default:
            break
        }
      }
      const severity = found[count + 1]!
      return { fields: out, rest: `${severity}:  ${line.slice(found[0].length)}` }
    }
  }
}

/** Epoch microseconds of a prefix's time; `localOffsetMinutes` for a zone written as a name other than UTC/GMT. */
export const prefixTimeUs = (time: string, localOffsetMinutes: number): number | undefined => {
  const epoch = /^(\d+)\.(\d{3})$/.exec(time)
  if (epoch !== null) return Number(epoch[1]) * 1_000_000 + Number(epoch[2]) * 1000
  const parts = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{3}))? (\S+)$/.exec(time)
  if (parts === null) return undefined
  const ms = Date.UTC(Number(parts[1]), Number(parts[2]) - 1, Number(parts[3]), Number(parts[4]), Number(parts[5]), Number(parts[6]))
  if (Number.isNaN(ms)) return undefined
  const zone = parts[8]!
  const numeric = /^([+-])(\d\d)(?::?(\d\d))?$/.exec(zone)
  const offset =
    zone === "UTC" || zone === "GMT" || zone === "Z"
      ? 0
      : numeric !== null
        ? (numeric[1] === "-" ? -1 : 1) * (Number(numeric[2]) * 60 + Number(numeric[3] ?? "0"))
        : localOffsetMinutes
  return (ms - offset * 60_000 + Number(parts[7] ?? "0")) * 1000
}
