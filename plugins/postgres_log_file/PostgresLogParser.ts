import { Option, Schema } from "effect"
import { lex, T_PARAM } from "../../src/fingerprint/SqlLexer.js"
import { type PrefixFields, type PrefixMatcher, prefixTimeUs } from "./LogLinePrefix.js"

// auto_explain's JSON: any JSON text, and of it only an object is a plan (a JSON array or scalar is kept as no plan).
const decodeJson = Schema.decodeUnknownOption(Schema.parseJson())
const decodePlanObject = Schema.decodeUnknownOption(Schema.Record({ key: Schema.String, value: Schema.Unknown }))

/**
 * PostgreSQL's stderr log as executions: the lines `log_min_duration_statement` writes (`duration: … ms  statement:
 * …`, `… execute <name>: …` with its `DETAIL:  parameters: …`) and the plans auto_explain writes (`duration: … ms
 * plan:` and its JSON on the continuation lines), paired so that one execution is one execution whichever of them
 * logged it.
 *
 * An entry is a prefixed line and the continuation lines after it (PostgreSQL writes a newline of a message as a
 * newline and a tab). Pairing is per backend (the prefix's %p), because other backends' lines fall in between:
 * - simple query protocol: auto_explain logs the plan when the executor ends, then the statement's line follows. The
 *   plans waiting in a backend when its statement line comes are that statement's when their `Query Text` is its text
 *   (or it is an SQL `EXECUTE`, whose plans carry the `PREPARE`'s text): one plan is the event's plan; several are the
 *   statements of a multi-statement string, covered by its one line and not kept (a part's plan is not the whole's);
 * - extended protocol: the `execute` line comes first and its plan after it (when the portal is dropped), with the
 *   same `Query Text`;
 * - a plan whose statement line never comes (under log_min_duration_statement, or an error after it) is an event of
 *   its own, with auto_explain's duration (the executor's time) and its `Query Text`.
 * A waiting entry is settled by the next entry of its backend, by the end of the input, or once the log is 10 s or
 * 8 MiB past it (the two lines are written microseconds apart).
 */

export interface PostgresLogOptions {
  readonly prefix: PrefixMatcher
  /** Absolute byte offset of the first byte pushed. */
  readonly startOffset: number
  /** A statement longer than this is cut to it (the event keeps an attribute saying by how much). */
  readonly maxStatementBytes: number
  /** UTC offset in minutes for a time stamp whose zone is a name (CET, EST…) rather than UTC or a number. */
  readonly localOffsetMinutes: number
}

/** One execution as the log tells it. */
export interface PostgresLogEvent {
  /** Byte offset of the entry that names the event: the statement or execute line, or a lone plan. */
  readonly offset: number
  /** Epoch microseconds: the logged time (the statement's end) less its duration. */
  readonly startUs: number
  readonly durationMs: number
  readonly pid: number | undefined
  readonly user: string | undefined
  readonly database: string | undefined
  readonly application: string | undefined
  readonly host: string | undefined
  /** The statement, with an extended-protocol execution's logged parameters in place of its $n. */
  readonly sql: string
  readonly truncatedBytes: number
  /** `statement`, `execute` or `plan` (auto_explain alone). */
  readonly kind: "statement" | "execute" | "plan"
  /** The prepared statement (extended protocol), `<unnamed>` included. */
  readonly prepared: string | undefined
  /** auto_explain's JSON as logged, when it logged this execution in JSON. */
  readonly plan: Readonly<Record<string, unknown>> | undefined
}

export interface PostgresLogProblem {
  readonly kind: "not_an_event" | "unreadable_plan"
  readonly offset: number
  readonly length: number
  readonly message: string
}

export interface PostgresLogOutput {
  readonly events: Array<PostgresLogEvent>
  readonly problems: Array<PostgresLogProblem>
}

