import {
  fingerprintMysqlBytes,
  fingerprintResultText,
  mysqlQueryIdOfBytes
} from "../../../src/fingerprint/MysqlFingerprint.js"
import type { SlowLogEntryView } from "../SlowLogParser.js"
import { Stat, type StatData } from "./Stats.js"

/** The attributes a digest aggregates, by pt-query-digest's names. */
export const ATTRIBUTES = ["Query_time", "Lock_time", "Rows_sent", "Rows_examined", "Rows_affected", "Query_length"] as const
export type Attribute = (typeof ATTRIBUTES)[number]

/** Times are summed in whole microseconds (see Stat), counts in units. */
const scaleOf = (attribute: Attribute): number => (attribute === "Query_time" || attribute === "Lock_time" ? 1e6 : 1)

/** Distinct values kept per class for databases, users and hosts; the rest are counted together. */
const MAX_DISTINCT = 1000

/**
 * The database of the entries at the start of a part of the input that inherit it from the entry before (MySQL
 * writes `use db;` only when it changes): a part read on its own does not know it. The value is no database
 * name (names cannot contain NUL); merging the parts in order replaces it with the database the part before
 * left in effect.
 */
export const INHERITED_DB = "\u0000inherited"

export interface ValueCountsData {
  readonly counts: ReadonlyArray<readonly [string, number]>
  readonly others: number
}

/**
 * Counts of string values, bounded. Consecutive entries of a class often share their database, user or host,
 * so a run of one value is counted in a field and reaches the map when another value comes.
 */
export class ValueCounts {
  private readonly counts = new Map<string, number>()
  private overflow = 0
  private runValue: string | undefined
  private runTimes = 0

  add(value: string, times = 1): void {
    if (value === this.runValue) {
      this.runTimes += times
      return
    }
    this.flush()
    this.runValue = value
    this.runTimes = times
  }

  private flush(): void {
    const value = this.runValue
    if (value === undefined) return
    this.runValue = undefined
    const count = this.counts.get(value)
    if (count !== undefined) this.counts.set(value, count + this.runTimes)
    else if (this.counts.size < MAX_DISTINCT) this.counts.set(value, this.runTimes)
    else this.overflow += this.runTimes
  }

  /** Occurrences of values beyond the first MAX_DISTINCT distinct ones. */
  get others(): number {
    this.flush()
    return this.overflow
  }

  toData(): ValueCountsData {
    this.flush()
    return { counts: [...this.counts], others: this.overflow }
  }

  /** Adds the counts of a later part of the input; `rename` maps its values (undefined: not counted). */
  merge(data: ValueCountsData, rename: (value: string) => string | undefined = (value) => value): void {
    for (const [value, times] of data.counts) {
      const name = rename(value)
      if (name !== undefined) this.add(name, times)
    }
    this.overflow += data.others
  }

  /** By count, then by value, as pt lists them. */
  sorted(): Array<readonly [string, number]> {
    this.flush()
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
    Query_time: new Stat(scaleOf("Query_time")),
    Lock_time: new Stat(scaleOf("Lock_time")),
    Rows_sent: new Stat(scaleOf("Rows_sent")),
    Rows_examined: new Stat(scaleOf("Rows_examined")),
    Query_length: new Stat(scaleOf("Query_length"))
  }
  tsMin = Number.POSITIVE_INFINITY
  tsMax = Number.NEGATIVE_INFINITY
  readonly databases = new ValueCounts()
  readonly users = new ValueCounts()
  readonly hosts = new ValueCounts()
  sample: Sample | undefined
  /** The largest entry offset, pt's tie-breaker between classes that rank equal. */
  maxOffset = -1
  /** The next class whose fingerprint bytes hash the same (see DigestAggregator.byHash). */
  sameHash: ClassStats | undefined

  constructor(
    readonly fingerprint: string,
    readonly id: string,
    /** The fingerprint as pt-query-digest sees it: raw bytes, which `fingerprint` shows decoded. */
    readonly fingerprintBytes: Uint8Array = new Uint8Array(0)
  ) {
    this.fingerprintWords = wordView(fingerprintBytes)
  }

  /** `fingerprintBytes` a word at a time, for the comparison every entry of the class makes. */
  readonly fingerprintWords: Int32Array | undefined

  /** The statistics of `attribute`, begun empty when the class has none yet (Rows_affected). */
  statOf(attribute: Attribute): Stat {
    let stat = this.stats[attribute]
    if (stat === undefined) {
      stat = new Stat(scaleOf(attribute))
      this.stats[attribute] = stat
    }
    return stat
  }
}

