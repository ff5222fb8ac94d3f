import { Clock, Context, Effect, Layer, Metric, Ref } from "effect"
import { concurrentReads } from "../store/StoreClient.js"
import { OverloadedError } from "./Api.js"
import { retryAfterSeconds } from "./Admission.js"
import { requestsRefusedTotal, storeReadsInFlight } from "./Prometheus.js"

/**
 * How many API requests may wait for a store read slot. With a slot busy for a few milliseconds a full queue is
 * worked off in well under a second; beyond it a request is refused at once (503 and Retry-After) instead of holding
 * a socket, a fiber and its memory while the store falls further behind. Before this bound 1,000 connections left
 * 1,000 requests queued, p50 at 4.4 s and the daemon's RSS at 1.4 GB.
 */
export const queuedReads = 64

/** An overload is logged at most this often, with the count of refusals since the last line. */
const overloadLogEveryMs = 10_000

const make = Effect.gen(function* () {
  // The store admits `concurrentReads` API reads at a time; one request takes one slot for all its reads, so a
  // request that started is never starved halfway by newcomers.
  const slots = yield* Effect.makeSemaphore(concurrentReads)
  // Requests running or waiting for a slot.
  const admitted = yield* Ref.make(0)
  const setGauge = (count: number) => Metric.set(storeReadsInFlight, count)

  // One log line per refusal would add work exactly when the process has none to spare: they are counted instead.
  const refusals = yield* Ref.make({ count: 0, loggedAt: Number.NEGATIVE_INFINITY })
  const noteRefusal = Effect.gen(function* () {
    yield* Metric.increment(requestsRefusedTotal)
    const now = yield* Clock.currentTimeMillis
    const due = yield* Ref.modify(refusals, ({ count, loggedAt }): [number, { count: number; loggedAt: number }] =>
      now - loggedAt >= overloadLogEveryMs ? [count + 1, { count: 0, loggedAt: now }] : [0, { count: count + 1, loggedAt }]
    )
    if (due > 0) {
      yield* Effect.logWarning("HTTP API overloaded: requests refused with 503, the store's read queue is full").pipe(
        Effect.annotateLogs({ refused_since_last_line: due, read_slots: concurrentReads, queued: queuedReads })
      )
    }
  })

  const leave = Ref.updateAndGet(admitted, (n) => n - 1).pipe(Effect.flatMap(setGauge))

  /**
   * Runs a request's store reads in a slot, or fails at once with OverloadedError when `queuedReads` requests are
   * waiting already. Interrupting the request (its client went away) leaves the queue or cancels its query.
   */
  const run = <A, E, R>(reads: Effect.Effect<A, E, R>): Effect.Effect<A, E | OverloadedError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        // The count after entering, or -1: refused.
        const count = yield* Ref.modify(admitted, (n): [number, number] =>
          n >= concurrentReads + queuedReads ? [-1, n] : [n + 1, n + 1]
        )
        if (count < 0) {
          yield* noteRefusal
          return yield* new OverloadedError({
            message: `too many requests are waiting for the store (${queuedReads}); retry in ${retryAfterSeconds} s`
          })
        }
        yield* setGauge(count)
        return yield* restore(slots.withPermits(1)(reads)).pipe(Effect.ensuring(leave))
      })
    )

  /** Requests running or waiting for a slot now. */
  const inFlight = Ref.get(admitted)

  return { run, inFlight } as const
})

/** The HTTP API's admission to the store: a bounded queue in front of the store's read slots. */
export class ReadGate extends Context.Tag("slowq/http/ReadGate")<ReadGate, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