interface Entry {
  readonly offset: number
  readonly end: number
  readonly fields: PrefixFields
  readonly timeUs: number | undefined
  readonly severity: string
  /** The message: the first line after `SEVERITY:  `, then each continuation line without its tab. */
  readonly message: string
}

interface Logged {
  readonly entry: Entry
  readonly durationMs: number
  readonly text: string
}

interface WaitingPlan extends Logged {
  readonly plan: Readonly<Record<string, unknown>> | undefined
}

interface WaitingExecute extends Logged {
  readonly name: string
  parameters: ReadonlyArray<string | null> | undefined
}

/** A statement log_statement logged as it started; its duration comes on a line of its own when it ends. */
interface Announced {
  readonly entry: Entry
  readonly text: string
  /** The prepared statement of an `execute`; undefined for a `statement`. */
  readonly name: string | undefined
  parameters: ReadonlyArray<string | null> | undefined
}

interface Backend {
  plans: Array<WaitingPlan>
  execute: WaitingExecute | undefined
  announced: Announced | undefined
}

const NL = 0x0a
const TAB = 0x09
/** A waiting entry is settled once the log is this far past it: the lines of one execution are written together. */
const SETTLE_US = 10_000_000
const SETTLE_BYTES = 8 * 1024 * 1024
/** Continuation lines kept per entry at most; an entry longer than this is not one slowq reads whole. */
const MAX_ENTRY_BYTES = 256 * 1024 * 1024

/** `duration: 1.5 ms  statement: …`, or alone (`duration: 1.5 ms`) after log_statement logged the statement. */
const DURATION = /^duration: (\d+(?:\.\d+)?) ms(?: {2}|$)/

/** `$1 = 'a''b', $2 = NULL` → ["'a''b'", null]; undefined when it does not read as such a list. */
export const parseParameters = (text: string): Array<string | null> | undefined => {
  const values: Array<string | null> = []
  let i = 0
  while (i < text.length) {
    const head = /^\$(\d+) = /.exec(text.slice(i, i + 16))
    if (head === null || Number(head[1]) !== values.length + 1) return undefined
    i += head[0].length
    if (text.startsWith("NULL", i)) {
      values.push(null)
      i += 4
    } else if (text[i] === "'") {
      let j = i + 1
      for (;;) {
        const quote = text.indexOf("'", j)
        if (quote < 0) return undefined
        if (text[quote + 1] === "'") {
          j = quote + 2
          continue
        }
        j = quote + 1
        break
      }
      values.push(text.slice(i, j))
      i = j
    } else return undefined
    if (i < text.length) {
      if (!text.startsWith(", ", i)) return undefined
      i += 2
    }
  }
  return values
}

/** `sql` with each `$n` (outside strings and comments) replaced by the n-th logged value. */
export const bindParameters = (sql: string, values: ReadonlyArray<string | null>): string => {
  const lexed = lex(sql, "postgres")
  let out = ""
  let at = 0
  for (let t = 0; t < lexed.count; t++) {
    if (lexed.kinds[t] !== T_PARAM) continue
    const start = lexed.starts[t]!
    const end = lexed.ends[t]!
    const n = Number(sql.slice(start + 1, end))
    if (!Number.isInteger(n) || n < 1 || n > values.length) continue
    out += sql.slice(at, start) + (values[n - 1] ?? "NULL")
    at = end
  }
  return out + sql.slice(at)
}

const isSqlExecute = (text: string) => /^\s*execute\s/i.test(text)

