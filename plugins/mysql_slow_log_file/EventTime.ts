import { utcOffsetMinutes } from "../../src/plugin/LogFileConfig.js"
import type { SlowLogEvent } from "./SlowLogParser.js"


const ISO = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:?\d\d)?$/
const OLD = /^(\d\d)(\d\d)(\d\d)\s+(\d{1,2}):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/

export interface ParsedTime {
  readonly epochUs: number
  /** The text named its zone (MySQL 5.7+'s `Z` or `+01:00`); otherwise it was read in the configured zone. */
  readonly zoned: boolean
}

/**
 * A `# Time:` value in epoch microseconds: MySQL 5.7+'s ISO form (`2024-05-10T17:44:36.400424Z`, or with an
 * offset under log_timestamps = SYSTEM) or the older `240515 17:02:39` of MariaDB and MySQL 5.6, which is the
 * server's local time and is read at `localOffsetMinutes`.
 */
export const parseLogTime = (text: string, localOffsetMinutes: number): ParsedTime | undefined => {
  const iso = ISO.exec(text)
  const old = iso === null ? OLD.exec(text) : null
  const parts = iso ?? old
  if (parts === null) return undefined
  const year = iso !== null ? Number(parts[1]) : 2000 + Number(parts[1])
  const ms = Date.UTC(year, Number(parts[2]) - 1, Number(parts[3]), Number(parts[4]), Number(parts[5]), Number(parts[6]))
  if (Number.isNaN(ms)) return undefined
  const micros = Number((parts[7] ?? "").padEnd(6, "0"))
  const zone = iso !== null ? iso[8] : undefined
  const offset = zone === undefined ? localOffsetMinutes : (utcOffsetMinutes(zone) ?? 0)
  return { epochUs: (ms - offset * 60_000) * 1000 + micros, zoned: zone !== undefined }
}

/**
 * When the statement started, in epoch microseconds, from the most precise source the entry has:
 * log_slow_extra's `Start:`; else `SET timestamp=` (the start, in whole seconds) refined to microseconds by
 * MySQL's zoned `# Time:`, which is the statement's end; else a `# Time:` line alone.
 */
export const eventStartMicros = (
  event: Pick<SlowLogEvent, "attributes" | "queryTime" | "timestamp" | "time" | "lastTime">,
  localOffsetMinutes: number
): number | undefined => {
  const start = event.attributes.Start
  if (typeof start === "string") {
    const parsed = parseLogTime(start, localOffsetMinutes)
    if (parsed !== undefined) return parsed.epochUs
  }
  const queryUs = Math.round(event.queryTime * 1e6)
  if (event.timestamp !== undefined) {
    if (event.time !== undefined) {
      const end = parseLogTime(event.time, localOffsetMinutes)
      if (end?.zoned) {
        const candidate = end.epochUs - queryUs
        if (Math.floor(candidate / 1e6) === Math.floor(event.timestamp)) return candidate
      }
    }
    return Math.round(event.timestamp * 1e6)
  }
  const time = event.time ?? event.lastTime
  if (time === undefined) return undefined
  const parsed = parseLogTime(time, localOffsetMinutes)
  if (parsed === undefined) return undefined
  // A zoned `# Time:` is when the statement ended; an old-style one is only the second it was logged in.
  return event.time !== undefined && parsed.zoned ? parsed.epochUs - queryUs : parsed.epochUs
}
