import { createHash, randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { Config, Duration, Effect, Metric, Option } from "effect"
import { parseDuration } from "../domain/Duration.js"

/**
 * Several `slowq run` processes (replicas) may share one store and one pipelines folder: each pipeline runs on the
 * one replica that holds its lease in the store (src/store/LeaseStore.ts, migration 0015). A replica renews its leases
 * every quarter of the lease time; a lease not renewed within the lease time (a dead or stalled replica) is taken by
 * another on its next round, with a new epoch that fences the old holder's writes off. So a dead replica's pipelines
 * move within the lease time and a quarter of it. Leases are spread: a replica holds at most its fair share, the
 * pipelines divided by the replicas alive, and gives back what is over it when more replicas come up.
 */
export interface LeaseSettings {
  /** This process, as the store knows it. */
  readonly replica: string
  readonly ttl: Duration.Duration
}

/** The default lease time: a dead replica's pipelines run again elsewhere within 25 s. */
export const defaultLeaseTtl = Duration.seconds(20)

/** `SLOWQ_REPLICA_ID` (default host name, process id and a random suffix) and `SLOWQ_LEASE_TTL` (20s, at least 2s). */
export const loadLeaseSettings = Effect.gen(function* () {
  const replica = yield* Config.string("SLOWQ_REPLICA_ID").pipe(
    Config.withDefault(`${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`)
  )
  const ttlText = yield* Config.option(Config.string("SLOWQ_LEASE_TTL"))
  const ttl = Option.isNone(ttlText) ? Option.some(defaultLeaseTtl) : parseDuration(ttlText.value.trim())
  if (Option.isNone(ttl) || Duration.lessThan(ttl.value, Duration.seconds(2))) {
    return yield* Effect.fail(
      `SLOWQ_LEASE_TTL: expected a duration of at least 2s such as 20s or 1m, actual ${JSON.stringify(Option.getOrElse(ttlText, () => ""))}`
    )
  }
  if (replica.trim() === "") return yield* Effect.fail("SLOWQ_REPLICA_ID: expected a name, actual an empty one")
  return { replica: replica.trim(), ttl: ttl.value } satisfies LeaseSettings
}).pipe(Effect.mapError((error) => (typeof error === "string" ? error : String(error))))

/**
 * How many of `pipelines` `replica` holds at most, given the live replicas (sorted): an even split, the first
 * `pipelines % replicas` of them one more, so that the quotas add up to the pipelines and differ by one at most.
 */
export const quota = (pipelines: number, live: ReadonlyArray<string>, replica: string): number => {
  const replicas = Math.max(1, live.length)
  const rank = live.indexOf(replica)
  return Math.floor(pipelines / replicas) + (rank >= 0 && rank < pipelines % replicas ? 1 : 0)
}

/**
 * The order in which `replica` tries to take free leases: a hash of the pair, so that replicas starting together try
 * different pipelines first rather than all race for the same one.
 */
export const preference = (replica: string, pipelines: ReadonlyArray<string>): ReadonlyArray<string> =>
  pipelines
    .map((pipeline) => ({ pipeline, rank: createHash("sha1").update(`${replica}\u0000${pipeline}`).digest("hex") }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
    .map((entry) => entry.pipeline)

export const leasesOwned = Metric.gauge("slowq_leases_owned", {
  description: "Pipelines whose lease this replica holds (each runs here and nowhere else)."
})
export const leaseTakeoversTotal = Metric.counter("slowq_lease_takeovers_total", {
  description: "Leases this replica took from another replica whose lease had expired.",
  incremental: true
})
export const leasesLostTotal = Metric.counter("slowq_leases_lost_total", {
  description: "Leases this replica found taken by another (it had stalled past the lease time): it stopped running them.",
  incremental: true
})
export const leasesReleasedTotal = Metric.counter("slowq_leases_released_total", {
  description: "Leases this replica gave back: over its fair share when more replicas came up, or on shutdown.",
  incremental: true
})
