/** Where one part of a window starts and ends: two SQL expressions, usually parameters (`$3::timestamptz`). */
export interface RollupRange {
  readonly from: string
  readonly until: string
}

/**
 * A window's rollup rows, read at the coarsest grain that fits it: the minutes before its first whole hour, its whole
 * hours, and the minutes after its last (QueryReads' windowRanges and SeriesReads' seriesRanges say where each part
 * starts and ends). Each part selects `columns(time)`, `time` being its table's time column (`minute` or `hour`), and
 * keeps the rows of its range that also meet `where` (conditions joined by AND, which may name an outer query's row).
 */
export const rollupRangesSql = (
  columns: (time: "minute" | "hour") => string,
  ranges: { readonly head: RollupRange; readonly hours: RollupRange; readonly tail: RollupRange },
  where?: string
): string => {
  const part = (time: "minute" | "hour", range: RollupRange) =>
    `SELECT ${columns(time)} FROM slowq_rollups_${time}
    WHERE ${where === undefined ? "" : `${where} AND `}${time} >= ${range.from} AND ${time} < ${range.until}`
  return [part("minute", ranges.head), part("hour", ranges.hours), part("minute", ranges.tail)].join("\n    UNION ALL\n    ")
}

/** `$n::timestamptz` … for the positional parameters of a range. */
export const rangeParams = (from: number, until: number): RollupRange => ({
  from: `$${from}::timestamptz`,
  until: `$${until}::timestamptz`
})
