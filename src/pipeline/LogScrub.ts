import { Effect, FiberRef, FiberRefs, HashMap, Logger } from "effect"

/**
 * The sample policy, applied to the log: while a batch goes through the stages and into the store, every log line
 * its fibers write (a stage's warning quoting a database error, a refused event's reason) has the batch's literals
 * taken out when the pipeline's policy is not raw. The runtime sets the scrub per batch (`withLogScrub`); the
 * process's logger applies it (`scrubbingLogger`), so that no stage has to know the policy.
 */
export const currentLogScrub = FiberRef.unsafeMake<((text: string) => string) | undefined>(undefined)

/** `effect` with its log lines scrubbed by `scrub`. */
export const withLogScrub =
  (scrub: (text: string) => string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.locally(effect, currentLogScrub, scrub)

const scrubValue = (scrub: (text: string) => string, value: unknown): unknown =>
  typeof value === "string" ? scrub(value) : Array.isArray(value) ? value.map((item) => scrubValue(scrub, item)) : value

/** `logger`, handed the message and the annotations' text scrubbed when the fiber logs under `withLogScrub`. */
export const scrubbingLogger = <O>(logger: Logger.Logger<unknown, O>): Logger.Logger<unknown, O> =>
  Logger.make((options) => {
    const scrub = FiberRefs.getOrDefault(options.context, currentLogScrub)
    if (scrub === undefined) return logger.log(options)
    return logger.log({
      ...options,
      message: scrubValue(scrub, options.message),
      annotations: HashMap.map(options.annotations, (value) => scrubValue(scrub, value))
    })
  })