export class PostgresLogParser {
  private readonly options: PostgresLogOptions
  private readonly decoder = new TextDecoder("utf-8")
  /** Bytes of a line not ended yet. */
  private partial: Array<Uint8Array> = []
  private partialLength = 0
  /** Absolute offset of the first byte not yet split into lines. */
  private position: number
  /** The entry being read (more continuation lines may follow). */
  private current: { offset: number; end: number; fields: PrefixFields; severity: string; lines: Array<string>; bytes: number } | undefined
  /** Bytes of lines that belong to no entry, being gathered into one problem. */
  private stray: { offset: number; length: number } | undefined
  private readonly backends = new Map<number, Backend>()
  /** Where the last complete entry ended. */
  private completeEnd: number
  private out: PostgresLogOutput = { events: [], problems: [] }
  /**
   * Where to read again once each event of `out` is stored: before every entry of the events emitted after it and of
   * the entries still waiting (see `settleResumes`), so a batch stored up to any event never resumes past an event that
   * was not stored. What is read again is ignored by its key.
   */
  private resumes: Array<number> = []
  /** The first offset of each event's entries (its line, and its plan's). */
  private firstOffsets: Array<number> = []
  private lastResumes: Array<number> = []

  constructor(options: PostgresLogOptions) {
    this.options = options
    this.position = options.startOffset
    this.completeEnd = options.startOffset
  }

  /** Absolute offset after the last byte pushed. */
  get bytesSeen(): number {
    return this.position + this.partialLength
  }

  /** Something read is not emitted yet. */
  get hasPendingEvent(): boolean {
    return this.current !== undefined || this.partialLength > 0 || this.waitingStart() !== undefined
  }

  /** Where reading again sees every entry not emitted yet: the first waiting entry, or the entry being read. */
  get resumeOffset(): number {
    const waiting = this.waitingStart()
    const reading = this.current?.offset ?? this.stray?.offset ?? this.completeEnd
    return waiting === undefined ? reading : Math.min(waiting, reading)
  }

  /** The events of `chunk`, each with the offset to resume at once it is stored. */
  pushWithResume(chunk: Uint8Array): Array<{ readonly event: PostgresLogEvent; readonly resume: number }> {
    return this.withResume(() => this.push(chunk))
  }

  finishWithResume(): Array<{ readonly event: PostgresLogEvent; readonly resume: number }> {
    return this.withResume(() => this.finish())
  }

  /** The problems of the last push or finish (`pushWithResume` leaves them here). */
  lastProblems: Array<PostgresLogProblem> = []

  private withResume(run: () => PostgresLogOutput) {
    const output = run()
    this.lastProblems = output.problems
    const resumes = this.lastResumes
    return output.events.map((event, i) => ({ event, resume: resumes[i]! }))
  }

