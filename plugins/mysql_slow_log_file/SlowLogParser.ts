/**
 * A streaming parser of the MySQL / MariaDB / Percona Server slow query log file format.
 *
 * It is fed raw bytes in chunks of any size and hands back every event it knows to be complete, with the byte
 * offsets where the event starts and ends, so that a reader can resume exactly at an event boundary. It does no
 * I/O and never throws on its input: bytes that are not UTF-8 become U+FFFD, text that is not part of an event
 * is reported as a problem with its offset and skipped, and parsing goes on.
 *
 * Event boundaries. An entry starts with `# Time:` (written only when the second changed, by older servers and
 * MariaDB), `# User@Host:` (always written; `# User:` in an older Percona Server format) or `# Query_time:`; a
 * `# Time:` line, a header of a kind the entry already has, or any of them once the statement has begun, starts
 * the next entry. A server start-up banner (`…mysqld, Version: … started with:`, `Tcp port: …`,
 * `Time  Id Command  Argument`) ends the entry before it and is skipped. So an entry is known to be complete only
 * when the next one starts; the entry at the end of the input stays pending until `finish()` says the input is
 * complete (see SlowLogFileSource for when a live file's tail counts as such).
 *
 * pt-query-digest splits its input at every `;\n#` (its record separator). slowq splits there too when the `#`
 * line reads as a header line by pt's own test (`# Name: value`, e.g. `# Thread_id: 2  Schema: db` of a log
 * without `# User@Host:`), and a line of that shape also starts an entry between entries. Other lines that start
 * with `#` inside a statement stay part of it (MySQL's `#` comments): stricter than pt, which would cut the
 * statement there.
 */

/** A header attribute value: `Yes`/`No` become booleans, decimal numbers numbers, the rest stays text. */
export type AttributeValue = string | number | boolean

export interface SlowLogEvent {
  /** Byte offset of the entry's first line in the input. */
  readonly offset: number
  /** Byte offset just past the entry: where the next entry, a banner or the end of the input begins. */
  readonly end: number
  /** The entry's own `# Time:` value, verbatim (`2024-05-10T17:44:36.400424Z` or `240515 17:02:39`). */
  readonly time: string | undefined
  /** The entry's own `# Time:` or, when it has none, the latest one before it in this parser's input. */
  readonly lastTime: string | undefined
  /** `SET timestamp=N;`: the statement's start, in epoch seconds (MySQL and MariaDB write whole seconds). */
  readonly timestamp: number | undefined
  /** The `# User@Host:` value as the server wrote it (`root[root] @ localhost [127.0.0.1]`), without `Id:`. */
  readonly userHost: string | undefined
  /** The account's user name (`root`; `[SQL_SLAVE]` for replication threads, as pt-query-digest reports it). */
  readonly user: string | undefined
  /** The client's host name, or its address when the server did not resolve it. */
  readonly host: string | undefined
  readonly ip: string | undefined
  /** `Id:` of MySQL's User@Host line, or `Thread_id:` of MariaDB, Percona Server and MySQL's log_slow_extra. */
  readonly threadId: number | undefined
  /**
   * The default database: `use db;` of this entry, else `Schema:`, else (for MySQL, which writes `use` only when
   * the database changed) the database of the entry before it; backquotes removed.
   */
  readonly db: string | undefined
  /** `use db;` of this entry only (MySQL writes it when the database changed), backquotes removed. */
  readonly useDb: string | undefined
  /** Seconds. */
  readonly queryTime: number
  /** Seconds. */
  readonly lockTime: number
  readonly rowsSent: number
  readonly rowsExamined: number
  /** MariaDB and Percona Server only. */
  readonly rowsAffected: number | undefined
  /** Every other `# Key: value` of the header (QC_hit, Bytes_sent, Full_scan, InnoDB_*, Start, …), kept as found. */
  readonly attributes: Readonly<Record<string, AttributeValue>>
  /** The statement, without the `;` and newline the server appends; `administrator command: Quit` for commands. */
  readonly sql: string
  /** An administrator command (`# administrator command: …` instead of a statement). */
  readonly admin: boolean
  /** Bytes of the statement dropped beyond `maxStatementBytes`; 0 when the statement is whole. */
  readonly truncatedBytes: number
}

/**
 * An entry as the parser hands it to `onEntry`: the fields of `SlowLogEvent` with the statement left as bytes,
 * so that a reader that only needs its fingerprint (the digest) makes no string and no object per entry. One
 * view is refilled for every entry; it and its bytes are valid only during the call.
 */
export interface SlowLogEntryView extends Omit<SlowLogEvent, "sql"> {
  /** The statement is `bytes[sqlStart, sqlEnd)`: UTF-8 as the server wrote it, possibly invalid. */
  readonly bytes: Buffer
  readonly sqlStart: number
  readonly sqlEnd: number
  /** The statement decoded, as `SlowLogEvent.sql`; makes a string, so only for the entries that need one. */
  sql(): string
}

export type SlowLogProblemKind =
  /** Bytes outside any entry that are not a start-up banner either (the file is not a slow log, or is damaged). */
  | "not_an_event"
  /** An entry cut short: no `# Query_time:` line or no statement before the next entry or the end of input. */
  | "incomplete_event"
  /** The entry's statement was longer than `maxStatementBytes`; the event was kept with its statement cut. */
  | "statement_truncated"

export interface SlowLogProblem {
  readonly kind: SlowLogProblemKind
  /** Byte offset of the first byte concerned. */
  readonly offset: number
  /** Bytes concerned. */
  readonly length: number
  readonly message: string
}

export interface SlowLogParserOptions {
  /** Absolute byte offset of the first byte pushed, so that every reported offset is a file offset. */
  readonly startOffset?: number
  /** A statement longer than this is cut to this length (the event is still emitted); default 64 MiB. */
  readonly maxStatementBytes?: number
  /**
   * Read only what a digest needs (default false): no `attributes`, no verbatim `userHost`, and the `# Time:`
   * text only for an entry without `SET timestamp`. About twice as fast.
   */
  readonly light?: boolean
  /** The database in effect at `startOffset` (`currentDb` of the parser that stopped there). */
  readonly initialDb?: string | undefined
  /**
   * Receives each complete entry as a view instead of as an event in `push`/`finish` output (whose `events`
   * then stay empty): no object and no statement string per entry.
   */
  readonly onEntry?: (entry: SlowLogEntryView) => void
}

