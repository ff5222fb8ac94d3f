import { Duration, Option } from "effect"

const unitMillis: ReadonlyMap<string, number> = new Map([
  ["ms", 1],
  ["s", 1_000],
  ["m", 60_000],
  ["h", 3_600_000],
  ["d", 86_400_000]
])

const isDigit = (c: string | undefined): c is string => c !== undefined && c >= "0" && c <= "9"
const isLetter = (c: string | undefined): c is string => c !== undefined && c >= "a" && c <= "z"

/**
 * Parses the YAML duration form `500ms`, `30s`, `5m`, `1h`, `1d`, or a sum such as `1h30m`.
 * None for anything else, including zero: a schedule of zero would spin.
 * `Duration.decode` is not used because it also takes `"30 seconds"` and bare numbers, which the config does not allow.
 */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  let i = 0
  let total = 0
  if (text.length === 0) return Option.none()
  while (i < text.length) {
    const digitsStart = i
    while (isDigit(text[i])) i++
    if (i === digitsStart) return Option.none()
    const amount = Number(text.slice(digitsStart, i))
    const unitStart = i
    while (isLetter(text[i])) i++
    const millis = unitMillis.get(text.slice(unitStart, i))
    if (millis === undefined || !Number.isSafeInteger(amount)) return Option.none()
    total += amount * millis
  }
  return total > 0 && Number.isSafeInteger(total) ? Option.some(Duration.millis(total)) : Option.none()
}
