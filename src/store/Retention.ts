import { Config, ConfigError, Duration, Effect, Either, Option } from "effect"
import { parseDuration } from "../domain/Duration.js"

/**
 * How long the store keeps what it holds, set in one place (the environment) and documented in the README:
 * raw events (with their text) the shortest, minute rollups longer, hour rollups longest. Per-query all-time totals
 * (slowq_queries), plans and findings are never pruned.
 */
export interface RetentionSettings {
  readonly events: Duration.Duration
  readonly minutes: Duration.Duration
  readonly hours: Duration.Duration
  /** How often the daemon prunes. */
  readonly every: Duration.Duration
}

export const defaultRetention: RetentionSettings = {
  events: Duration.days(7),
  minutes: Duration.days(30),
  hours: Duration.days(400),
  every: Duration.minutes(10)
}

const durationVariable = (name: string, fallback: Duration.Duration) =>
  Config.string(name).pipe(
    Config.option,
    Config.mapOrFail((text) =>
      Option.match(text, {
        onNone: () => Either.right(fallback),
        onSome: (value) =>
          Option.match(parseDuration(value.trim()), {
            onNone: () =>
              Either.left(
                ConfigError.InvalidData(
                  [],
                  `${name}: expected a duration such as 12h, 7d or 400d, actual ${JSON.stringify(value)}`
                )
              ),
            onSome: Either.right
          })
      })
    )
  )

/**
 * `SLOWQ_RETAIN_EVENTS` (7d), `SLOWQ_RETAIN_MINUTES` (30d), `SLOWQ_RETAIN_HOURS` (400d), `SLOWQ_PRUNE_EVERY` (10m).
 * Refused when a finer level is kept longer than a coarser one: a window beyond the minutes would be read from
 * hours that are already gone.
 */
export const loadRetention = Effect.gen(function* () {
  const settings: RetentionSettings = {
    events: yield* durationVariable("SLOWQ_RETAIN_EVENTS", defaultRetention.events),
    minutes: yield* durationVariable("SLOWQ_RETAIN_MINUTES", defaultRetention.minutes),
    hours: yield* durationVariable("SLOWQ_RETAIN_HOURS", defaultRetention.hours),
    every: yield* durationVariable("SLOWQ_PRUNE_EVERY", defaultRetention.every)
  }
  if (Duration.greaterThan(settings.minutes, settings.hours)) {
    return yield* Effect.fail(
      `SLOWQ_RETAIN_MINUTES (${Duration.format(settings.minutes)}) is longer than SLOWQ_RETAIN_HOURS (${Duration.format(settings.hours)}); keep hours at least as long as minutes`
    )
  }
  return settings
}).pipe(Effect.mapError((error) => (typeof error === "string" ? error : String(error))))