/** A class's figures as plain data, to pass between threads. */
export interface ClassData {
  readonly fingerprint: string
  readonly id: string
  readonly fingerprintBytes: Uint8Array
  readonly count: number
  readonly stats: Partial<Record<Attribute, StatData>>
  readonly tsMin: number
  readonly tsMax: number
  readonly databases: ValueCountsData
  readonly users: ValueCountsData
  readonly hosts: ValueCountsData
  readonly sample: Sample | undefined
  readonly maxOffset: number
}

export interface AggregatorData {
  readonly classes: ReadonlyArray<ClassData>
}

const classData = (cls: ClassStats): ClassData => {
  const stats: Partial<Record<Attribute, StatData>> = {}
  for (const attribute of ATTRIBUTES) {
    const stat = cls.stats[attribute]
    if (stat !== undefined) stats[attribute] = stat.toData()
  }
  return {
    fingerprint: cls.fingerprint,
    id: cls.id,
    fingerprintBytes: cls.fingerprintBytes,
    count: cls.count,
    stats,
    tsMin: cls.tsMin,
    tsMax: cls.tsMax,
    databases: cls.databases.toData(),
    users: cls.users.toData(),
    hosts: cls.hosts.toData(),
    sample: cls.sample,
    maxOffset: cls.maxOffset
  }
}

/** Adds `data`, the same class's figures from a later part of the input, to `cls`. */
const mergeClass = (cls: ClassStats, data: ClassData, inheritedDb: string | undefined): void => {
  const db = (value: string | undefined) => (value === INHERITED_DB ? inheritedDb : value)
  cls.count += data.count
  for (const attribute of ATTRIBUTES) {
    const stat = data.stats[attribute]
    if (stat !== undefined) cls.statOf(attribute).merge(stat)
  }
  if (data.tsMin < cls.tsMin) cls.tsMin = data.tsMin
  if (data.tsMax > cls.tsMax) cls.tsMax = data.tsMax
  cls.databases.merge(data.databases, db)
  cls.users.merge(data.users)
  cls.hosts.merge(data.hosts)
  // The later part's entries come after: of equally slow samples, its one is the last.
  const sample = data.sample
  if (sample !== undefined && (cls.sample === undefined || sample.queryTime >= cls.sample.queryTime)) {
    cls.sample = { ...sample, db: db(sample.db) }
  }
  if (data.maxOffset > cls.maxOffset) cls.maxOffset = data.maxOffset
}

/**
 * Reading a fingerprint four bytes at a time quarters the work of hashing and comparing it, which is done for
 * every entry. Fingerprints sit at the start of their own ArrayBuffers (the fingerprinter's working buffers and
 * the copies classes keep); on a little-endian host a word view reads them as the byte-wise fallback does.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** The whole words of `bytes` as a view, when it starts its buffer on a little-endian host. */
const wordView = (bytes: Uint8Array): Int32Array | undefined =>
  LITTLE_ENDIAN && bytes.byteOffset === 0 ? new Int32Array(bytes.buffer, 0, bytes.buffer.byteLength >> 2) : undefined

/** Views of the fingerprinter's two working buffers (results alternate between them), made again when they grow. */
let scratchWords: Int32Array | undefined
let otherScratchWords: Int32Array | undefined
const wordsOfScratch = (bytes: Uint8Array): Int32Array | undefined => {
  if (bytes.byteOffset !== 0) return undefined
  if (scratchWords?.buffer === bytes.buffer) return scratchWords
  const previous = scratchWords
  scratchWords = otherScratchWords?.buffer === bytes.buffer ? otherScratchWords : wordView(bytes)
  otherScratchWords = previous
  return scratchWords
}

const wordAt = (bytes: Uint8Array, i: number): number => bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)

/** An FNV-1a-style hash of bytes[0, length), a word at a time: a key for the classes map that needs no string. */
const hashBytes = (bytes: Uint8Array, words: Int32Array | undefined, length: number): number => {
  let hash = 0x811c9dc5 ^ length
  const wordCount = length >> 2
  if (words !== undefined) for (let w = 0; w < wordCount; w++) hash = Math.imul(hash ^ words[w]!, 0x01000193)
  else for (let w = 0; w < wordCount; w++) hash = Math.imul(hash ^ wordAt(bytes, w << 2), 0x01000193)
  for (let i = wordCount << 2; i < length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193)
  return hash
}

const isFingerprint = (cls: ClassStats, bytes: Uint8Array, words: Int32Array | undefined, length: number): boolean => {
  const known = cls.fingerprintBytes
  if (known.length !== length) return false
  const knownWords = cls.fingerprintWords
  let i = 0
  if (words !== undefined && knownWords !== undefined) {
    const wordCount = length >> 2
    for (let w = 0; w < wordCount; w++) if (knownWords[w] !== words[w]) return false
    i = wordCount << 2
  }
  for (; i < length; i++) if (known[i] !== bytes[i]) return false
  return true
}

