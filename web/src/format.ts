// Figures as a DBA reads them: durations in the unit that fits, counts with separators, times in UTC.

const count = new Intl.NumberFormat("en-US")
const short = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 })

export const formatCount = (n: number) => count.format(n)

export const formatMs = (ms: number | null): string => {
  if (ms === null) return "–"
  if (ms < 1) return `${short.format(ms * 1000)} µs`
  if (ms < 1000) return `${short.format(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${short.format(s)} s`
  if (s < 3600) return `${short.format(s / 60)} min`
  return `${short.format(s / 3600)} h`
}

/** `2024-01-15 00:00:12 UTC` */
export const formatTime = (iso: string) => `${iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "")} UTC`

const percent = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })

/** A row's share of a whole as a percentage, one decimal: `12.3%`, `<0.1%` for a share too small to show. */
export const formatShare = (part: number, whole: number): string => {
  if (whole <= 0) return "–"
  const share = (part / whole) * 100
  return share > 0 && share < 0.05 ? "<0.1%" : `${percent.format(share)}%`
}
