/**
 * The lab's workload: the shop of ShopMix.ts against a MySQL/MariaDB and a PostgreSQL database at a steady rate.
 *
 * One connection per database, one request at a time, as one application thread would: a request's statements run
 * back to back (a checkout transaction never waits inside itself), then the loop sleeps until the request's share of
 * the rate has passed. A loop that falls more than a second behind (a slow server) drops the backlog rather than
 * bursting. It never spins: a failed connection is retried after 1, 2, 4… up to 10 s, and every pass of the loop
 * sleeps on a timer. SIGINT/SIGTERM let the request in flight finish (at most 5 s), close the connections and print
 * the totals; a second signal exits at once.
 *
 * A plain promise-based script like test/bench's: it is a lab tool, not part of the daemon, and uses the project's
 * drivers (mysql2, pg) directly.
 */
import { renameSync, writeFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import mysql from "mysql2/promise"
import pg from "pg"
import type { Args } from "./Args.js"
import {
  analyzeStatement,
  begin,
  type Dialect,
  type Request,
  requests,
  schemaStatements,
  seedStatements,
  seededCheck
} from "./ShopMix.js"

const REPORT_EVERY_MS = 10_000
const SHUTDOWN_GRACE_MS = 5_000

export type Log = (line: string) => void

/** One database connection, driver-neutral. `broken` once the connection is lost: the loop then opens another. */
interface Session {
  run(sql: string, params: ReadonlyArray<string | number>): Promise<void>
  count(sql: string): Promise<number>
  readonly broken: () => boolean
  /** Closes gracefully, or at once (`destroy`) when a statement may still be running. */
  close(destroy: boolean): Promise<void>
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).split("\n")[0]!

const openMysql = async (url: string): Promise<Session> => {
  const connection = await mysql.createConnection({ uri: url, dateStrings: true, connectTimeout: 10_000 })
  let broken = false
  // Without a listener a fatal error on an idle connection is an uncaught 'error' event.
  connection.on("error", () => {
    broken = true
  })
  const fatal = (error: unknown) => {
    if (typeof error === "object" && error !== null && (error as { fatal?: unknown }).fatal === true) broken = true
    throw error
  }
  return {
    run: (sql, params) => connection.query(sql, params).then(() => undefined, fatal),
    count: (sql) => connection.query(sql).then(([rows]) => Number((rows as Array<{ n: unknown }>)[0]?.n ?? 0), fatal),
    broken: () => broken,
    close: async (destroy) => {
      if (destroy || broken) connection.destroy()
      else await connection.end().catch(() => connection.destroy())
    }
  }
}

const openPostgres = async (url: string): Promise<Session> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: "lab-workload" })
  let broken = false
  client.on("error", () => {
    broken = true
  })
  await client.connect().catch(async (error: unknown) => {
    await client.end().catch(() => undefined)
    throw error
  })
  // A server's error carries a severity; anything else (a reset, "Connection terminated") means the connection is gone.
  const fatal = (error: unknown) => {
    if (typeof error !== "object" || error === null || !("severity" in error) || (error as { code?: unknown }).code === "57P01") {
      broken = true
    }
    throw error
  }
  return {
    run: (sql, params) => client.query(sql, [...params]).then(() => undefined, fatal),
    count: (sql) => client.query<{ n: string }>(sql).then((result) => Number(result.rows[0]?.n ?? 0), fatal),
    broken: () => broken,
    close: async (destroy) => {
      // end() waits for a running query; closing the socket instead makes the server cancel it.
      if (destroy || broken) {
        const internals = client as unknown as { connection?: { stream?: { destroy(): void } } }
        internals.connection?.stream?.destroy()
        return
      }
      await client.end().catch(() => undefined)
    }
  }
}

interface Target {
  readonly dialect: Dialect
  readonly label: string
  readonly open: () => Promise<Session>
}

interface Counts {
  state: "connecting" | "seeding" | "running" | "done"
  statements: number
  failed: number
  requests: number
  /** Statements at the last report, for the per-interval figure. */
  reported: number
}