export interface ParseOutput {
  readonly events: Array<SlowLogEvent>
  readonly problems: Array<SlowLogProblem>
}

const NL = 0x0a
const CR = 0x0d
const HASH = 0x23
const DEFAULT_MAX_STATEMENT = 64 * 1024 * 1024
/** Header lines longer than this are parsed from their first bytes only; no real header comes close. */
const MAX_HEADER_LINE = 64 * 1024
/** A line this long is classified from its first bytes and, when it is statement text, not kept whole. */
const CLASSIFY_BYTES = 4096

enum State {
  /** Between entries: only an entry header or a banner is expected. */
  Outside,
  /** Inside an entry's header lines (`#` lines, `use`, `SET timestamp`). */
  Header,
  /** Inside the statement text. */
  Body
}

enum Boundary {
  None = 0,
  Time = 1,
  UserHost = 2,
  QueryTime = 3
}

interface Pending {
  offset: number
  /** Light mode: where the `# Time:` line is (absolute offsets), decoded only when needed. */
  timeStart: number
  timeEnd: number
  /** The strongest boundary header kind seen so far. */
  seen: Boundary
  time: string | undefined
  timestamp: number | undefined
  gotSet: boolean
  userHost: string | undefined
  user: string | undefined
  host: string | undefined
  ip: string | undefined
  threadId: number | undefined
  useDb: string | undefined
  schema: string | undefined
  /** The entry has a `Schema:` field, even an empty one (MariaDB, Percona Server). */
  hasSchema: boolean
  queryTime: number | undefined
  lockTime: number
  rowsSent: number
  rowsExamined: number
  rowsAffected: number | undefined
  attributes: Record<string, AttributeValue>
  explain: Array<string> | undefined
  /** Absolute offset of the first statement byte, or -1 before the statement. */
  bodyStart: number
  admin: boolean
  /** Set once the statement outgrew `maxStatementBytes`: its kept beginning, already decoded. */
  overflowSql: string | undefined
}

const asciiBytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0))
const TIME = asciiBytes("# Time:")
const USER_HOST = asciiBytes("# User@Host:")
/** An older Percona Server header without the host part of its name: `# User: u[u] @ [1.2.3.4]`. */
const USER = asciiBytes("# User:")
const QUERY_TIME = asciiBytes("# Query_time:")
const ADMIN = asciiBytes("# administrator command:")
const USE = asciiBytes("use ")
const SET = asciiBytes("SET ")
const EXPLAIN = asciiBytes("# explain:")
const SET_TIMESTAMP = asciiBytes("SET timestamp=")
const STARTED_WITH = asciiBytes("started with:")
const EMBEDDED_LIBRARY = asciiBytes("embedded library")

const startsWith = (buf: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean => {
  if (end - start < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false
  return true
}

const endsWith = (buf: Uint8Array, start: number, end: number, suffix: Uint8Array): boolean =>
  end - start >= suffix.length && startsWith(buf, end - suffix.length, end, suffix)

const BANNER_VERSION = /^\S.*, Version: .*(?:started with:|embedded library)/
const BANNER_PORT = /^T[cC][pP] [pP]ort: +\d+/
const BANNER_COLUMNS = /^Time\s+Id\s+Command\s+Argument/

const unquote = (name: string): string =>
  name.length >= 2 && name.startsWith("`") && name.endsWith("`") ? name.slice(1, -1).replaceAll("``", "`") : name

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

const attributeValue = (text: string): AttributeValue => {
  if (text === "Yes") return true
  if (text === "No") return false
  if (DECIMAL.test(text)) {
    const value = Number(text)
    if (Number.isFinite(value)) return value
  }
  return text
}

const isNameStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57)

/** Bytes [start, end) are `Name:` with an identifier before the colon. */
/** Where `pattern` first occurs within buf[from, end), or -1. */
const indexOfBytes = (buf: Uint8Array, pattern: Uint8Array, from: number, end: number): number => {
  const first = pattern[0]
  const last = end - pattern.length
  outer: for (let i = from; i <= last; i++) {
    if (buf[i] !== first) continue
    for (let k = 1; k < pattern.length; k++) if (buf[i + k] !== pattern[k]) continue outer
    return i
  }
  return -1
}

const isNameBytes = (buf: Uint8Array, start: number, end: number): boolean => {
  const last = end - 1
  if (last - start < 1 || buf[last] !== 58 || !isNameStart(buf[start]!)) return false
  for (let i = start + 1; i < last; i++) if (!isNameChar(buf[i]!)) return false
  return true
}

/**
 * The line [start, end) is a header line by pt-query-digest's test `^# +[A-Z][A-Za-z_]+: \S`: `# Thread_id: 2`
 * is, `# a comment` and `# administrator command: Quit` are not.
 */
const isHeaderShaped = (buf: Uint8Array, start: number, end: number): boolean => {
  let i = start + 1
  if (i >= end || buf[i] !== 32) return false
  while (i < end && buf[i] === 32) i++
  const c = buf[i]
  if (c === undefined || c < 65 || c > 90) return false
  const nameStart = ++i
  while (i < end) {
    const d = buf[i]!
    if ((d >= 65 && d <= 90) || (d >= 97 && d <= 122) || d === 95) i++
    else break
  }
  if (i === nameStart || i + 2 >= end || buf[i] !== 58 || buf[i + 1] !== 32) return false
  const v = buf[i + 2]!
  return v !== 32 && v !== 9 && v !== 11 && v !== 12 && v !== CR
}

enum Known {
  None,
  QueryTime,
  LockTime,
  RowsSent,
  RowsExamined,
  RowsAffected,
  ThreadId,
  Schema
}

const QUERY_TIME_NAME = asciiBytes("Query_time")
const LOCK_TIME_NAME = asciiBytes("Lock_time")
const ROWS_SENT_NAME = asciiBytes("Rows_sent")
const THREAD_ID_NAME = asciiBytes("Thread_id")
const ROWS_EXAMINED_NAME = asciiBytes("Rows_examined")
const ROWS_AFFECTED_NAME = asciiBytes("Rows_affected")
const SCHEMA_NAME = asciiBytes("Schema")
const QUERY_TIME_FIELDS = [QUERY_TIME_NAME, LOCK_TIME_NAME, ROWS_SENT_NAME, ROWS_EXAMINED_NAME]
/** Fields that follow the four standard ones on MySQL's (log_slow_extra) and Percona Server's Query_time line. */
const TRAILING_FIELDS = [asciiBytes(" Rows_affected:"), asciiBytes(" Thread_id:"), asciiBytes(" Schema:")]

/** Which of the attributes slowq has a field for the name [start, end) is; a switch keeps it cheap. */
const knownAttribute = (buf: Uint8Array, start: number, end: number): Known => {
  switch (end - start) {
    case 10:
      return startsWith(buf, start, end, QUERY_TIME_NAME) ? Known.QueryTime : Known.None
    case 9:
      switch (buf[start]) {
        case 0x4c:
          return startsWith(buf, start, end, LOCK_TIME_NAME) ? Known.LockTime : Known.None
        case 0x52:
          return startsWith(buf, start, end, ROWS_SENT_NAME) ? Known.RowsSent : Known.None
        case 0x54:
          return startsWith(buf, start, end, THREAD_ID_NAME) ? Known.ThreadId : Known.None
        default:
          return Known.None
      }
    case 13:
      return startsWith(buf, start, end, ROWS_EXAMINED_NAME)
        ? Known.RowsExamined
        : startsWith(buf, start, end, ROWS_AFFECTED_NAME)
          ? Known.RowsAffected
          : Known.None
    case 6:
      return startsWith(buf, start, end, SCHEMA_NAME) ? Known.Schema : Known.None
    default:
      return Known.None
  }
}

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i)

