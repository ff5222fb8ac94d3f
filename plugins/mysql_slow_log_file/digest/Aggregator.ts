import type { SlowLogEvent } from "../SlowLogParser.js"
import { bucketIndex, Stat } from "./Stats.js"

/** The attributes a digest aggregates, by pt-query-digest's names. */
export const ATTRIBUTES = ["Query_time", "Lock_time", "Rows_sent", "Rows_examined", "Rows_affected", "Query_length"] as const
export type Attribute = (typeof ATTRIBUTES)[number]

const SHORT_TEXT = 48

/** Distinct values kept per class for databases, users and hosts; the rest are counted together. */
const MAX_DISTINCT = 1000

/** Counts of string values, bounded. */
export class ValueCounts {
  readonly counts = new Map<string, number>()
  /** Occurrences of values beyond the first MAX_DISTINCT distinct ones. */
  others = 0

  add(value: string): void {
    const count = this.counts.get(value)
    if (count !== undefined) this.counts.set(value, count + 1)
    else if (this.counts.size < MAX_DISTINCT) this.counts.set(value, 1)
    else this.others++
  }

  /** By count, then by value, as pt lists them. */
  sorted(): Array<readonly [string, number]> {
    return [...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }
}

export interface Sample {
  readonly sql: string
  readonly file: string
  readonly offset: number
  readonly db: string | undefined
  readonly startUs: number | undefined
  readonly queryTime: number
}

export class ClassStats {
  count = 0
  readonly stats: Partial<Record<Attribute, Stat>> = {
    Query_time: new Stat(),
    Lock_time: new Stat(),
    Rows_sent: new Stat(),
    Rows_examined: new Stat(),
    Query_length: new Stat()
  }
  tsMin = Number.POSITIVE_INFINITY
  tsMax = Number.NEGATIVE_INFINITY
  readonly databases = new ValueCounts()
  readonly users = new ValueCounts()
  readonly hosts = new ValueCounts()
  sample: Sample | undefined
  /** The largest entry offset, pt's tie-breaker between classes that rank equal. */
  maxOffset = -1

  constructor(
    readonly fingerprint: string,
    readonly id: string
  ) {}
}

/** One event as the digest sees it. */
export interface DigestEvent {
  readonly entry: SlowLogEvent
  readonly startUs: number | undefined
  readonly file: string
}

/**
 * Groups events by fingerprint and keeps, per class and overall, pt-query-digest's bounded statistics. Memory
 * grows with the number of classes, not with the number of events.
 */
export class DigestAggregator {
  readonly classes = new Map<string, ClassStats>()
  readonly global = new ClassStats("", "")
  private readonly cache = new Map<string, { readonly fingerprint: string; readonly id: string }>()

  constructor(
    private readonly fingerprint: (sql: string) => string,
    private readonly queryId: (fingerprint: string) => string
  ) {}

  add(event: DigestEvent): void {
    const entry = event.entry
    const cls = this.classFor(entry.sql)
    const global = this.global
    this.addTo(cls, global, event)
    // The worst sample is the slowest entry; of equally slow ones, the last (pt compares with >=).
    if (entry.offset > cls.maxOffset) cls.maxOffset = entry.offset
    if (cls.sample === undefined || entry.queryTime >= cls.sample.queryTime) {
      cls.sample = {
        sql: entry.sql,
        file: event.file,
        offset: entry.offset,
        db: entry.db,
        startUs: event.startUs,
        queryTime: entry.queryTime
      }
    }
  }

  private classFor(sql: string): ClassStats {
    // Short texts repeat verbatim (`COMMIT`, `SELECT 1`, administrator commands): fingerprint each once. Longer
    // ones nearly always differ in their literals; hashing them for a cache would cost more than it saves.
    let known = sql.length <= SHORT_TEXT ? this.cache.get(sql) : undefined
    if (known === undefined) {
      const fingerprint = this.fingerprint(sql)
      const existing = this.classes.get(fingerprint)
      known = { fingerprint, id: existing?.id ?? this.queryId(fingerprint) }
      if (sql.length <= SHORT_TEXT && this.cache.size < 10_000) this.cache.set(sql, known)
    }
    let cls = this.classes.get(known.fingerprint)
    if (cls === undefined) {
      cls = new ClassStats(known.fingerprint, known.id)
      this.classes.set(known.fingerprint, cls)
    }
    return cls
  }