/**
 * Groups entries by fingerprint and keeps, per class, pt-query-digest's bounded statistics. Memory
 * grows with the number of classes, not with the number of entries. An entry is fingerprinted from its bytes
 * and its class found by a hash of the fingerprint's bytes, so that no string is made per entry: only a class's
 * first entry and a new worst sample decode text.
 */
export class DigestAggregator {
  /** By Query ID. */
  readonly classes = new Map<string, ClassStats>()
  /** Entries added, here and by merges. */
  entries = 0
  /** By `hashBytes` of the fingerprint; classes whose hashes collide are chained through `sameHash`. */
  private readonly byHash = new Map<number, ClassStats>()

  add(entry: SlowLogEntryView, startUs: number | undefined, file: string): void {
    const cls = this.classFor(entry)
    this.entries++
    this.addTo(cls, entry, startUs)
    // The worst sample is the slowest entry; of equally slow ones, the last (pt compares with >=).
    if (entry.offset > cls.maxOffset) cls.maxOffset = entry.offset
    if (cls.sample === undefined || entry.queryTime >= cls.sample.queryTime) {
      cls.sample = { sql: entry.sql(), file, offset: entry.offset, db: entry.db, startUs, queryTime: entry.queryTime }
    }
  }

  private classFor(entry: SlowLogEntryView): ClassStats {
    const result = fingerprintMysqlBytes(entry.bytes, entry.sqlStart, entry.sqlEnd)
    const bytes = result.buffer
    const length = result.length
    const words = wordsOfScratch(bytes)
    const hash = hashBytes(bytes, words, length)
    const first = this.byHash.get(hash)
    for (let cls = first; cls !== undefined; cls = cls.sameHash) {
      if (isFingerprint(cls, bytes, words, length)) return cls
    }
    const id = mysqlQueryIdOfBytes(bytes, 0, length)
    // A copy: the result's buffer is reused by the next call (and Buffer#slice would not copy).
    const cls = new ClassStats(fingerprintResultText(result), id, Uint8Array.prototype.slice.call(bytes, 0, length))
    cls.sameHash = first
    this.byHash.set(hash, cls)
    this.classes.set(id, cls)
    return cls
  }

  /** The figures as plain data, for the thread that merges the parts of an input. */
  toData(): AggregatorData {
    return { classes: [...this.classes.values()].map(classData) }
  }

  /**
   * Adds the figures of the part of the input that follows what this aggregator has seen; `inheritedDb` is the
   * database in effect where that part begins (what its `INHERITED_DB` stands for).
   */
  merge(data: AggregatorData, inheritedDb: string | undefined): void {
    for (const other of data.classes) {
      let cls = this.classes.get(other.id)
      if (cls === undefined) {
        cls = new ClassStats(other.fingerprint, other.id, other.fingerprintBytes)
        const hash = hashBytes(cls.fingerprintBytes, cls.fingerprintWords, cls.fingerprintBytes.length)
        cls.sameHash = this.byHash.get(hash)
        this.byHash.set(hash, cls)
        this.classes.set(other.id, cls)
      }
      mergeClass(cls, other, inheritedDb)
      this.entries += other.count
    }
  }

  /**
   * The figures of every entry together, summed from the classes when asked for: exact (counts, extremes,
   * buckets and sums are all whole or kept whole), and it spares every entry a second set of updates.
   */
  get global(): ClassStats {
    const global = new ClassStats("", "")
    for (const cls of this.classes.values()) {
      global.count += cls.count
      for (const attribute of ATTRIBUTES) {
        const stat = cls.stats[attribute]
        if (stat !== undefined) global.statOf(attribute).merge(stat.toData())
      }
      if (cls.tsMin < global.tsMin) global.tsMin = cls.tsMin
      if (cls.tsMax > global.tsMax) global.tsMax = cls.tsMax
    }
    return global
  }

  /** Adds the entry's figures to its class. */
  private addTo(cls: ClassStats, entry: SlowLogEntryView, startUs: number | undefined): void {
    cls.count++
    const c = cls.stats
    c.Query_time!.add(entry.queryTime)
    c.Lock_time!.add(entry.lockTime)
    c.Rows_sent!.add(entry.rowsSent)
    c.Rows_examined!.add(entry.rowsExamined)
    if (entry.rowsAffected !== undefined) cls.statOf("Rows_affected").add(entry.rowsAffected)
    // pt's Query_length counts bytes.
    c.Query_length!.add(entry.sqlEnd - entry.sqlStart)
    if (startUs !== undefined) {
      if (startUs < cls.tsMin) cls.tsMin = startUs
      if (startUs > cls.tsMax) cls.tsMax = startUs
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