/**
 * A plain decimal (`0.000057`, `12`) read from bytes; NaN when it is not one. Digits are gathered into one
 * integer and divided once by a power of ten, which rounds exactly as `Number(text)` does.
 */
const decimalBytes = (buf: Uint8Array, start: number, end: number): number => {
  let mantissa = 0
  let digits = 0
  let fraction = -1
  for (let i = start; i < end; i++) {
    const c = buf[i]!
    if (c >= 48 && c <= 57) {
      mantissa = mantissa * 10 + (c - 48)
      digits++
      if (fraction >= 0) fraction++
    } else if (c === 46 && fraction < 0) {
      fraction = 0
    } else {
      return slowNumber(buf, start, end)
    }
  }
  if (digits === 0 || digits > 15) return slowNumber(buf, start, end)
  return fraction > 0 ? mantissa / POWERS_OF_TEN[fraction]! : mantissa
}

const orZero = (value: number): number => (Number.isNaN(value) ? 0 : value)

const slowNumber = (buf: Uint8Array, start: number, end: number): number => {
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1")
  return DECIMAL.test(text) ? Number(text) : Number.NaN
}

/** `root[root] @ localhost [127.0.0.1]  Id:    12` → its parts, as pt-query-digest splits them. */
export const parseUserHost = (
  value: string
): { userHost: string; user: string | undefined; host: string | undefined; ip: string | undefined; id: number | undefined } => {
  let rest = value.trim()
  let id: number | undefined
  // MySQL's `  Id:    12` at the end, found without a regular expression: this runs for every entry.
  const idAt = rest.lastIndexOf("Id:")
  if (idAt > 0 && (rest.charCodeAt(idAt - 1) === 32 || rest.charCodeAt(idAt - 1) === 9)) {
    const digits = rest.slice(idAt + 3).trim()
    if (/^\d+$/.test(digits)) {
      id = Number(digits)
      rest = rest.slice(0, idAt).trimEnd()
    }
  }
  const at = rest.indexOf("@")
  if (at < 0) return { userHost: rest, user: rest === "" ? undefined : rest, host: undefined, ip: undefined, id }
  const left = rest.slice(0, at).trim()
  const right = rest.slice(at + 1).trim()
  // `user[priv_user]`, or `[SQL_SLAVE]` when the thread has no user name.
  const bracket = left.indexOf("[")
  const user = left.startsWith("[") ? left : bracket >= 0 ? left.slice(0, bracket) : left
  const open = right.lastIndexOf("[")
  const close = right.lastIndexOf("]")
  const hostPart = open >= 0 ? right.slice(0, open).trim() : right
  const ip = open >= 0 && close > open ? right.slice(open + 1, close).trim() : undefined
  return {
    userHost: rest,
    user: user === "" ? undefined : user,
    host: hostPart !== "" ? hostPart : ip !== undefined && ip !== "" ? ip : undefined,
    ip: ip === "" ? undefined : ip,
    id
  }
}

/** Light mode hands every event this one empty object: nothing writes attributes then. */
const NO_ATTRIBUTES: Record<string, AttributeValue> = {}

/** Makes `spare`, an entry that has been handed on, the pending entry at `offset` (see SlowLogParser.spare). */
const reusePending = (spare: Pending, offset: number, attributes: Record<string, AttributeValue>): Pending => {
  spare.offset = offset
  spare.timeStart = -1
  spare.timeEnd = -1
  spare.seen = Boundary.None
  spare.time = undefined
  spare.timestamp = undefined
  spare.gotSet = false
  spare.userHost = undefined
  spare.user = undefined
  spare.host = undefined
  spare.ip = undefined
  spare.threadId = undefined
  spare.useDb = undefined
  spare.schema = undefined
  spare.hasSchema = false
  spare.queryTime = undefined
  spare.lockTime = 0
  spare.rowsSent = 0
  spare.rowsExamined = 0
  spare.rowsAffected = undefined
  spare.attributes = attributes
  spare.explain = undefined
  spare.bodyStart = -1
  spare.admin = false
  spare.overflowSql = undefined
  return spare
}

const newPending = (offset: number, attributes: Record<string, AttributeValue>): Pending => ({
  offset,
  timeStart: -1,
  timeEnd: -1,
  seen: Boundary.None,
  time: undefined,
  timestamp: undefined,
  gotSet: false,
  userHost: undefined,
  user: undefined,
  host: undefined,
  ip: undefined,
  threadId: undefined,
  useDb: undefined,
  schema: undefined,
  hasSchema: false,
  queryTime: undefined,
  lockTime: 0,
  rowsSent: 0,
  rowsExamined: 0,
  rowsAffected: undefined,
  attributes,
  explain: undefined,
  bodyStart: -1,
  admin: false,
  overflowSql: undefined
})

const EMPTY = Buffer.alloc(0)

