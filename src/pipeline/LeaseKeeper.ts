import { Duration, Effect, Metric, type Scope } from "effect"
import type { ControlRow, LeaseStore } from "../store/LeaseStore.js"
import type { StoreError } from "../store/StoreError.js"
import {
  type LeaseSettings,
  leaseTakeoversTotal,
  leasesLostTotal,
  leasesOwned,
  leasesReleasedTotal,
  preference,
  quota
} from "./Leases.js"

/** What the keeper has the Supervisor do: its pipelines' fibers, statuses and triggers stay the Supervisor's. */
export interface LeaseHolder {
  /** Run the pipeline here, its writes fenced by the lease's epoch. */
  readonly runHere: (pipeline: string, epoch: number) => Effect.Effect<void>
  /** Stop running it here (a run in flight is interrupted, its batch rolled back). */
  readonly stopHere: (pipeline: string) => Effect.Effect<void>
  /** After each round: who holds what, and the pauses the API stored, from whichever replica. */
  readonly observe: (owners: ReadonlyMap<string, string | null>, control: ReadonlyArray<ControlRow>) => Effect.Effect<void>
  /** A run asked for on another replica, for a pipeline held here: this replica took the request. */
  readonly runAsked: (pipeline: string, run: string) => Effect.Effect<void>
}

/**
 * Keeps this replica's share of the pipelines' leases for as long as the scope lasts (see Leases.ts): a round at once,
 * then every quarter of the lease time. Each round heartbeats, renews the leases held and stops the pipelines whose
 * lease another replica took (this one had stalled past it), gives back what is over this replica's quota, takes free
 * or expired leases up to it, then reports the owners and the stored control. When the scope closes the pipelines
 * stop first, then their leases are given back, so that another replica takes them on its next round.
 */
export const keepLeases = (
  leases: typeof LeaseStore.Service,
  settings: LeaseSettings,
  pipelines: ReadonlyArray<string>,
  holder: LeaseHolder
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    const me = settings.replica
    const ttlMs = Duration.toMillis(settings.ttl)
    // The leases held, with the epoch each was taken at (the writes' fence).
    const held = new Map<string, number>()
    const stop = (pipeline: string) =>
      Effect.suspend(() => {
        held.delete(pipeline)
        return holder.stopHere(pipeline)
      })

    const round: Effect.Effect<void, StoreError> = Effect.gen(function* () {
      yield* leases.heartbeat(me)
      const live = yield* leases.liveReplicas(ttlMs)
      const renewed = yield* leases.renew(me, [...held.keys()], ttlMs)
      for (const pipeline of [...held.keys()]) {
        if (renewed.get(pipeline) === held.get(pipeline)) continue
        yield* stop(pipeline)
        yield* Metric.increment(leasesLostTotal)
        yield* Effect.logWarning("lost the lease: another replica took the pipeline over; it stops here").pipe(
          Effect.annotateLogs({ pipeline, replica: me })
        )
      }
      const mine = quota(pipelines.length, live, me)
      const byPreference = preference(me, pipelines)
      if (held.size > mine) {
        const over = byPreference.filter((pipeline) => held.has(pipeline)).slice(mine)
        for (const pipeline of over) yield* stop(pipeline)
        yield* leases.release(me, over)
        yield* Metric.incrementBy(leasesReleasedTotal, over.length)
        yield* Effect.logInfo("gave leases back: more replicas are up").pipe(
          Effect.annotateLogs({ pipelines: over.join(","), replica: me, replicas: live.length })
        )
      }
      for (const pipeline of byPreference) {
        if (held.size >= mine) break
        if (held.has(pipeline)) continue
        const taken = yield* leases.acquire(me, pipeline, ttlMs)
        if (taken === undefined) continue
        if (taken.takeover) yield* Metric.increment(leaseTakeoversTotal)
        yield* Effect.logInfo(taken.takeover ? "took the lease over from a replica that stopped renewing it" : "took the lease").pipe(
          Effect.annotateLogs({ pipeline, replica: me, epoch: taken.epoch })
        )
        held.set(pipeline, taken.epoch)
        yield* holder.runHere(pipeline, taken.epoch)
      }
      yield* Metric.set(leasesOwned, held.size)

      const owners = new Map((yield* leases.leases).map((row) => [row.pipeline, row.owner]))
      const control = yield* leases.control
      yield* holder.observe(owners, control)
      for (const row of control) {
        if (row.run_requested === null || !held.has(row.pipeline)) continue
        if (yield* leases.takeRun(row.pipeline, row.run_requested)) yield* holder.runAsked(row.pipeline, row.run_requested)
      }
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const given = [...held.keys()]
        for (const pipeline of given) yield* stop(pipeline)
        yield* leases.release(me, given)
        yield* leases.leave(me)
        yield* Metric.incrementBy(leasesReleasedTotal, given.length)
      }).pipe(Effect.catchAll((error) => Effect.logWarning(`could not give the leases back: ${error.message}`)))
    )
    const every = Duration.millis(Math.max(500, Math.floor(ttlMs / 4)))
    yield* Effect.forkScoped(
      Effect.forever(
        round.pipe(
          Effect.catchAll((error) => Effect.logWarning(`lease round failed; retrying in ${Duration.format(every)}: ${error.message}`)),
          Effect.zipRight(Effect.sleep(every))
        )
      )
    )
  })
