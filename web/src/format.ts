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