/** The one mutable object behind `SlowLogEntryView`. */
class EntryView implements SlowLogEntryView {
  offset = 0
  end = 0
  time: string | undefined = undefined
  lastTime: string | undefined = undefined
  timestamp: number | undefined = undefined
  userHost: string | undefined = undefined
  user: string | undefined = undefined
  host: string | undefined = undefined
  ip: string | undefined = undefined
  threadId: number | undefined = undefined
  db: string | undefined = undefined
  useDb: string | undefined = undefined
  queryTime = 0
  lockTime = 0
  rowsSent = 0
  rowsExamined = 0
  rowsAffected: number | undefined = undefined
  attributes: Readonly<Record<string, AttributeValue>> = NO_ATTRIBUTES
  admin = false
  truncatedBytes = 0
  bytes: Buffer = EMPTY
  sqlStart = 0
  sqlEnd = 0

  sql(): string {
    return this.bytes.toString("utf8", this.sqlStart, this.sqlEnd)
  }
}

/**
 * Shares the decoded text of short, recurring header values (users, hosts, databases): fewer strings to make
 * and collect, and equal values that hash once when they are counted.
 */
class Interner {
  private readonly table = new Map<number, string>()

  get(buf: Buffer, start: number, end: number): string {
    const length = end - start
    if (length > 64) return buf.toString("utf8", start, end)
    let hash = 0x811c9dc5 ^ length
    for (let i = start; i < end; i++) {
      const c = buf[i]!
      if (c >= 0x80) return buf.toString("utf8", start, end)
      hash = Math.imul(hash ^ c, 0x01000193)
    }
    const known = this.table.get(hash)
    if (known !== undefined && known.length === length) {
      let same = true
      for (let i = 0; i < length; i++) {
        if (known.charCodeAt(i) !== buf[start + i]) {
          same = false
          break
        }
      }
      if (same) return known
    }
    const text = buf.toString("latin1", start, end)
    if (this.table.size < 4096) this.table.set(hash, text)
    return text
  }
}

export class SlowLogParser {
  private buf: Buffer = Buffer.allocUnsafe(1 << 16)
  /** Absolute offset of `buf[0]`. */
  private base: number
  /** Valid bytes in `buf`. */
  private len = 0
  /** Relative offset of the next line to look at. */
  private pos = 0
  /** Inside a line whose bytes are not kept (a statement line past the size limit); skip to its end. */
  private skippingLine = false
  /** The last line seen ended with `;` (before an optional CR): a header-shaped `#` line after it starts an entry. */
  private afterSemicolon = false
  /** The last byte of a line being skipped, kept in case its newline comes in the next chunk. */
  private skippedLast = 0
  private state: State = State.Outside
  private pending: Pending | undefined
  /**
   * The last entry handed to `onEntry`, whose fields the view has taken: the next entry reuses it. A new object
   * of 25 fields per entry was half of what a digest allocated, and the garbage grew the young generation.
   */
  private spare: Pending | undefined
  /** Start of a run of bytes that belong to no entry, not yet reported. */
  private garbageStart = -1
  private garbageEnd = -1
  private lastTime: string | undefined
  private lastDb: string | undefined
  private readonly maxStatementBytes: number
  private readonly keepAttributes: boolean
  private readonly interner = new Interner()
  private readonly queryTimeValues = new Float64Array(4)
  private out: ParseOutput = { events: [], problems: [] }
  private readonly onEntry: ((entry: SlowLogEntryView) => void) | undefined
  private readonly view = new EntryView()

  constructor(options: SlowLogParserOptions = {}) {
    this.onEntry = options.onEntry
    this.base = options.startOffset ?? 0
    this.maxStatementBytes = Math.max(1, options.maxStatementBytes ?? DEFAULT_MAX_STATEMENT)
    this.keepAttributes = options.light !== true
    this.lastDb = options.initialDb
  }

  /**
   * Where a new parser must start to reproduce everything this one has not handed out yet: the start of the
   * pending entry, of unreported stray bytes, or of the current line.
   */
  get resumeOffset(): number {
    let at = this.base + this.pos
    if (this.pending !== undefined) at = Math.min(at, this.pending.offset)
    if (this.garbageStart >= 0) at = Math.min(at, this.garbageStart)
    return at
  }

  /** Absolute offset just past the last byte pushed. */
  get bytesSeen(): number {
    return this.base + this.len
  }

  /** The database an entry after the last complete one inherits; store it with `resumeOffset` to resume exactly. */
  get currentDb(): string | undefined {
    return this.lastDb
  }

  /** Whether an entry has begun but is not known to be complete yet. */
  get hasPendingEvent(): boolean {
    return this.pending !== undefined
  }

  /** Parses `chunk` and returns what became complete. The chunk is copied: the caller may reuse it. */
  push(chunk: Uint8Array): ParseOutput {
    this.append(chunk)
    this.scan(false)
    this.limitPending()
    return this.take()
  }

  /** The input is complete: the last line and the pending entry are complete as they are. */
  finish(): ParseOutput {
    this.scan(true)
    this.endPending(this.base + this.len)
    this.flushGarbage()
    return this.take()
  }

  private take(): ParseOutput {
    const out = this.out
    this.out = { events: [], problems: [] }
    return out
  }

  private append(chunk: Uint8Array): void {
    // Drop what no one needs any more, then make room; growth doubles, so a long entry costs linear copying.
    const keep = Math.max(0, Math.min(this.keepFrom() - this.base, this.pos))
    if (keep > 0) {
      this.buf.copyWithin(0, keep, this.len)
      this.len -= keep
      this.pos -= keep
      this.base += keep
    }
    if (this.len + chunk.length > this.buf.length) {
      let size = this.buf.length * 2
      while (size < this.len + chunk.length) size *= 2
      const grown = Buffer.allocUnsafe(size)
      this.buf.copy(grown, 0, 0, this.len)
      this.buf = grown
    }
    this.buf.set(chunk, this.len)
    this.len += chunk.length
  }

  /** Absolute offset of the first byte still needed. */
  private keepFrom(): number {
    let at = this.base + this.pos
    const pending = this.pending
    if (pending !== undefined) {
      at = Math.min(at, pending.overflowSql === undefined ? pending.offset : at)
    }
    return at
  }

