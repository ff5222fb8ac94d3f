import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, RcMap, Scope, TestClock } from "effect"
import { poolsPerDatabase } from "./Explainer.js"

/**
 * A stand-in for a driver: `connect` takes a second (of the test clock), records what it opened and closed, and
 * cannot reach databases named `gone*`.
 */
const fakeServer = () => {
  const log: Array<string> = []
  const connect = (database: string) =>
    Effect.sleep("1 second").pipe(
      Effect.zipRight(
        database.startsWith("gone")
          ? Effect.sync(() => log.push(`refused ${database}`)).pipe(Effect.zipRight(Effect.fail({ message: `no ${database}` })))
          : Effect.acquireRelease(
              Effect.sync(() => {
                log.push(`open ${database}`)
                return { database }
              }),
              () => Effect.sync(() => log.push(`close ${database}`))
            )
      )
    )
  return { log, connect }
}

describe("poolsPerDatabase", () => {
  it.effect("opens a pool on first use, shares it after, remembers an unreachable database, closes all with the scope", () =>
    Effect.gen(function* () {
      const server = fakeServer()
      const scope = yield* Scope.make()
      const pools = yield* poolsPerDatabase(server.connect).pipe(Scope.extend(scope))
      expect(server.log).toEqual([])

      const use = (database: string) =>
        Effect.scoped(RcMap.get(pools, database)).pipe(Effect.fork, Effect.tap(() => TestClock.adjust("1 second")), Effect.flatMap(Fiber.join))
      const a1 = yield* use("a")
      const a2 = yield* use("a")
      const b = yield* use("b")
      const gone1 = yield* use("gone")
      const gone2 = yield* use("gone")
      expect([a1, a2, b]).toEqual([Either.right({ database: "a" }), Either.right({ database: "a" }), Either.right({ database: "b" })])
      // The same pool object, not an equal one.
      expect(Either.getOrThrow(a1)).toBe(Either.getOrThrow(a2))
      expect([gone1, gone2]).toEqual([Either.left({ message: "no gone" }), Either.left({ message: "no gone" })])
      // Released after each use, yet neither reopened nor tried again.
      expect(server.log).toEqual(["open a", "open b", "refused gone"])

      yield* Scope.close(scope, Exit.void)
      expect(server.log).toEqual(["open a", "open b", "refused gone", "close a", "close b"])
    })
  )

  it.effect("callers asking for the same database at once share one connect", () =>
    Effect.gen(function* () {
      const server = fakeServer()
      const pools = yield* poolsPerDatabase(server.connect)
      const fiber = yield* Effect.all(
        Array.from({ length: 8 }, () => Effect.scoped(RcMap.get(pools, "a"))),
        { concurrency: "unbounded" }
      ).pipe(Effect.fork)
      yield* TestClock.adjust("1 second")
      const got = yield* Fiber.join(fiber)
      expect(got.length).toBe(8)
      expect(new Set(got.map(Either.getOrThrow)).size).toBe(1)
      expect(server.log).toEqual(["open a"])
    }).pipe(Effect.scoped)
  )
})
