import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PipelineList } from "../../src/http/Api.js"
import { runCli } from "../support/Cli.js"
import { eventually } from "../support/Poll.js"
import { pipelinesDir, tempDir } from "../support/Pipelines.js"
import { writeSlowLog } from "../support/slowlog/GenerateSlowLog.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { type HttpDaemon, json, request, startHttpDaemonAt } from "../http/HttpDaemon.js"

// test group: other
// (slow log files only, and stores of its own: no MariaDB.)

// Several `slowq run` replicas on one store and one pipelines folder: each pipeline runs on one replica at a time,
// evenly spread; a killed or stalled replica's pipelines are taken over within the lease time; what is stored equals
// what one process stores from the same files (nothing lost, nothing doubled), and a stalled replica's writes are
// fenced off once another holds its lease.

// Short enough for the takeovers to be quick here, long enough that a replica on a loaded CI machine renews in time.
const TTL_S = 5
const token = "replicas-test-token-0123456789"

const filePipeline = (name: string, path: string, batch = 1000) =>
  `name: ${name}\nschedule:\n  every: 1s\nsource:\n  type: mysql_slow_log_file\n  path: ${path}\n  settle_ms: 0\n  batch_size: ${batch}\n`

/** Per pipeline: events, calls and time summed over the events, the totals and the minute rollups, exactly. */
const fingerprintOf = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* storeClient(url)
    return yield* sql.unsafe<{ pipeline: string; events: number; calls: string; total_ms: string; rollup_calls: string; rollup_ms: string }>(
      `SELECT e.pipeline, e.events::int AS events, q.calls::text AS calls, q.total_ms::text AS total_ms,
              r.calls::text AS rollup_calls, r.total_ms::text AS rollup_ms
       FROM (SELECT pipeline, count(*) AS events FROM slowq_events GROUP BY pipeline) e
       JOIN (SELECT pipeline, sum(calls) AS calls, round(sum(total_ms)::numeric, 6) AS total_ms FROM slowq_queries GROUP BY pipeline) q USING (pipeline)
       JOIN (SELECT pipeline, sum(calls) AS calls, round(sum(total_ms)::numeric, 6) AS total_ms FROM slowq_rollups_minute GROUP BY pipeline) r USING (pipeline)
       ORDER BY e.pipeline`
    )
  })

const storedEvents = (url: string, pipeline: string) =>
  Effect.flatMap(storeClient(url), (sql) =>
    sql.unsafe<{ n: number }>("SELECT count(*)::int AS n FROM slowq_events WHERE pipeline = $1", [pipeline])
  ).pipe(Effect.map((rows) => rows[0]!.n))

/** The one lease of the big-file tests, as the store holds it. */
const leaseOf = (url: string) =>
  Effect.flatMap(storeClient(url), (sql) =>
    sql.unsafe<{ owner: string; epoch: number; takeovers: number }>(
      "SELECT owner, epoch::int AS epoch, takeovers::int AS takeovers FROM slowq_leases WHERE pipeline = 'rep_big'"
    )
  ).pipe(Effect.map((rows) => rows[0]!))

const pipelines = (daemon: HttpDaemon) =>
  Effect.map(request(daemon, "GET", "/api/v1/pipelines", { token }), (answer) => json(PipelineList, answer).pipelines)

const ownerOf = (daemon: HttpDaemon, name: string) =>
  Effect.map(pipelines(daemon), (list) => list.find((p) => p.name === name)?.owner ?? null)

const startReplica = (dir: string, store: string, replica: string) =>
  startHttpDaemonAt(dir, { SLOWQ_STORE_URL: store, SLOWQ_REPLICA_ID: replica, SLOWQ_LEASE_TTL: `${TTL_S}s`, SLOWQ_API_TOKEN: token })