  private scan(final: boolean): void {
    const buf = this.buf
    const len = this.len
    while (this.pos < len) {
      if (this.skippingLine) {
        const nl = buf.indexOf(NL, this.pos)
        if (nl < 0 || nl >= len) {
          if (len > this.pos) this.skippedLast = buf[len - 1]!
          this.pos = len
          return
        }
        let last = nl > this.pos ? buf[nl - 1]! : this.skippedLast
        if (last === CR) last = nl - 1 > this.pos ? buf[nl - 2]! : 0
        this.afterSemicolon = last === 0x3b
        this.skippingLine = false
        this.pos = nl + 1
        continue
      }
      const start = this.pos
      let nl = buf.indexOf(NL, start)
      if (nl >= len) nl = -1
      if (nl < 0) {
        if (!final) {
          // A partial line stays in the buffer, unless it is statement text too long to keep (see limitPending).
          return
        }
        this.line(start, len, len)
        this.pos = len
        return
      }
      this.line(start, nl, nl + 1)
      this.pos = nl + 1
    }
  }

  /** Handles the line [start, end) (relative, without its newline); `next` is where the following line starts. */
  private line(start: number, end: number, next: number): void {
    const buf = this.buf
    let contentEnd = end
    if (contentEnd > start && buf[contentEnd - 1] === CR) contentEnd--
    const absStart = this.base + start
    const first = buf[start]
    const afterSemicolon = this.afterSemicolon
    this.afterSemicolon = contentEnd > start && buf[contentEnd - 1] === 0x3b

    if (first === HASH) {
      // The third byte tells the three headers apart (and from the other `#` lines) before any comparison.
      const third = buf[start + 2]
      const boundary =
        third === 0x54 && startsWith(buf, start, contentEnd, TIME)
          ? Boundary.Time
          : third === 0x55 && (startsWith(buf, start, contentEnd, USER_HOST) || startsWith(buf, start, contentEnd, USER))
            ? Boundary.UserHost
            : third === 0x51 && startsWith(buf, start, contentEnd, QUERY_TIME)
              ? Boundary.QueryTime
              : Boundary.None
      if (boundary !== Boundary.None) {
        const pending = this.pending
        // Every server writes `# Time:` first: whatever came before it belongs to another entry. (The digest's
        // threads rely on it: a part may begin at any `# Time:` line.)
        if (pending !== undefined && (this.state === State.Body || pending.seen >= boundary || boundary === Boundary.Time)) {
          this.endPending(absStart)
        }
        if (this.pending === undefined) {
          this.flushGarbage()
          this.pending = this.nextPending(absStart)
          this.state = State.Header
        }
        this.header(this.pending!, start, contentEnd, boundary)
        return
      }
      // pt-query-digest's record separator `;\n#`, for the header lines it would read as such; and such a line
      // between entries is a header whose entry has no `# User@Host:` line.
      if (
        (this.state === State.Outside || (this.state === State.Body && afterSemicolon)) &&
        isHeaderShaped(buf, start, contentEnd)
      ) {
        this.endPending(absStart)
        this.flushGarbage()
        this.pending = this.nextPending(absStart)
        this.state = State.Header
        this.header(this.pending, start, contentEnd, Boundary.None)
        return
      }
    }

    if (this.isBanner(start, contentEnd)) {
      this.endPending(absStart)
      this.flushGarbage()
      this.state = State.Outside
      // The restarted server has logged no database yet.
      this.lastDb = undefined
      return
    }

    switch (this.state) {
      case State.Outside: {
        // Blank lines between entries are harmless; anything else is not part of a slow log.
        if (contentEnd > start) {
          if (this.garbageStart < 0) this.garbageStart = absStart
          this.garbageEnd = this.base + next
        } else if (this.garbageStart >= 0) {
          this.garbageEnd = this.base + next
        }
        return
      }
      case State.Header: {
        const pending = this.pending!
        if (first === HASH) {
          if (startsWith(buf, start, contentEnd, ADMIN)) {
            pending.admin = true
            pending.bodyStart = absStart
            this.state = State.Body
            return
          }
          this.header(pending, start, contentEnd, Boundary.None)
          return
        }
        if (!pending.gotSet && startsWith(buf, start, contentEnd, SET_TIMESTAMP) && buf[contentEnd - 1] === 0x3b) {
          // The common `SET timestamp=1715363076;`, without making a string.
          const value = decimalBytes(buf, start + SET_TIMESTAMP.length, contentEnd - 1)
          if (!Number.isNaN(value)) {
            pending.gotSet = true
            pending.timestamp = value
            return
          }
        }
        if (!pending.gotSet && startsWith(buf, start, contentEnd, SET) && contentEnd - start < MAX_HEADER_LINE) {
          const text = buf.toString("utf8", start + 4, contentEnd)
          if (/^(?:timestamp|insert_id|last_insert_id)\s*=/.test(text)) {
            pending.gotSet = true
            this.setLine(pending, text)
            return
          }
        }
        if (pending.useDb === undefined && startsWith(buf, start, contentEnd, USE) && contentEnd - start < MAX_HEADER_LINE) {
          const text = buf.toString("utf8", start + 4, contentEnd)
          const semicolon = text.indexOf(";")
          const name = (semicolon >= 0 ? text.slice(0, semicolon) : text).trim()
          if (name !== "") {
            pending.useDb = unquote(name)
            return
          }
        }
        pending.bodyStart = absStart
        this.state = State.Body
        return
      }
      case State.Body:
        return
    }
  }

  private isBanner(start: number, end: number): boolean {
    const length = end - start
    if (length < 8 || length > CLASSIFY_BYTES) return false
    const buf = this.buf
    const first = buf[start]!
    if (first === 0x54 /* T */) {
      const text = buf.toString("latin1", start, Math.min(end, start + 200))
      if (BANNER_PORT.test(text) || BANNER_COLUMNS.test(text)) return true
    }
    // Only the first banner line ends this way, so the cost of the test stays off ordinary statement lines.
    if (first !== HASH && (endsWith(buf, start, end, STARTED_WITH) || endsWith(buf, start, end, EMBEDDED_LIBRARY))) {
      return BANNER_VERSION.test(buf.toString("utf8", start, end))
    }
    return false
  }