  /** Adds the event's figures to its class and to the overall ones, each value's bucket computed once. */
  private addTo(cls: ClassStats, global: ClassStats, event: DigestEvent): void {
    const entry = event.entry
    cls.count++
    global.count++
    const c = cls.stats
    const g = global.stats
    let bucket = bucketIndex(entry.queryTime)
    c.Query_time!.addIn(entry.queryTime, bucket)
    g.Query_time!.addIn(entry.queryTime, bucket)
    bucket = bucketIndex(entry.lockTime)
    c.Lock_time!.addIn(entry.lockTime, bucket)
    g.Lock_time!.addIn(entry.lockTime, bucket)
    bucket = bucketIndex(entry.rowsSent)
    c.Rows_sent!.addIn(entry.rowsSent, bucket)
    g.Rows_sent!.addIn(entry.rowsSent, bucket)
    bucket = bucketIndex(entry.rowsExamined)
    c.Rows_examined!.addIn(entry.rowsExamined, bucket)
    g.Rows_examined!.addIn(entry.rowsExamined, bucket)
    if (entry.rowsAffected !== undefined) {
      bucket = bucketIndex(entry.rowsAffected)
      if (c.Rows_affected === undefined) c.Rows_affected = new Stat()
      if (g.Rows_affected === undefined) g.Rows_affected = new Stat()
      c.Rows_affected.addIn(entry.rowsAffected, bucket)
      g.Rows_affected.addIn(entry.rowsAffected, bucket)
    }
    const length = entry.sql.length
    bucket = bucketIndex(length)
    c.Query_length!.addIn(length, bucket)
    g.Query_length!.addIn(length, bucket)
    const startUs = event.startUs
    if (startUs !== undefined) {
      if (startUs < cls.tsMin) cls.tsMin = startUs
      if (startUs > cls.tsMax) cls.tsMax = startUs
      if (startUs < global.tsMin) global.tsMin = startUs
      if (startUs > global.tsMax) global.tsMax = startUs
    }
    // Databases, users and hosts are reported per class only (as pt-query-digest does).
    if (entry.db !== undefined) cls.databases.add(entry.db)
    if (entry.user !== undefined) cls.users.add(entry.user)
    if (entry.host !== undefined) cls.hosts.add(entry.host)
  }
}

export type OrderFunction = "sum" | "min" | "max" | "cnt"

export interface OrderBy {
  readonly attribute: Attribute
  readonly fn: OrderFunction
}

/** `Query_time:sum` → its parts; undefined when it names no attribute the digest keeps. */
export const parseOrderBy = (text: string): OrderBy | undefined => {
  const [attribute, fn] = text.split(":")
  const found = ATTRIBUTES.find((a) => a.toLowerCase() === (attribute ?? "").toLowerCase())
  const f = (fn ?? "sum").toLowerCase()
  if (found === undefined || (f !== "sum" && f !== "min" && f !== "max" && f !== "cnt")) return undefined
  return { attribute: found, fn: f }
}

const orderValue = (cls: ClassStats, order: OrderBy): number | undefined => {
  const stat = cls.stats[order.attribute]
  if (stat === undefined || stat.cnt === 0) return undefined
  return order.fn === "cnt" ? stat.cnt : stat[order.fn]
}

/**
 * The classes ranked as pt-query-digest ranks them: by the order value, highest first; equal values by the
 * largest entry offset compared as text (pt's tie-breaker). Classes without the attribute are not ranked.
 */
export const rankClasses = (classes: Iterable<ClassStats>, order: OrderBy): Array<ClassStats> => {
  const ranked: Array<{ readonly cls: ClassStats; readonly value: number; readonly tie: string }> = []
  for (const cls of classes) {
    const value = orderValue(cls, order)
    if (value !== undefined) ranked.push({ cls, value, tie: String(cls.maxOffset) })
  }
  ranked.sort((a, b) => b.value - a.value || (b.tie < a.tie ? -1 : b.tie > a.tie ? 1 : 0))
  return ranked.map((r) => r.cls)
}
