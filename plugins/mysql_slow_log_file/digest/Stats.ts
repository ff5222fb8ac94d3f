/**
 * pt-query-digest's bounded statistics of one attribute (EventAggregator): count, sum, min and max exactly, and a
 * histogram of 1000 logarithmic buckets (each 5% wider than the one before, from 1 µs) from which the 95th
 * percentile, the median and the standard deviation are estimated. Reproducing its buckets rather than using
 * another sketch keeps those figures equal to pt-query-digest's. Memory is bounded: a histogram keeps the counts of the
 * range of buckets its values fell in, never more than 1000.
 */

const BUCKET_SIZE = 1.05
const BASE_LOG = Math.log(BUCKET_SIZE)
const BASE_OFFSET = Math.abs(1 - Math.log(0.000001) / BASE_LOG)
export const NUM_BUCKETS = 1000
const MIN_BUCKET = 0.000001

const logBucket = (value: number): number => {
  if (value < MIN_BUCKET) return 0
  const index = Math.trunc(BASE_OFFSET + Math.log(value) / BASE_LOG)
  return Math.min(index, NUM_BUCKETS - 1)
}

/** Buckets of the small whole numbers that row counts and statement lengths nearly always are. */
const INTEGER_BUCKETS = Uint16Array.from({ length: 1 << 16 }, (_, i) => logBucket(i))

/** The bucket of `value`, as pt's `bucket_idx`. */
export const bucketIndex = (value: number): number =>
  value >= 0 && value < 65536 && (value | 0) === value ? INTEGER_BUCKETS[value]! : logBucket(value)

/** The value a bucket stands for, as pt's `bucket_value`. */
const bucketValue = (bucket: number): number => (bucket === 0 ? 0 : BUCKET_SIZE ** (bucket - 1) * MIN_BUCKET)
const BUCKET_VALUES = Float64Array.from({ length: NUM_BUCKETS }, (_, i) => bucketValue(i))

/** For the query time histogram: which power of ten (1 µs … 10 s+) each bucket falls in, as pt's `buckets_of`. */
const DECADE_OF_BUCKET = (() => {
  const decades = new Uint8Array(NUM_BUCKETS).fill(7)
  let start = 0
  for (let decade = 0; decade < 7; decade++) {
    const next = bucketIndex(10 ** (decade + 1) * MIN_BUCKET)
    for (let b = start; b < next; b++) decades[b] = decade
    start = next
  }
  return decades
})()

const EMPTY = new Uint32Array(0)

/**
 * Buckets a window takes beyond the one that widened it, on that side: values of a class cluster, and a window
 * that fits them is rarely widened again.
 */
const WINDOW_SLACK = 8

/** A `Stat` as plain data, to pass between threads: its non-empty buckets and their counts. */
export interface StatData {
  readonly cnt: number
  /** The sum in units of 1/scale (see Stat). */
  readonly total: number
  readonly min: number
  readonly max: number
  readonly buckets: Uint16Array
  readonly counts: Uint32Array
}

export class Stat {
  cnt = 0
  /**
   * The sum in units of 1/scale (microseconds for times, which the slow log gives to the microsecond): a whole
   * number, so it is exact and the same in whatever order values are added, by one thread or by several.
   */
  private total = 0
  min = Number.POSITIVE_INFINITY
  max = Number.NEGATIVE_INFINITY
  /**
   * The counts of buckets `low` to `low + counts.length - 1`, a window that widens to take each new bucket. The
   * values of one class and attribute span a few dozen buckets, not 1000: 1,000 counters for each of six
   * attributes of every busy class were 4 KB × 6 per class and most of a digest's memory (8 MB of 11 in each
   * thread for 500 classes), a window is a few hundred bytes. Counting stays one bounds check and one increment.
   */
  private low = 0
  private counts: Uint32Array = EMPTY

  constructor(readonly scale = 1) {}

  get sum(): number {
    return this.total / this.scale
  }

  add(value: number): void {
    const bucket = bucketIndex(value)
    this.cnt++
    this.total += Math.round(value * this.scale)
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
    const i = bucket - this.low
    if (i >= 0 && i < this.counts.length) this.counts[i]!++
    else this.addCount(bucket, 1)
  }

  /** Adds the figures of another part of the input, as if its values had been added here. */
  merge(data: StatData): void {
    this.cnt += data.cnt
    this.total += data.total
    if (data.min < this.min) this.min = data.min
    if (data.max > this.max) this.max = data.max
    for (let i = 0; i < data.buckets.length; i++) this.addCount(data.buckets[i]!, data.counts[i]!)
  }