  push(chunk: Uint8Array): PostgresLogOutput {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(NL, start)
      if (nl < 0) break
      const piece = chunk.subarray(start, nl)
      let line: Uint8Array
      if (this.partialLength > 0) {
        this.partial.push(piece)
        line = Buffer.concat(this.partial)
        this.partial = []
        this.partialLength = 0
      } else line = piece
      const lineStart = this.position
      this.position += line.length + 1
      this.line(line, lineStart, this.position)
      start = nl + 1
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start)
      // Copied: the caller reuses its buffer.
      this.partial.push(Uint8Array.prototype.slice.call(rest))
      this.partialLength += rest.length
    }
    return this.take()
  }

  /** The input ends here: the last line, the entry being read and every waiting one are complete. */
  finish(): PostgresLogOutput {
    if (this.partialLength > 0) {
      const line = Buffer.concat(this.partial)
      this.partial = []
      this.partialLength = 0
      const lineStart = this.position
      this.position += line.length
      this.line(line, lineStart, this.position)
    }
    this.closeEntry()
    this.closeStray()
    const first = this.resumes.length
    for (const [pid] of [...this.backends]) this.flushBackend(pid)
    this.settleResumes(first)
    return this.take()
  }

  private take(): PostgresLogOutput {
    const out = this.out
    this.out = { events: [], problems: [] }
    this.lastResumes = this.resumes
    this.resumes = []
    this.firstOffsets = []
    return out
  }

  private waitingStart(): number | undefined {
    let first: number | undefined
    for (const backend of this.backends.values()) {
      for (const plan of backend.plans) if (first === undefined || plan.entry.offset < first) first = plan.entry.offset
      for (const waiting of [backend.execute, backend.announced]) {
        if (waiting !== undefined && (first === undefined || waiting.entry.offset < first)) first = waiting.entry.offset
      }
    }
    return first
  }

  private line(bytes: Uint8Array, start: number, end: number) {
    if (bytes[0] === TAB) {
      if (this.current !== undefined) {
        this.current.end = end
        if (this.current.bytes < MAX_ENTRY_BYTES) {
          this.current.lines.push(this.decoder.decode(bytes.subarray(1)))
          this.current.bytes += bytes.length
        }
        return
      }
      this.strayBytes(start, end)
      return
    }
    const text = this.decoder.decode(bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes)
    const matched = this.options.prefix.match(text)
    if (matched === undefined) {
      // A line of no entry: garbage, another program's output, or a prefix other than the configured one.
      this.closeEntry()
      this.strayBytes(start, end)
      return
    }
    this.closeEntry()
    this.closeStray()
    const colon = matched.rest.indexOf(":  ")
    this.current = {
      offset: start,
      end,
      fields: matched.fields,
      severity: matched.rest.slice(0, colon),
      lines: [matched.rest.slice(colon + 3)],
      bytes: bytes.length
    }
  }

  private strayBytes(start: number, end: number) {
    if (this.stray === undefined) this.stray = { offset: start, length: end - start }
    else this.stray.length = end - this.stray.offset
    this.completeEnd = end
  }

  private closeStray() {
    const stray = this.stray
    if (stray === undefined) return
    this.stray = undefined
    this.out.problems.push({
      kind: "not_an_event",
      offset: stray.offset,
      length: stray.length,
      message: `${stray.length} bytes at byte ${stray.offset} are no log entry of the configured log_line_prefix; skipped`
    })
  }

  private closeEntry() {
    const current = this.current
    if (current === undefined) return
    this.current = undefined
    this.completeEnd = current.end
    const timeUs =
      current.fields.time === undefined ? undefined : prefixTimeUs(current.fields.time, this.options.localOffsetMinutes)
    const first = this.resumes.length
    this.entry({
      offset: current.offset,
      end: current.end,
      fields: current.fields,
      timeUs,
      severity: current.severity,
      message: current.lines.join("\n")
    })
    this.settleResumes(first)
  }

  /**
   * The resume offsets of the events one step (one entry taken in, or the end) emitted from index `first` on: each
   * event's is the least of where the parser now stands (the entries still waiting, the next unread byte) and the
   * entries of the events emitted after it in the step.
   */
  private settleResumes(first: number) {
    let running = this.resumeOffset
    for (let i = this.resumes.length - 1; i >= first; i--) {
      this.resumes[i] = running
      running = Math.min(running, this.firstOffsets[i]!)
    }
  }

  private backend(pid: number): Backend {
    let backend = this.backends.get(pid)
    if (backend === undefined) {
      backend = { plans: [], execute: undefined, announced: undefined }
      this.backends.set(pid, backend)
    }
    return backend
  }

  /** Settles what waits in other backends for too long (their next entry would have come by now). */
  private settleOld(entry: Entry) {
    for (const [pid, backend] of this.backends) {
      const oldest = backend.announced?.entry ?? backend.execute?.entry ?? backend.plans[0]?.entry
      if (oldest === undefined) continue
      const late =
        entry.offset - oldest.offset > SETTLE_BYTES ||
        (entry.timeUs !== undefined && oldest.timeUs !== undefined && entry.timeUs - oldest.timeUs > SETTLE_US)
      if (late) this.flushBackend(pid)
    }
  }

  private entry(entry: Entry) {
    this.settleOld(entry)
    const pid = entry.fields.pid ?? -1
    const { severity, message } = entry
    if (severity === "DETAIL") {
      const backend = this.backends.get(pid)
      // The parameters of the execute before, logged with its duration or announced by log_statement.
      const target = backend?.execute ?? backend?.announced
      if (target !== undefined && target.parameters === undefined && message.startsWith("parameters: ")) {
        target.parameters = parseParameters(message.slice("parameters: ".length)) ?? []
      }
      return
    }
    // What belongs to the entry before it, never ends a wait.
    if (severity === "STATEMENT" || severity === "CONTEXT" || severity === "HINT" || severity === "QUERY" || severity === "LOCATION") return
    const duration = severity === "LOG" ? DURATION.exec(message) : null
    if (duration === null && severity === "LOG" && this.announce(pid, entry)) return
    if (duration === null) {
      // Anything else of the backend (an error, a disconnection…) ends what it was doing.
      this.flushBackend(pid)
      return
    }
    const durationMs = Number(duration[1])
    const body = message.slice(duration[0].length)
    if (body === "") {
      this.announcedEnds(pid, entry, durationMs)
      return
    }
    if (body.startsWith("plan:")) {
      this.plan(pid, { entry, durationMs, text: "" }, body.slice("plan:".length))
    } else if (body.startsWith("statement: ")) {
      this.statement(pid, { entry, durationMs, text: body.slice("statement: ".length) })
    } else if (body.startsWith("execute ")) {
      const colon = body.indexOf(": ")
      if (colon < 0) return
      const name = body.slice("execute ".length, colon).replace(/^fetch from /, "")
      this.flushBackend(pid)
      this.backend(pid).execute = { entry, durationMs, text: body.slice(colon + 2), name, parameters: undefined }
    } else {
      // parse and bind are steps of an execution that its execute line counts: not executions.
      this.flushBackend(pid)
    }
  }

  /**
   * log_statement's line as a statement starts (`statement: …`, `execute <name>: …`, without a duration): it waits
   * for its duration line. False when the message is none of those.
   */
  private announce(pid: number, entry: Entry): boolean {
    const { message } = entry
    let text: string
    let name: string | undefined
    if (message.startsWith("statement: ")) text = message.slice("statement: ".length)
    else if (message.startsWith("execute ")) {
      const colon = message.indexOf(": ")
      if (colon < 0) return false
      name = message.slice("execute ".length, colon).replace(/^fetch from /, "")
      text = message.slice(colon + 2)
    } else return false
    this.flushBackend(pid)
    this.backend(pid).announced = { entry, text, name, parameters: undefined }
    return true
  }

  /** A duration line of its own: the end of the statement log_statement announced, as if logged with it. */
  private announcedEnds(pid: number, entry: Entry, durationMs: number) {
    const backend = this.backends.get(pid)
    const announced = backend?.announced
    // log_duration without log_statement: no text to go with it.
    if (backend === undefined || announced === undefined) return
    backend.announced = undefined
    // The event is the announcing line's (its key) at the duration line's time (the end).
    const logged: Logged = { entry: { ...announced.entry, timeUs: entry.timeUs }, durationMs, text: announced.text }
    if (announced.name === undefined) this.statement(pid, logged)
    else {
      if (backend.execute !== undefined) this.emit(backend.execute, "execute", undefined)
      for (const waiting of backend.plans) this.emit(waiting, "plan", waiting)
      backend.plans = []
      backend.execute = { ...logged, name: announced.name, parameters: announced.parameters }
    }
  }

  private plan(pid: number, logged: Logged, json: string) {
    let plan: Record<string, unknown> | undefined
    let text = ""
    const parsed = decodeJson(json)
    if (Option.isSome(parsed)) {
      plan = Option.getOrUndefined(decodePlanObject(parsed.value))
      const queryText = plan?.["Query Text"]
      text = typeof queryText === "string" ? queryText : ""
    } else {
      // auto_explain.log_format = text: the query is on the line after `plan:`, the plan is not kept.
      const match = /^\s*Query Text: ([^\n]*)/.exec(json)
      text = match?.[1] ?? ""
      this.out.problems.push({
        kind: "unreadable_plan",
        offset: logged.entry.offset,
        length: logged.entry.end - logged.entry.offset,
        message: `the auto_explain plan at byte ${logged.entry.offset} is not JSON (auto_explain.log_format = json keeps plans)`
      })
    }
    const backend = this.backend(pid)
    const execute = backend.execute
    if (execute !== undefined) {
      backend.execute = undefined
      if (execute.text === text) {
        this.emit(execute, "execute", { ...logged, text, plan })
        return
      }
      this.emit(execute, "execute", undefined)
    }
    // A plan of another query before this one: its statement line did not come.
    const others = backend.plans.filter((waiting) => waiting.text !== text)
    if (others.length > 0) {
      backend.plans = backend.plans.filter((waiting) => waiting.text === text)
      for (const waiting of others) this.emit(waiting, "plan", waiting)
    }
    backend.plans.push({ ...logged, text, plan })
  }

  private statement(pid: number, logged: Logged) {
    const backend = this.backends.get(pid)
    if (backend === undefined) {
      this.emit(logged, "statement", undefined)
      return
    }
    if (backend.execute !== undefined) {
      this.emit(backend.execute, "execute", undefined)
      backend.execute = undefined
    }
    const sqlExecute = isSqlExecute(logged.text)
    const own = backend.plans.filter((waiting) => waiting.text === logged.text || sqlExecute)
    for (const waiting of backend.plans) if (!own.includes(waiting)) this.emit(waiting, "plan", waiting)
    backend.plans = []
    this.backends.delete(pid)
    this.emit(logged, "statement", own.length === 1 ? own[0] : undefined)
  }

  private flushBackend(pid: number) {
    const backend = this.backends.get(pid)
    if (backend === undefined) return
    this.backends.delete(pid)
    // A statement announced without its duration line (under log_min_duration_statement): not a slow one, no event.
    const waiting: Array<{ readonly at: number; readonly run: () => void }> = backend.plans.map((plan) => ({
      at: plan.entry.offset,
      run: () => this.emit(plan, "plan", plan)
    }))
    const execute = backend.execute
    if (execute !== undefined) waiting.push({ at: execute.entry.offset, run: () => this.emit(execute, "execute", undefined) })
    for (const item of waiting.sort((a, b) => a.at - b.at)) item.run()
  }

  private emit(logged: Logged | WaitingExecute, kind: PostgresLogEvent["kind"], plan: WaitingPlan | undefined) {
    const { entry } = logged
    let sql = logged.text
    const parameters = "parameters" in logged ? logged.parameters : undefined
    if (parameters !== undefined && parameters.length > 0) sql = bindParameters(sql, parameters)
    let truncatedBytes = 0
    const bytes = Buffer.byteLength(sql)
    if (bytes > this.options.maxStatementBytes) {
      truncatedBytes = bytes - this.options.maxStatementBytes
      sql = Buffer.from(sql).subarray(0, this.options.maxStatementBytes).toString("utf8")
    }
    const endUs = entry.timeUs ?? 0
    // Set by settleResumes once the step is done.
    this.resumes.push(entry.offset)
    this.firstOffsets.push(plan === undefined ? entry.offset : Math.min(entry.offset, plan.entry.offset))
    this.out.events.push({
      offset: entry.offset,
      // The line is written when the statement ends; the prefix's time has milliseconds at best.
      startUs: endUs === 0 ? 0 : endUs - Math.round(logged.durationMs * 1000),
      durationMs: logged.durationMs,
      pid: entry.fields.pid,
      user: entry.fields.user,
      database: entry.fields.database,
      application: entry.fields.application,
      host: entry.fields.host,
      sql,
      truncatedBytes,
      kind,
      prepared: "name" in logged ? logged.name : undefined,
      plan: plan?.plan
    })
  }
}