describe("replicas", () => {
  it.live("three replicas, ten pipelines: each runs on one, the split is even within one, and the store holds what one process stores", () =>
    Effect.gen(function* () {
      const logs = yield* tempDir("slowq-replicas-")
      const files: Record<string, string> = {}
      for (let i = 0; i < 10; i++) {
        const path = join(logs, `p${i}.log`)
        yield* Effect.promise(() => writeSlowLog(path, { events: 2000 + 100 * i, seed: 100 + i, banner: false }))
        files[`p${i}.yaml`] = filePipeline(`rep_p${i}`, path)
      }
      const dir = yield* pipelinesDir(files)
      const store = yield* freshStoreDatabase
      const replicas = [yield* startReplica(dir, store.url, "r1"), yield* startReplica(dir, store.url, "r2"), yield* startReplica(dir, store.url, "r3")]

      // Every pipeline read to its end, each lease held by one of them, split 4/3/3 (in any order).
      yield* eventually(
        "every event stored and the leases settled",
        Effect.gen(function* () {
          const counts = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => storedEvents(store.url, `rep_p${i}`))
          if (counts.some((n, i) => n !== 2000 + 100 * i)) return false
          const list = yield* pipelines(replicas[0]!)
          const split = ["r1", "r2", "r3"].map((r) => list.filter((p) => p.owner === r).length).sort()
          return list.every((p) => p.owner !== null) && JSON.stringify(split) === JSON.stringify([3, 3, 4])
        }),
        "90 seconds"
      )
      // Each replica's view (as of its last lease round): the pipelines it holds run there, the others are on standby
      // with their owner named.
      yield* eventually(
        "every replica's view of the owners",
        Effect.map(Effect.forEach(replicas, pipelines), (views) =>
          views.every((list, i) => list.every((p) => p.owner !== null && (p.owner === `r${i + 1}`) === (p.state !== "standby")))
        ),
        "30 seconds"
      )
      // Each replica's /metrics: the leases it holds, 4/3/3 again.
      const owned = yield* Effect.forEach(replicas, (replica) =>
        Effect.map(request(replica, "GET", "/metrics"), (answer) => Number(/^slowq_leases_owned (\d+)$/m.exec(answer.text)?.[1]))
      )
      expect([...owned].sort()).toEqual([3, 3, 4])

      // Control from any replica, through the store: pause and run-now asked of r1 for a pipeline r2 runs.
      const list = yield* pipelines(replicas[1]!)
      const theirs = list.find((p) => p.owner === "r2")!.name
      const paused = yield* request(replicas[0]!, "POST", `/api/v1/pipelines/${theirs}/pause`, { token })
      expect([paused.status, JSON.parse(paused.text).paused]).toEqual([200, true])
      yield* eventually(
        "the pause applied where the pipeline runs",
        Effect.map(pipelines(replicas[1]!), (now) => now.find((p) => p.name === theirs)?.state === "paused"),
        "30 seconds"
      )
      const asked = yield* request(replicas[0]!, "POST", `/api/v1/pipelines/${theirs}/run`, { token })
      expect(asked.status).toBe(202)
      const run = JSON.parse(asked.text).run as string
      yield* eventually(
        "the asked-for run on the replica that runs the pipeline",
        Effect.map(request(replicas[1]!, "GET", `/api/v1/pipelines/${theirs}`, { token }), (answer) =>
          (JSON.parse(answer.text).recent_runs as ReadonlyArray<{ run: string; trigger: string }>).some(
            (r) => r.run === run && r.trigger === "manual"
          )
        ),
        "30 seconds"
      )
      expect((yield* request(replicas[2]!, "POST", `/api/v1/pipelines/${theirs}/resume`, { token })).status).toBe(200)
      yield* eventually(
        "the resume applied where the pipeline runs",
        Effect.map(pipelines(replicas[1]!), (now) => now.find((p) => p.name === theirs)?.paused === false),
        "30 seconds"
      )

      // The events stored across the replicas' runs add up to the files, once each.
      const written = yield* Effect.forEach(replicas, pipelines)
      for (let i = 0; i < 10; i++) {
        const total = written.reduce((sum, list) => sum + (list.find((p) => p.name === `rep_p${i}`)?.totals.events_stored ?? 0), 0)
        expect([`rep_p${i}`, total]).toEqual([`rep_p${i}`, 2000 + 100 * i])
      }
      // The same files through one process into a store of its own: the same events, totals and rollups.
      const single = yield* freshStoreDatabase
      const once = yield* runCli(["once", ...Array.from({ length: 10 }, (_, i) => `rep_p${i}`), "--pipelines", dir], {
        SLOWQ_STORE_URL: single.url,
        SLOWQ_LOG_LEVEL: "warning"
      })
      expect(once.code).toBe(0)
      expect(yield* fingerprintOf(store.url)).toEqual(yield* fingerprintOf(single.url))
    }).pipe(Effect.scoped),
    180_000
  )

  /** Two replicas and one pipeline reading a large file in small batches, until it runs mid-file on one of them. */
  const midFile = (events: number) =>
    Effect.gen(function* () {
      const logs = yield* tempDir("slowq-replicas-big-")
      const path = join(logs, "big.log")
      yield* Effect.promise(() => writeSlowLog(path, { events, seed: 7, banner: false }))
      const dir = yield* pipelinesDir({ "big.yaml": filePipeline("rep_big", path, 200) })
      const store = yield* freshStoreDatabase
      // Started together, so that the second is up while the first is still early in the file.
      const replicas = yield* Effect.all([startReplica(dir, store.url, "a"), startReplica(dir, store.url, "b")], { concurrency: 2 })
      yield* eventually(
        "the pipeline mid-file",
        Effect.map(storedEvents(store.url, "rep_big"), (n) => n > 0 && n < events / 2),
        "60 seconds"
      )
      const owner = yield* ownerOf(replicas[0]!, "rep_big")
      const holder = replicas.find((_, i) => ["a", "b"][i] === owner)!
      const other = replicas.find((r) => r !== holder)!
      return { dir, store, holder, other, otherName: owner === "a" ? "b" : "a" }
    })

  /** The same file through one process: what the replicas' store must hold. */
  const expectSameAsOneProcess = (dir: string, store: string) =>
    Effect.gen(function* () {
      const single = yield* freshStoreDatabase
      expect((yield* runCli(["once", "rep_big", "--pipelines", dir], { SLOWQ_STORE_URL: single.url, SLOWQ_LOG_LEVEL: "warning" })).code).toBe(0)
      expect(yield* fingerprintOf(store)).toEqual(yield* fingerprintOf(single.url))
    })

  it.live("kill -9 of the replica running a pipeline mid-batch: the other takes it over within the lease time, nothing lost or doubled", () =>
    Effect.gen(function* () {
      const events = 80_000
      const { dir, store, holder, other, otherName } = yield* midFile(events)
      holder.child.kill("SIGKILL")
      const killed = Date.now()
      yield* eventually("the takeover", Effect.map(ownerOf(other, "rep_big"), (owner) => owner === otherName), "30 seconds")
      // The time is printed, not asserted (the machine's load sets it): the lease's time and at most a round more.
      console.log(`takeover after kill -9: ${Date.now() - killed} ms (lease ${TTL_S} s)`)
      expect(yield* leaseOf(store.url)).toEqual({ owner: otherName, epoch: 2, takeovers: 1 })
      yield* eventually("the file read to its end", Effect.map(storedEvents(store.url, "rep_big"), (n) => n === events), "90 seconds")
      expect(other.log()).toContain("took the lease over from a replica that stopped renewing it")
      yield* expectSameAsOneProcess(dir, store.url)
    }).pipe(Effect.scoped),
    180_000
  )

  it.live("a replica stopped past its lease: the other takes over; resumed, it is fenced off, says it lost the lease and stops running the pipeline", () =>
    Effect.gen(function* () {
      const events = 80_000
      const { dir, store, holder, other, otherName } = yield* midFile(events)
      process.kill(holder.child.pid!, "SIGSTOP")
      yield* eventually("the takeover", Effect.map(ownerOf(other, "rep_big"), (owner) => owner === otherName), "30 seconds")
      // Let the new holder write a few batches before the stalled one wakes up mid-run.
      const before = yield* storedEvents(store.url, "rep_big")
      yield* eventually("the new holder writing", Effect.map(storedEvents(store.url, "rep_big"), (n) => n > before), "30 seconds")
      process.kill(holder.child.pid!, "SIGCONT")
      yield* eventually(
        "the stalled replica to say it lost the lease",
        Effect.sync(() => /lost the lease/.test(holder.log())),
        "30 seconds"
      )
      // Its write, if it came before its lease round noticed, was refused by the store, not stored.
      const fenced = holder.log().includes("no longer holds the lease of pipeline rep_big")
      const noticed = holder.log().includes("lost the lease: another replica took the pipeline over")
      expect(fenced || noticed).toBe(true)
      console.log(`stalled replica: ${fenced ? "its batch was fenced off" : "its lease round noticed first"}`)
      // It stopped running the pipeline under the lease it had lost: the store holds the new epoch. (The lease may
      // come back to it later, a new one with a higher epoch, when the quotas spread the pipelines again.)
      const lease = yield* leaseOf(store.url)
      expect([lease.epoch >= 2, lease.takeovers >= 1]).toEqual([true, true])
      yield* eventually("the file read to its end", Effect.map(storedEvents(store.url, "rep_big"), (n) => n === events), "90 seconds")
      yield* expectSameAsOneProcess(dir, store.url)
    }).pipe(Effect.scoped),
    180_000
  )
})