/** Sleeps `ms` (at least one timer tick), or less when the abort signal fires. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener("abort", done)
      resolve()
    }
    const timer = setTimeout(done, Math.max(1, ms))
    signal.addEventListener("abort", done)
  })

/** Creates the tables when missing and seeds them when empty, in one transaction. */
const prepare = async (session: Session, dialect: Dialect, log: Log, label: string) => {
  for (const sql of schemaStatements(dialect)) await session.run(sql, [])
  if ((await session.count(seededCheck)) > 0) {
    log(`${label}: the shop is there already, not seeded again`)
    return
  }
  const started = performance.now()
  await session.run(begin(dialect), [])
  try {
    for (const sql of seedStatements(dialect)) await session.run(sql, [])
    await session.run("COMMIT", [])
  } catch (error) {
    await session.run("ROLLBACK", []).catch(() => undefined)
    throw error
  }
  await session.run(analyzeStatement(dialect), [])
  log(`${label}: seeded the shop in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

/** Runs a workload until it is stopped or its time is up; resolves with the exit code. */
export const runWorkload = (args: Args, log: Log = (line) => console.log(`lab:workload: ${line}`)) => {
  const controller = new AbortController()
  let stopReason: string | undefined
  /** Set when the shutdown's grace is over and the connections were closed under their statements. */
  let cutOff = false
  const targets: Array<Target> = []
  if (args.mysql !== undefined) {
    const url = args.mysql
    targets.push({ dialect: "mysql", label: "mysql", open: () => openMysql(url) })
  }
  if (args.postgres !== undefined) {
    const url = args.postgres
    targets.push({ dialect: "postgres", label: "postgres", open: () => openPostgres(url) })
  }
  const counts = new Map<string, Counts>(
    targets.map((t) => [t.label, { state: "connecting", statements: 0, failed: 0, requests: 0, reported: 0 }])
  )
  const sessions = new Map<string, Session>()
  const started = performance.now()
  const seen = new Map<string, Set<string>>(targets.map((t) => [t.label, new Set()]))

  /** A failure is printed the first time its message is seen (per database, up to 20 kinds), and always counted. */
  const failure = (label: string, what: string, error: unknown) => {
    const text = message(error)
    const messages = seen.get(label)!
    if (messages.has(text) || messages.size >= 20) return
    messages.add(text)
    log(`${label}: ${what} failed: ${text}`)
  }

  const runRequest = async (label: string, session: Session, request: Request, count: Counts) => {
    const transaction = request.statements[0]?.sql === "BEGIN" || request.statements[0]?.sql === "START TRANSACTION"
    count.requests++
    for (const statement of request.statements) {
      try {
        await session.run(statement.sql, statement.params)
        count.statements++
      } catch (error) {
        count.statements++
        count.failed++
        failure(label, request.kind, error)
        if (transaction && !session.broken()) await session.run("ROLLBACK", []).catch(() => undefined)
        return
      }
    }
  }

  const runTarget = async (target: Target) => {
    const count = counts.get(target.label)!
    let backoff = 1_000
    let session: Session | undefined
    let loadStarted: number | undefined
    const stream = requests(target.dialect, args.seed)
    let next = performance.now()
    while (!controller.signal.aborted) {
      if (session === undefined || session.broken()) {
        if (session !== undefined) await session.close(true)
        sessions.delete(target.label)
        session = undefined
        try {
          session = await target.open()
          sessions.set(target.label, session)
          if (loadStarted === undefined) {
            count.state = "seeding"
            await prepare(session, target.dialect, log, target.label)
            count.state = "running"
            loadStarted = performance.now()
            next = loadStarted
            writeStatusWhenRunning()
          }
          backoff = 1_000
        } catch (error) {
          if (controller.signal.aborted) break
          log(`${target.label}: ${count.state === "seeding" ? "preparing the shop" : "connecting"} failed: ${message(error)}; trying again in ${backoff / 1000} s`)
          if (session !== undefined) await session.close(true)
          sessions.delete(target.label)
          session = undefined
          await sleep(backoff, controller.signal)
          backoff = Math.min(backoff * 2, 10_000)
          continue
        }
      }
      // A stop that came while connecting or seeding: no request after it.
      if (controller.signal.aborted) break
      if (args.seconds !== undefined && performance.now() - loadStarted! >= args.seconds * 1000) break
      const request = stream.next().value
      await runRequest(target.label, session, request, count)
      next += (request.statements.length * 1000) / args.rate
      const now = performance.now()
      if (next < now - 1000) next = now
      await sleep(next - now, controller.signal)
    }
    count.state = "done"
    if (session !== undefined) await session.close(cutOff)
    sessions.delete(target.label)
  }

  const summary = () =>
    targets
      .map((t) => {
        const c = counts.get(t.label)!
        return `${t.label} ${c.statements} statements (${c.failed} failed)`
      })
      .join(", ")

  const writeStatus = () => {
    if (args.statusFile === undefined) return
    const status = {
      time: new Date().toISOString(),
      databases: Object.fromEntries([...counts].map(([label, c]) => [label, { state: c.state, statements: c.statements, failed: c.failed }]))
    }
    try {
      writeFileSync(`${args.statusFile}.tmp`, `${JSON.stringify(status)}\n`)
      renameSync(`${args.statusFile}.tmp`, args.statusFile)
    } catch (error) {
      failure("status", `writing ${args.statusFile}`, error)
    }
  }

  /** The status file says the load is on: it is written only while every database is under load. */
  const writeStatusWhenRunning = () => {
    if ([...counts.values()].every((c) => c.state === "running")) writeStatus()
  }

  const report = setInterval(() => {
    const seconds = Math.round((performance.now() - started) / 1000)
    const parts = targets.map((t) => {
      const c = counts.get(t.label)!
      const interval = c.statements - c.reported
      c.reported = c.statements
      return c.state === "running"
        ? `${t.label} ${interval} statements in 10 s (total ${c.statements}, ${c.failed} failed)`
        : `${t.label} ${c.state} (total ${c.statements}, ${c.failed} failed)`
    })
    log(`${seconds}s  ${parts.join("  ")}`)
    writeStatusWhenRunning()
  }, REPORT_EVERY_MS)

  const stop = (signal: NodeJS.Signals) => {
    if (stopReason !== undefined) {
      log(`${signal} again: exiting at once`)
      process.exit(signal === "SIGINT" ? 130 : 143)
    }
    stopReason = signal
    log(`${signal}: stopping after the requests in flight`)
    controller.abort()
    // A statement that does not finish (a lock, a long seed) is cut off by closing its connection.
    setTimeout(() => {
      cutOff = true
      for (const session of sessions.values()) void session.close(true)
    }, SHUTDOWN_GRACE_MS).unref()
    // Whatever still holds the process then (a driver waiting on a dead socket) does not keep it from exiting.
    setTimeout(() => {
      log(`still running ${SHUTDOWN_GRACE_MS / 1000 + 2} s after ${signal}: exiting`)
      process.exit(1)
    }, SHUTDOWN_GRACE_MS + 2_000).unref()
  }
  process.on("SIGINT", stop)
  process.on("SIGTERM", stop)

  log(
    `${targets.map((t) => t.label).join(" and ")}: about ${args.rate} statements/s${targets.length > 1 ? " each" : ""}, seed ${args.seed}, ${
      args.seconds === undefined ? "until SIGINT/SIGTERM" : `for ${args.seconds} s of load`
    }`
  )
  return Promise.all(targets.map(runTarget)).then(() => {
    clearInterval(report)
    process.off("SIGINT", stop)
    process.off("SIGTERM", stop)
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    log(`${stopReason === undefined ? "done" : `stopped (${stopReason})`} after ${seconds} s: ${summary()}`)
    return 0
  })
}
