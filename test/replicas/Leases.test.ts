import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { quota, preference } from "../../src/pipeline/Leases.js"
import { EventWriter } from "../../src/store/EventWriter.js"
import { LeaseStore } from "../../src/store/LeaseStore.js"
import { selectEvent } from "../support/CollectedEvents.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { storeAt } from "../support/StoreServices.js"

// The store's side of the leases: taking, renewing, taking over an expired one, and the fence that refuses a batch
// written under a lease another replica has taken since.

const event = (key: string) => selectEvent(key, "AAAA", 1_700_000_000_000_000, 2)

describe("leases", () => {
  it("quotas split the pipelines evenly, within one, and add up to them", () => {
    const live = ["a", "b", "c"]
    expect(live.map((replica) => quota(10, live, replica))).toEqual([4, 3, 3])
    expect(live.map((replica) => quota(2, live, replica))).toEqual([1, 1, 0])
    expect(quota(10, ["a"], "a")).toBe(10)
    // Not yet seen by the store: nothing beyond the even part.
    expect(quota(10, ["a", "b"], "z")).toBe(5)
    expect([...preference("a", ["p1", "p2", "p3"])].sort()).toEqual(["p1", "p2", "p3"])
  })

  it.live("an expired lease is taken over with a new epoch, and the old holder's batch is refused whole", () =>
    Effect.gen(function* () {
      const db = yield* freshStoreDatabase
      yield* Effect.gen(function* () {
        const leases = yield* LeaseStore
        const writer = yield* EventWriter
        const sql = yield* storeClient(db.url)
        expect(yield* leases.acquire("A", "p1", 60_000)).toEqual({ epoch: 1, takeover: false })
        // Held and not expired: nobody else takes it.
        expect(yield* leases.acquire("B", "p1", 60_000)).toBeUndefined()
        expect(yield* leases.renew("A", ["p1", "p2"], 60_000)).toEqual(new Map([["p1", 1]]))
        expect(yield* writer.writeBatch("p1", "mysql", [event("e1")], { at: 1 }, { fence: { owner: "A", epoch: 1 } })).toMatchObject({ inserted: 1 })

        // A stalls past its lease: B takes it over.
        yield* sql.unsafe("UPDATE slowq_leases SET expires_at = now() - interval '1 second'")
        expect(yield* leases.acquire("B", "p1", 60_000)).toEqual({ epoch: 2, takeover: true })
        expect(yield* leases.renew("A", ["p1"], 60_000)).toEqual(new Map())
        const refused = yield* Effect.either(
          writer.writeBatch("p1", "mysql", [event("e2"), event("e3")], { at: 3 }, { fence: { owner: "A", epoch: 1 } })
        )
        expect(Either.isLeft(refused) && [refused.left.leaseLost, refused.left.message]).toEqual([
          true,
          "replica A no longer holds the lease of pipeline p1 (epoch 1): another replica took it over"
        ])
        // Nothing of it is stored: not its events, not its checkpoint, not its totals.
        const stored = yield* sql.unsafe<{ keys: string; checkpoint: unknown; calls: number }>(
          `SELECT (SELECT string_agg(event_key, ',' ORDER BY event_key) FROM slowq_events) AS keys,
                  (SELECT checkpoint FROM slowq_checkpoints WHERE pipeline = 'p1') AS checkpoint,
                  (SELECT calls::int FROM slowq_queries WHERE pipeline = 'p1') AS calls`
        )
        expect(stored).toEqual([{ keys: "e1", checkpoint: { at: 1 }, calls: 1 }])
        // B writes under its own epoch; a write without a fence (slowq once) is not checked.
        expect(yield* writer.writeBatch("p1", "mysql", [event("e2")], { at: 2 }, { fence: { owner: "B", epoch: 2 } })).toMatchObject({ inserted: 1 })
        expect(yield* writer.writeBatch("p1", "mysql", [event("e3")], { at: 3 })).toMatchObject({ inserted: 1 })

        // Released, a lease is free: taken again without counting a takeover.
        yield* leases.release("B", ["p1"])
        expect(yield* leases.acquire("A", "p1", 60_000)).toEqual({ epoch: 3, takeover: false })
        expect((yield* leases.leases).map((row) => [row.pipeline, row.owner, row.epoch])).toEqual([["p1", "A", 3]])

        // Heartbeats: the replicas seen within the lease time, in order; one that leaves is not counted.
        yield* leases.heartbeat("b")
        yield* leases.heartbeat("a")
        expect(yield* leases.liveReplicas(60_000)).toEqual(["a", "b"])
        yield* leases.leave("a")
        expect(yield* leases.liveReplicas(60_000)).toEqual(["b"])
        // A replica killed two days ago left its row: the next heartbeat of any replica deletes it.
        yield* sql.unsafe("INSERT INTO slowq_replicas (replica, seen_at) VALUES ('killed', now() - interval '2 days'), ('quiet', now() - interval '23 hours')")
        yield* leases.heartbeat("b")
        const rows = yield* sql.unsafe<{ replica: string }>("SELECT replica FROM slowq_replicas ORDER BY replica")
        expect(rows.map((row) => row.replica)).toEqual(["b", "quiet"])
      }).pipe(Effect.provide(storeAt(db.url)))
    }).pipe(Effect.scoped),
    60_000
  )
})