  private header(pending: Pending, start: number, end: number, boundary: Boundary): void {
    if (boundary > pending.seen) pending.seen = boundary
    const buf = this.buf
    switch (boundary) {
      case Boundary.Time: {
        // Light mode: decoded at the end of the entry, and only if it has no SET timestamp. A line long enough
        // to carry MySQL 5.0's `# User@Host:` too is read now.
        if (!this.keepAttributes && end - start <= 48) {
          pending.timeStart = this.base + start
          pending.timeEnd = this.base + end
          return
        }
        let value = buf.toString("utf8", start + TIME.length, Math.min(end, start + MAX_HEADER_LINE)).trim()
        // MySQL 5.0 sometimes wrote `# Time: 071218 11:48:27 # User@Host: …` on one line.
        const userHostAt = value.indexOf("# User@Host:")
        if (userHostAt >= 0) {
          this.userHost(pending, value.slice(userHostAt + USER_HOST.length))
          if (pending.seen < Boundary.UserHost) pending.seen = Boundary.UserHost
          value = value.slice(0, userHostAt).trim()
        }
        pending.time = value
        this.lastTime = value
        return
      }
      case Boundary.UserHost: {
        const name = buf[start + 6] === 0x40 ? USER_HOST.length : USER.length
        this.userHostBytes(pending, start + name, Math.min(end, start + MAX_HEADER_LINE))
        return
      }
      default:
        break
    }
    if (boundary === Boundary.QueryTime && this.queryTimeLine(pending, start, end)) return
    if (!this.keepAttributes && boundary === Boundary.None && !this.mayHoldKnown(start, end)) return
    if (startsWith(buf, start, end, EXPLAIN)) {
      if (pending.explain === undefined) pending.explain = []
      pending.explain.push(buf.toString("utf8", start + EXPLAIN.length, Math.min(end, start + MAX_HEADER_LINE)).trim())
      return
    }
    this.pairs(pending, start, Math.min(end, start + MAX_HEADER_LINE))
  }

  /**
   * The `# Query_time: … Lock_time: … Rows_sent: … Rows_examined: …` line every entry has, read field by field
   * in the order every server writes them; false (and nothing read) when the line is laid out otherwise. What
   * follows the four fields (MySQL's log_slow_extra, Percona Server's Rows_affected) is read as pairs, or,
   * without attributes, searched for the fields slowq has.
   */
  private queryTimeLine(pending: Pending, start: number, end: number): boolean {
    const buf = this.buf
    let i = start + QUERY_TIME.length
    const values = this.queryTimeValues
    for (let f = 0; f < 4; f++) {
      if (f > 0) {
        // `Name:` after at least one space.
        const name = QUERY_TIME_FIELDS[f]!
        if (i >= end || buf[i] !== 32) return false
        while (i < end && buf[i] === 32) i++
        if (!startsWith(buf, i, end, name) || buf[i + name.length] !== 58) return false
        i += name.length + 1
      }
      while (i < end && buf[i] === 32) i++
      const valueStart = i
      while (i < end && buf[i] !== 32) i++
      const value = decimalBytes(buf, valueStart, i)
      if (Number.isNaN(value)) return false
      values[f] = value
    }
    pending.queryTime = values[0]!
    pending.lockTime = values[1]!
    pending.rowsSent = values[2]!
    pending.rowsExamined = values[3]!
    if (i >= end) return true
    if (this.keepAttributes) {
      this.pairs(pending, i, Math.min(end, start + MAX_HEADER_LINE))
      return true
    }
    // Searched in place: a subarray per entry to search was a sixth of the parse's garbage.
    for (const name of TRAILING_FIELDS) {
      const at = indexOfBytes(buf, name, i, end)
      if (at < 0) continue
      let valueStart = at + name.length
      while (valueStart < end && buf[valueStart] === 32) valueStart++
      let valueEnd = valueStart
      while (valueEnd < end && buf[valueEnd] !== 32) valueEnd++
      // `Schema:  Rows_affected: 0`: an empty value followed by the next name.
      if (isNameBytes(buf, valueStart, valueEnd)) valueEnd = valueStart
      this.attribute(pending, at + 1, at + name.length - 1, valueStart, valueEnd)
    }
    return true
  }

  /**
   * Without attributes only the lines that begin with a field slowq has (`# Thread_id:`, `# Schema:`,
   * `# Rows_affected:`) matter besides `# Query_time:`; every server writes those first on their line, and the
   * long InnoDB, Tmp_table and Filesort lines of Percona Server need no reading at all.
   */
  private mayHoldKnown(start: number, end: number): boolean {
    const buf = this.buf
    let i = start
    while (i < end && (buf[i] === HASH || buf[i] === 32 || buf[i] === 9)) i++
    let j = i
    while (j < end && isNameChar(buf[j]!)) j++
    return knownAttribute(buf, i, j) !== Known.None
  }

  /**
   * The `Name: value` pairs of a header line (`# Thread_id: 11  Schema: test  QC_hit: No`), read from the bytes
   * in one pass: the figures every entry has are parsed without making strings. A value that itself looks like
   * `Name:` means the value was empty (MariaDB writes `Schema:   QC_hit: No` without a default database). Free
   * text such as `# No InnoDB statistics available for this query` yields nothing.
   */
  private pairs(pending: Pending, start: number, end: number): void {
    const buf = this.buf
    let nameStart = -1
    let nameEnd = -1
    let tokenStart = -1
    // One pass over the bytes; the sentinel position `end` closes the last token.
    for (let i = start; i <= end; i++) {
      const c = i < end ? buf[i]! : 32
      if (c !== 32 && c !== 9 && c !== HASH) {
        if (tokenStart < 0) tokenStart = i
        continue
      }
      if (c === HASH && tokenStart >= 0) continue
      if (tokenStart < 0) continue
      if (buf[i - 1] === 58 && isNameBytes(buf, tokenStart, i)) {
        if (nameStart >= 0) this.attribute(pending, nameStart, nameEnd, tokenStart, tokenStart)
        nameStart = tokenStart
        nameEnd = i - 1
      } else if (nameStart >= 0) {
        this.attribute(pending, nameStart, nameEnd, tokenStart, i)
        nameStart = -1
      }
      tokenStart = -1
    }
    if (nameStart >= 0) this.attribute(pending, nameStart, nameEnd, end, end)
  }

