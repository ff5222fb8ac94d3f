import { Duration, Effect, Schedule } from "effect"

/** Re-runs `check` until it returns true, every 250 ms, failing after `timeout`. */
export const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, timeout: Duration.DurationInput = "60 seconds") =>
  check.pipe(
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail("not yet" as const))),
    Effect.retry(Schedule.spaced("250 millis")),
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`timed out after ${Duration.format(Duration.decode(timeout))} waiting for ${what}`) })
  )