  private addCount(bucket: number, count: number): void {
    let i = bucket - this.low
    if (i < 0 || i >= this.counts.length) {
      this.widen(bucket)
      i = bucket - this.low
    }
    this.counts[i]! += count
  }

  /** Makes the window take `bucket`, with some slack on the side it grows (and more as it grows again). */
  private widen(bucket: number): void {
    const old = this.counts
    const slack = WINDOW_SLACK + (old.length >> 2)
    let low: number
    let high: number
    if (old.length === 0) {
      low = Math.max(0, bucket - WINDOW_SLACK)
      high = Math.min(NUM_BUCKETS, bucket + 1 + WINDOW_SLACK)
    } else {
      low = bucket < this.low ? Math.max(0, bucket - slack) : this.low
      const oldHigh = this.low + old.length
      high = bucket >= oldHigh ? Math.min(NUM_BUCKETS, bucket + 1 + slack) : oldHigh
    }
    const counts = new Uint32Array(high - low)
    if (old.length > 0) counts.set(old, this.low - low)
    this.low = low
    this.counts = counts
  }

  toData(): StatData {
    const window = this.counts
    let used = 0
    for (let i = 0; i < window.length; i++) if (window[i] !== 0) used++
    const buckets = new Uint16Array(used)
    const counts = new Uint32Array(used)
    for (let i = 0, j = 0; i < window.length; i++) {
      if (window[i] === 0) continue
      buckets[j] = this.low + i
      counts[j] = window[i]!
      j++
    }
    return { cnt: this.cnt, total: this.total, min: this.min, max: this.max, buckets, counts }
  }

  /** The 1000 bucket counts, made when asked for (a report asks for those of the classes it shows). */
  buckets(): Uint32Array {
    const dense = new Uint32Array(NUM_BUCKETS)
    dense.set(this.counts, this.low)
    return dense
  }

  get avg(): number {
    return this.cnt === 0 ? 0 : this.sum / this.cnt
  }
}

export interface Metrics {
  readonly pct95: number
  readonly stddev: number
  readonly median: number
}

/** pt's `_calc_metrics`: the 95th percentile, standard deviation and median from the buckets. */
export const metricsOf = (stat: Stat): Metrics => {
  const n = stat.cnt
  if (n === 0) return { pct95: 0, stddev: 0, median: 0 }
  if (n === 1 || stat.max === stat.min) return { pct95: stat.max, stddev: 0, median: stat.max }
  if (n === 2) {
    const mean = (stat.min + stat.max) / 2
    return { pct95: stat.max, stddev: Math.sqrt((stat.max - mean) ** 2 * 2), median: mean }
  }
  const cutoff = n >= 10 ? Math.trunc(n * 0.95) : n
  const topValues = n - cutoff
  const mid = Math.trunc(n / 2)
  const buckets = stat.buckets()
  let totalLeft = n
  let sumExcl = 0
  let sum = 0
  let sumsq = 0
  let median = 0
  let prev = NUM_BUCKETS - 1
  let bucket95 = 0
  for (let bucket = NUM_BUCKETS - 1; bucket >= 0; bucket--) {
    const count = buckets[bucket]!
    if (count === 0) continue
    totalLeft -= count
    sumExcl += count
    if (bucket95 === 0 && sumExcl > topValues) bucket95 = bucket
    if (median === 0 && totalLeft <= mid) {
      median =
        cutoff % 2 !== 0 || count > 1 ? BUCKET_VALUES[bucket]! : (BUCKET_VALUES[bucket]! + BUCKET_VALUES[prev]!) / 2
    }
    sum += count * BUCKET_VALUES[bucket]!
    sumsq += count * BUCKET_VALUES[bucket]! ** 2
    prev = bucket
  }
  const variance = sumsq / n - (sum / n) ** 2
  const maxStddev = (stat.max - stat.min) / 2
  const stddev = Math.min(variance > 0 ? Math.sqrt(variance) : 0, maxStddev)
  return { pct95: BUCKET_VALUES[bucket95]!, stddev, median }
}

/** Counts per power of ten: 1us, 10us, 100us, 1ms, 10ms, 100ms, 1s, 10s+ (pt's query time distribution). */
export const decadeHistogram = (stat: Stat): ReadonlyArray<number> => {
  const decades = [0, 0, 0, 0, 0, 0, 0, 0]
  const buckets = stat.buckets()
  // pt skips bucket 0 (values under 1 µs).
  for (let b = 1; b < NUM_BUCKETS; b++) decades[DECADE_OF_BUCKET[b]!]! += buckets[b]!
  return decades
}