  /**
   * `root[root] @ localhost [127.0.0.1]  Id:    12` read from the bytes [start, end), split as `parseUserHost`
   * splits it; the short names are interned, since the same few accounts recur on every entry.
   */
  private userHostBytes(pending: Pending, start: number, end: number): void {
    const buf = this.buf
    let s = start
    let e = end
    while (s < e && (buf[s] === 32 || buf[s] === 9)) s++
    while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--
    // MySQL's trailing `Id: N`.
    let digits = e
    while (digits > s && buf[digits - 1]! >= 48 && buf[digits - 1]! <= 57) digits--
    if (digits < e) {
      let k = digits
      while (k > s && buf[k - 1] === 32) k--
      if (k - 3 > s && buf[k - 3] === 0x49 && buf[k - 2] === 0x64 && buf[k - 1] === 58 && (buf[k - 4] === 32 || buf[k - 4] === 9)) {
        pending.threadId = decimalBytes(buf, digits, e)
        e = k - 3
        while (e > s && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--
      }
    }
    if (this.keepAttributes) pending.userHost = buf.toString("utf8", s, e)
    // The user: `name[priv]` up to its `[`, or a bracketed `[SQL_SLAVE]` whole.
    let userEnd = s
    if (buf[s] === 0x5b) {
      while (userEnd < e && buf[userEnd] !== 0x5d) userEnd++
      if (userEnd < e) userEnd++
    } else {
      while (userEnd < e && buf[userEnd] !== 0x5b && buf[userEnd] !== 0x40) userEnd++
    }
    let userTo = userEnd
    while (userTo > s && buf[userTo - 1] === 32) userTo--
    pending.user = userTo > s ? this.interner.get(buf, s, userTo) : undefined
    let at = userEnd
    while (at < e && buf[at] !== 0x40) at++
    if (at >= e) {
      pending.host = undefined
      pending.ip = undefined
      return
    }
    let hostStart = at + 1
    if (buf[hostStart] === 32) hostStart++
    let hostEnd = hostStart
    // `u[u] @ [1.2.3.4]` (one space, no host name) as well as `u[u] @  [1.2.3.4]`.
    if (buf[hostStart] !== 0x5b) while (hostEnd < e && buf[hostEnd] !== 32 && buf[hostEnd] !== 9) hostEnd++
    let open = hostEnd
    while (open < e && buf[open] !== 0x5b) open++
    let close = open
    while (close < e && buf[close] !== 0x5d) close++
    const ip = open < e && close < e && close > open + 1 ? this.interner.get(buf, open + 1, close) : undefined
    pending.ip = ip
    pending.host = hostEnd > hostStart ? this.interner.get(buf, hostStart, hostEnd) : ip
  }

  private userHost(pending: Pending, value: string): void {
    const parsed = parseUserHost(value)
    pending.userHost = parsed.userHost
    pending.user = parsed.user
    pending.host = parsed.host
    pending.ip = parsed.ip
    if (parsed.id !== undefined) pending.threadId = parsed.id
  }

  private attribute(pending: Pending, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number): void {
    const buf = this.buf
    const known = knownAttribute(buf, nameStart, nameEnd)
    switch (known) {
      case Known.QueryTime: {
        // An unreadable Query_time leaves the entry without one: it is reported as incomplete.
        const value = decimalBytes(buf, valueStart, valueEnd)
        if (!Number.isNaN(value)) pending.queryTime = value
        return
      }
      case Known.LockTime:
        pending.lockTime = orZero(decimalBytes(buf, valueStart, valueEnd))
        return
      case Known.RowsSent:
        pending.rowsSent = orZero(decimalBytes(buf, valueStart, valueEnd))
        return
      case Known.RowsExamined:
        pending.rowsExamined = orZero(decimalBytes(buf, valueStart, valueEnd))
        return
      case Known.RowsAffected:
        pending.rowsAffected = orZero(decimalBytes(buf, valueStart, valueEnd))
        return
      case Known.ThreadId:
        pending.threadId = orZero(decimalBytes(buf, valueStart, valueEnd))
        return
      case Known.Schema:
        pending.hasSchema = true
        if (valueEnd > valueStart) pending.schema = unquote(this.interner.get(buf, valueStart, valueEnd))
        return
      default:
        if (this.keepAttributes) {
          pending.attributes[buf.toString("latin1", nameStart, nameEnd)] = attributeValue(buf.toString("utf8", valueStart, valueEnd))
        }
    }
  }

  private setLine(pending: Pending, text: string): void {
    const body = text.endsWith(";") ? text.slice(0, -1) : text
    for (const part of body.split(",")) {
      const eq = part.indexOf("=")
      if (eq < 0) continue
      const name = part.slice(0, eq).trim()
      const value = part.slice(eq + 1).trim()
      if (name === "timestamp") {
        const seconds = Number(value)
        if (value !== "" && Number.isFinite(seconds)) pending.timestamp = seconds
      } else if (this.keepAttributes && (name === "insert_id" || name === "last_insert_id")) {
        pending.attributes[name] = attributeValue(value)
      }
    }
  }

  private nextPending(offset: number): Pending {
    const attributes = this.keepAttributes ? {} : NO_ATTRIBUTES
    const spare = this.spare
    if (spare === undefined) return newPending(offset, attributes)
    this.spare = undefined
    return reusePending(spare, offset, attributes)
  }

  /** Completes the pending entry, which ends at absolute offset `end`. */
  private endPending(end: number): void {
    const pending = this.pending
    this.pending = undefined
    this.state = State.Outside
    if (pending === undefined) return
    if (pending.timeStart >= 0 && pending.timestamp === undefined) {
      // Light mode, and the time is needed after all. The entry's bytes are still in the buffer.
      const from = pending.timeStart - this.base
      if (from >= 0) pending.time = this.buf.toString("utf8", from + TIME.length, pending.timeEnd - this.base).trim()
    }
    if (pending.time !== undefined) this.lastTime = pending.time
    if (pending.queryTime === undefined || pending.bodyStart < 0) {
      this.out.problems.push({
        kind: "incomplete_event",
        offset: pending.offset,
        length: end - pending.offset,
        message: `skipped an incomplete entry at byte ${pending.offset} (${end - pending.offset} bytes): ${
          pending.queryTime === undefined ? "it has no readable # Query_time" : "it has no statement"
        }`
      })
      return
    }
    // The statement: bytes of the buffer, or the kept beginning of one that outgrew the limit.
    let bytes = this.buf
    let from = pending.bodyStart - this.base
    let to = end - this.base
    let truncatedBytes = 0
    if (pending.overflowSql !== undefined) {
      bytes = Buffer.from(pending.overflowSql, "utf8")
      from = 0
      to = bytes.length
      truncatedBytes = end - pending.bodyStart - this.maxStatementBytes
      this.out.problems.push({
        kind: "statement_truncated",
        offset: pending.offset,
        length: end - pending.offset,
        message: `the statement of the entry at byte ${pending.offset} is ${end - pending.bodyStart} bytes long; kept its first ${this.maxStatementBytes} bytes`
      })
    } else if (to > from && bytes[to - 1] === NL) {
      // The server ends every statement with ";\n"; what is left is the statement as the client sent it. Blank
      // lines after it (the end of a file edited by hand, logs put together) are not part of it either: pt-query-
      // digest drops the `;` of `;\n\n` at the end of its input, and slowq of any `;` with only blank space after it.
      let t = to - 1
      while (t > from && (bytes[t - 1] === NL || bytes[t - 1] === CR || bytes[t - 1] === 32 || bytes[t - 1] === 9)) t--
      if (t > from && bytes[t - 1] === 0x3b) to = t - 1
      else {
        to--
        if (to > from && bytes[to - 1] === CR) to--
      }
    }
    // `# administrator command: Quit`: the statement is the text after `# `.
    if (pending.admin) from = Math.min(from + 2, to)
    const attributes = pending.attributes
    if (pending.explain !== undefined) attributes.explain = pending.explain.join("\n")
    // MySQL writes `use db;` only when the database differs from the last one it logged in this file, so an
    // entry with neither `use` nor a Schema field runs in the database of the entry before it (as
    // pt-query-digest's --inherit-attributes db assumes). A server restart (banner) or a new file starts afresh.
    const db = pending.useDb ?? pending.schema ?? (pending.hasSchema ? undefined : this.lastDb)
    this.lastDb = db
    const onEntry = this.onEntry
    if (onEntry !== undefined) {
      const view = this.view
      view.offset = pending.offset
      view.end = end
      view.time = pending.time
      view.lastTime = pending.time ?? this.lastTime
      view.timestamp = pending.timestamp
      view.userHost = pending.userHost
      view.user = pending.user
      view.host = pending.host
      view.ip = pending.ip
      view.threadId = pending.threadId
      view.db = db
      view.useDb = pending.useDb
      view.queryTime = pending.queryTime
      view.lockTime = pending.lockTime
      view.rowsSent = pending.rowsSent
      view.rowsExamined = pending.rowsExamined
      view.rowsAffected = pending.rowsAffected
      view.attributes = attributes
      view.admin = pending.admin
      view.truncatedBytes = truncatedBytes
      view.bytes = bytes
      view.sqlStart = from
      view.sqlEnd = to
      onEntry(view)
      view.bytes = EMPTY
      this.spare = pending
      return
    }
    this.out.events.push({
      offset: pending.offset,
      end,
      time: pending.time,
      lastTime: pending.time ?? this.lastTime,
      timestamp: pending.timestamp,
      userHost: pending.userHost,
      user: pending.user,
      host: pending.host,
      ip: pending.ip,
      threadId: pending.threadId,
      db,
      useDb: pending.useDb,
      queryTime: pending.queryTime,
      lockTime: pending.lockTime,
      rowsSent: pending.rowsSent,
      rowsExamined: pending.rowsExamined,
      rowsAffected: pending.rowsAffected,
      attributes,
      sql: bytes.toString("utf8", from, to),
      admin: pending.admin,
      truncatedBytes
    })
  }

  private flushGarbage(): void {
    if (this.garbageStart < 0) return
    const offset = this.garbageStart
    const length = this.garbageEnd - this.garbageStart
    this.garbageStart = -1
    this.garbageEnd = -1
    this.out.problems.push({
      kind: "not_an_event",
      offset,
      length,
      message: `skipped ${length} bytes at byte ${offset} that are not slow log entries`
    })
  }

  /**
   * Keeps memory bounded: a statement past `maxStatementBytes` is decoded up to the limit and its further bytes
   * are not kept; a stray run of bytes is reported as it goes rather than kept whole.
   */
  private limitPending(): void {
    const pending = this.pending
    if (this.garbageStart >= 0 && this.garbageEnd - this.garbageStart > CLASSIFY_BYTES * 256) this.flushGarbage()
    if (pending === undefined) {
      // A huge partial line outside any entry (binary garbage without newlines) is stray bytes too.
      if (this.len - this.pos > CLASSIFY_BYTES && this.state === State.Outside) {
        if (this.garbageStart < 0) this.garbageStart = this.base + this.pos
        this.garbageEnd = this.base + this.len
        this.pos = this.len
        this.skippingLine = true
      }
      return
    }
    const partial = this.len - this.pos
    const partialIsHeader = partial > 0 && this.buf[this.pos] === HASH && !startsWith(this.buf, this.pos, this.len, ADMIN)
    if (this.state === State.Header && partial > CLASSIFY_BYTES) {
      if (!partialIsHeader) {
        // A long first statement line (a 50 MB INSERT on one line): the statement has begun.
        if (this.buf[this.pos] === HASH) pending.admin = true
        pending.bodyStart = this.base + this.pos
        this.state = State.Body
      } else if (partial > MAX_HEADER_LINE) {
        // A header line longer than any server writes: the entry is damaged. Skip it like stray bytes.
        const from = pending.offset
        this.pending = undefined
        this.state = State.Outside
        this.out.problems.push({
          kind: "incomplete_event",
          offset: from,
          length: this.base + this.len - from,
          message: `skipped a damaged entry at byte ${from}: a header line is longer than ${MAX_HEADER_LINE} bytes`
        })
        this.pos = this.len
        this.skippingLine = true
        return
      }
    }
    if (this.state !== State.Body) return
    if (pending.overflowSql === undefined) {
      const kept = this.base + this.len - pending.bodyStart
      if (kept <= this.maxStatementBytes) return
      const from = pending.bodyStart - this.base
      pending.overflowSql = this.buf.toString("utf8", from, from + this.maxStatementBytes)
    }
    // Past the limit only line starts matter (a header ends the statement): a partial statement line longer
    // than what classifying it needs is not kept. A partial `#` line may be the next header: it is kept.
    if (partial > CLASSIFY_BYTES && (!partialIsHeader || partial > MAX_HEADER_LINE)) {
      this.pos = this.len
      this.skippingLine = true
    }
  }
}

/** Parses a whole input at once; for tests and small files. */
export const parseSlowLog = (input: Uint8Array | string, options: SlowLogParserOptions = {}): ParseOutput => {
  const parser = new SlowLogParser(options)
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input
  const first = parser.push(bytes)
  const last = parser.finish()
  return { events: [...first.events, ...last.events], problems: [...first.problems, ...last.problems] }
}
