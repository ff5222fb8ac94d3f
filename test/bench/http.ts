/**
 * npm run bench:http [-- SECONDS [all|reads|load] [EVENTS]]
 *
 * The HTTP API under load, on loopback, while a pipeline collects: starts `slowq run` on a fresh store database
 * with one MariaDB pipeline running every second, seeds 100k fingerprints and EVENTS events (default 300k, at least
 * 3 per fingerprint) over the last 24 hours into the store, rollups included, keeps MariaDB's slow log growing, then
 * drives autocannon at the API for SECONDS (default 15) per run:
 *
 * 1. read scenarios at 10 connections (rankings all-time and over windows, one query's series): p50/p99 latency,
 *    throughput, errors;
 * 2. GET /api/v1/queries?limit=50 at 10, 200 and 1000 connections: throughput, p50/p99, 2xx/503/other answers, the
 *    server's peak RSS, /healthz and /readyz latency measured meanwhile from a separate process (a new connection
 *    per probe, as a container health check does, and a kept-alive one, as a monitoring agent does), and how long
 *    after the load /readyz answers 200.
 *
 * `-- SECONDS load` skips the read scenarios of 1, `-- SECONDS reads` the loads of 2. `-- 15 reads 1000000` measures
 * the issue's figures: a 24 h ranking and a series with 1M events in the window.
 *
 * SLOWQ_BENCH_ROOT=/path/to/another/checkout runs that checkout's daemon instead (a before/after comparison).
 * Everything it creates is dropped at the end.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import autocannon from "autocannon"
import { Schema } from "effect"
import { hoursFromMinutesSql, minutesFromEventsSql } from "../../src/store/RollupBackfill.js"

const seconds = Number(process.argv[2] ?? 15)
const mode = process.argv[3] ?? "all"
const events = Math.max(Number(process.argv[4] ?? 300_000), 300_000)
const fingerprints = 100_000
const loads = [10, 200, 1000]
const root = process.env.SLOWQ_BENCH_ROOT ?? fileURLToPath(new URL("../..", import.meta.url))
const marker = `benchhttp_${Date.now().toString(36)}`
const database = `slowq_${marker}`
const token = randomBytes(16).toString("hex")

const psql = (db: string, sql: string) =>
  execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql])

// Every fingerprint has 3 events spread over the last 24 hours; EVENTS beyond those go to the 1,000 hottest ones
// (ids 1 to 1,000, log-uniformly: each tenfold of ids gets about as many events), as a busy server's log has a few
// statements that make most of its volume and a long tail seen a few times a day.
const hot = "0000000000000001"
const tail = "0000000000003039"
const seedSql = `
INSERT INTO slowq_events (pipeline, event_key, query_id, start_time, start_us, interval_start, calls, query_time_ms,
  lock_time_ms, rows_sent, rows_examined, rows_affected, db, user_host, thread_id, sql_text, multi_statement,
  truncated, tags, metrics, attributes)
SELECT 'bench_seed', 'k' || q || '_' || e, upper(lpad(to_hex(q), 16, '0')), t, (extract(epoch FROM t) * 1e6)::bigint,
  NULL, 1, (random() * 1000)::float8, random(), (random() * 100)::int, (random() * 100000)::int, 0, 'shop',
  'app[app] @ web [10.0.0.1]', q % 64,
  'SELECT o.id, o.total, c.email FROM orders_' || q || ' o JOIN customers c ON c.id = o.customer_id WHERE o.id = ' || e,
  false, false, '{}', '{}', '{}'
FROM (
  SELECT q, e, now() - random() * interval '24 hours' AS t FROM generate_series(1, ${fingerprints}) q, generate_series(1, 3) e
  UNION ALL
  SELECT least(1000, floor(exp(random() * ln(1000)))::int), e, now() - random() * interval '24 hours'
  FROM generate_series(${fingerprints * 3 + 1}, ${events}) e
) s;
INSERT INTO slowq_queries (pipeline, query_id, fingerprint, dialect, statement_type, read_only, tables, first_seen,
  last_seen, events, calls, total_ms, max_ms, lock_ms, rows_sent, rows_examined, rows_affected, sample)
SELECT pipeline, query_id,
  'select o.id, o.total, c.email from orders_' || ltrim(lower(query_id), '0') || ' o join customers c on c.id = o.customer_id where o.id = ?',
  'mysql', 'select', true, ARRAY['shop.orders', 'shop.customers'], min(start_time), max(start_time), count(*),
  sum(calls), sum(query_time_ms), max(query_time_ms), sum(lock_time_ms), sum(rows_sent), sum(rows_examined), 0,
  (array_agg(sql_text ORDER BY query_time_ms DESC))[1]
FROM slowq_events WHERE pipeline = 'bench_seed' GROUP BY pipeline, query_id;
${minutesFromEventsSql("pipeline = 'bench_seed'")};
${hoursFromMinutesSql("pipeline = 'bench_seed'")};
ANALYZE;`

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const waitFor = async (what: string, check: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

const mariadb = (sql: string) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn("mariadb", ["-h", "127.0.0.1", "-uroot", "test"], { stdio: ["pipe", "ignore", "pipe"] })
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`mariadb exited ${code}`))))
    child.stdin.end(sql)
  })

const pipelineStatus = async (base: string) => {
  const response = await fetch(`${base}/api/v1/pipelines/bench_http`, { headers: { authorization: `Bearer ${token}` } })
  const body: unknown = await response.json()
  const totals = typeof body === "object" && body !== null && "totals" in body ? body.totals : undefined
  return JSON.stringify(totals)
}

/** One GET on a connection of its own; its status and the milliseconds to the end of the answer (status 0: none). */
const probe = (base: string, path: string, timeoutMs: number) =>
  new Promise<{ readonly status: number; readonly ms: number }>((resolve) => {
    const started = performance.now()
    const done = (status: number) => resolve({ status, ms: performance.now() - started })
    const request = Http.get(`${base}${path}`, { agent: false, timeout: timeoutMs }, (response) => {
      response.resume()
      response.on("end", () => done(response.statusCode ?? 0))
      response.on("error", () => done(0))
    })
    request.on("timeout", () => request.destroy())
    request.on("error", () => done(0))
  })

const ProbeSamples = Schema.parseJson(
  Schema.Record({
    key: Schema.String,
    value: Schema.Array(Schema.Struct({ status: Schema.Number, ms: Schema.Number, connectMs: Schema.Number }))
  })
)

/**
 * Probes /healthz and /readyz in a process of its own (test/http/ProbeClient.ts), a new connection per probe and a
 * kept-alive one, every 100 ms each, until stopped: autocannon's 1,000 connections keep this process's event loop
 * busy, and a probe measured here would time this process as much as the server.
 */
const prober = async (base: string) => {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../http/ProbeClient.ts", import.meta.url)), base, "100"], {
    stdio: ["pipe", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8")
  })
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8")
  })
  const closed = new Promise((resolve) => child.on("close", resolve))
  await waitFor("the probe client", () => stderr.includes("probing") || child.exitCode !== null, 30_000)
  return {
    stop: async () => {
      child.stdin.end()
      await closed
      return Schema.decodeUnknownSync(ProbeSamples)(stdout.trim())
    }
  }
}

/** The kernel's counts of connections dropped because a listen queue was full (TcpExt ListenOverflows, ListenDrops). */
const listenDrops = () => {
  const lines = readFileSync("/proc/net/netstat", "utf8").split("\n")
  const header = lines.find((line) => line.startsWith("TcpExt:"))?.split(/\s+/) ?? []
  const values = lines.filter((line) => line.startsWith("TcpExt:"))[1]?.split(/\s+/) ?? []
  const value = (name: string) => Number(values[header.indexOf(name)] ?? Number.NaN)
  return value("ListenOverflows") + value("ListenDrops")
}

/** The peak of the process's resident set, sampled every 100 ms until stopped. */
const rssSampler = (pid: number) => {
  let peak = 0
  const read = () => {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
      if (kb !== undefined) peak = Math.max(peak, Number(kb) * 1024)
    } catch {
      // The process is gone: the peak so far stands.
    }
  }
  read()
  const timer = setInterval(read, 100)
  return {
    stop: () => {
      clearInterval(timer)
      read()
      return peak
    }
  }
}

const quantile = (values: ReadonlyArray<number>, q: number) => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
}
const ms = (value: number) => (Number.isNaN(value) ? "-" : value < 10 ? value.toFixed(1) : String(Math.round(value)))
const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)}`

const run = async () => {
  psql("postgres", `CREATE DATABASE ${database}`)
  const dir = mkdtempSync(join(tmpdir(), "slowq-bench-http-"))
  let daemon: ChildProcess | undefined
  let feeding = true
  try {
    writeFileSync(
      join(dir, "bench.yaml"),
      "name: bench_http\nschedule:\n  every: 1s\nsource:\n  type: mysql_slow_log_table\n  url: mysql://root@127.0.0.1:3306/test\n"
    )
    let log = ""
    daemon = spawn(process.execPath, [join(root, "src/bin/slowq.js"), "run", "--pipelines", dir], {
      cwd: root,
      env: {
        ...process.env,
        SLOWQ_STORE_URL: `postgres://postgres@127.0.0.1:5432/${database}`,
        SLOWQ_HTTP_ADDR: "127.0.0.1:0",
        SLOWQ_API_TOKEN: token,
        SLOWQ_LOG_LEVEL: "info"
      },
      stdio: ["ignore", "ignore", "pipe"]
    })
    daemon.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString("utf8")
    })
    await waitFor("the HTTP API", () => /HTTP API listening on http:\/\/[\d.:]+/.test(log) || daemon?.exitCode !== null, 60_000)
    const address = /HTTP API listening on (http:\/\/[\d.:]+)/.exec(log)?.[1]
    if (address === undefined) throw new Error(`slowq run did not start:\n${log}`)
    const pid = daemon.pid!
    process.stdout.write(`seeding ${fingerprints.toLocaleString("en-US")} fingerprints (${events.toLocaleString("en-US")} events)… `)
    const seeded = Date.now()
    psql(database, seedSql)
    console.log(`${((Date.now() - seeded) / 1000).toFixed(1)} s`)

    // New slow-log rows keep arriving while the API is under load, so the pipeline's runs write to the store.
    const feed = (async () => {
      let i = 0
      while (feeding) {
        const batch: Array<string> = []
        for (let j = 0; j < 200; j++, i++) batch.push(`SELECT ${i} AS ${marker}_${i % 50};`)
        await mariadb(batch.join("\n"))
        await sleep(1000)
      }
    })()

    const scenarios = [
      ["top 50 by total time, all time (default)", "/api/v1/queries"],
      ["top 50 by average time, all time", "/api/v1/queries?order=avg_ms"],
      ["top 50 by total time, last hour", "/api/v1/queries?since=1h"],
      ["top 50 by total time, last 24 hours", "/api/v1/queries?since=24h"],
      ["top 50 by average time, last 24 hours, one pipeline", "/api/v1/queries?since=24h&order=avg_ms&pipeline=bench_seed"],
      // Query 1 is the hottest of the seed (with 1M events, ~70k in the day: a row in every minute), 12345 one of the
      // tail (3 events); the default window is the last 24 hours, in buckets of 15 minutes.
      ["series of the hottest query, last 24 hours (15 min steps)", `/api/v1/queries/${hot}/series`],
      ["series of the hottest query, last 24 hours (1 h steps)", `/api/v1/queries/${hot}/series?step=1h`],
      ["series of a tail query, last 24 hours (15 min steps)", `/api/v1/queries/${tail}/series`],
      ["page 200 (offset 10000), one pipeline", "/api/v1/queries?pipeline=bench_seed&offset=10000"]
    ] as const
    const before = await pipelineStatus(address)
    const rows: Array<string> = []
    // The first scenario (the all-time ranking, one indexed read) is the peer of the others: on a shared machine the
    // absolute figures move with the load, their ratio to it much less.
    let peer: { readonly p50: number; readonly p99: number } | undefined
    const times = (value: number, of: number | undefined) => (of === undefined || of === 0 ? "-" : `${(value / of).toFixed(1)}×`)
    for (const [name, path] of mode === "load" ? [] : scenarios) {
      const result = await autocannon({
        url: `${address}${path}`,
        connections: 10,
        duration: seconds,
        headers: { authorization: `Bearer ${token}` }
      })
      peer ??= { p50: result.latency.p50, p99: result.latency.p99 }
      rows.push(
        `| ${name} | \`${path}\` | ${result.latency.p50} | ${result.latency.p99} | ${times(result.latency.p50, peer.p50)} / ${times(result.latency.p99, peer.p99)} | ${result.latency.max} | ${Math.round(result.requests.average)} | ${result.requests.total} | ${result.errors} | ${result.timeouts} | ${result.non2xx} |`
      )
      console.log(`${name}: done`)
    }

    const loadRows: Array<string> = []
    const probeRows: Array<string> = []
    const readyRows: Array<string> = []
    for (const connections of mode === "reads" ? [] : loads) {
      const rss = rssSampler(pid)
      const rssBefore = rss.stop()
      const sampler = rssSampler(pid)
      const probes = await prober(address)
      const dropsBefore = listenDrops()
      const result = await autocannon({
        url: `${address}/api/v1/queries?limit=50`,
        connections,
        duration: seconds,
        headers: { authorization: `Bearer ${token}` }
      })
      const ended = performance.now()
      const samples = await probes.stop()
      const drops = listenDrops() - dropsBefore
      // How long after the load a readiness probe gets its 200: abandoned work must not hold the store.
      let readyAfter = Number.NaN
      for (let attempt = 0; attempt < 600 && Number.isNaN(readyAfter); attempt++) {
        const { status } = await probe(address, "/readyz", 5_000)
        if (status === 200) readyAfter = performance.now() - ended
        else await sleep(100)
      }
      const peak = sampler.stop()
      const codes = result.statusCodeStats as Record<string, { readonly count: number } | undefined>
      const count = (code: string) => codes[code]?.count ?? 0
      const answered = Object.values(codes).reduce((sum, s) => sum + (s?.count ?? 0), 0)
      const ok = Object.entries(codes).reduce((sum, [code, s]) => sum + (code.startsWith("2") ? (s?.count ?? 0) : 0), 0)
      loadRows.push(
        `| ${connections} | ${Math.round(result.requests.average)} | ${Math.round(ok / seconds)} | ${result.latency.p50} | ${result.latency.p99} | ${ok} | ${count("503")} | ${answered - ok - count("503")} | ${result.errors} | ${result.timeouts} | ${mb(rssBefore)} → ${mb(peak)} |`
      )
      for (const [kind, taken] of Object.entries(samples)) {
        const answered = taken.filter((sample) => sample.status === 200).map((sample) => sample.ms)
        const handshakes = taken.filter((sample) => sample.connectMs >= 0).map((sample) => sample.connectMs)
        probeRows.push(
          `| ${connections} | ${kind} | ${taken.length} | ${ms(quantile(answered, 0.5))} | ${ms(quantile(answered, 0.99))} | ${ms(Math.max(...answered))} | ${taken.length - answered.length} | ${handshakes.length === 0 ? "-" : `${ms(quantile(handshakes, 0.99))} / ${ms(Math.max(...handshakes))}`} | ${drops} |`
        )
      }
      readyRows.push(`| ${connections} | ${ms(readyAfter)} |`)
      console.log(`GET /api/v1/queries?limit=50 at ${connections} connections: done`)
      // The next load starts on a settled server.
      await sleep(2000)
    }

    const after = await pipelineStatus(address)
    feeding = false
    await feed
    console.log("")
    console.log(
      `${seconds} s per run, loopback, ${fingerprints.toLocaleString("en-US")} fingerprints and ${events.toLocaleString("en-US")} events of the last 24 hours in the store`
    )
    console.log("")
    console.log("Read scenarios at 10 connections:")
    console.log("")
    console.log("| scenario | path | p50 ms | p99 ms | p50 / p99 vs the first | max ms | req/s | requests | errors | timeouts | non-2xx |")
    console.log("|---|---|---|---|---|---|---|---|---|---|---|")
    for (const row of rows) console.log(row)
    console.log("")
    console.log("GET /api/v1/queries?limit=50 by connections:")
    console.log("")
    console.log("| connections | answers/s | 2xx/s | p50 ms | p99 ms | 2xx | 503 | other | errors | timeouts | server RSS MB (before → peak) |")
    console.log("|---|---|---|---|---|---|---|---|---|---|---|")
    for (const row of loadRows) console.log(row)
    console.log("")
    console.log("Probes during that load, from a process of their own, each kind every 100 ms: a new connection per probe")
    console.log("(a container health check) and one kept-alive connection opened before the load (a monitoring agent);")
    console.log("handshake: ms to the TCP handshake of a new connection; listen drops: SYNs the kernel dropped meanwhile:")
    console.log("")
    console.log("| connections | probe | probes | p50 ms | p99 | max | not 200 | handshake p99 / max ms | listen drops |")
    console.log("|---|---|---|---|---|---|---|---|---|")
    for (const row of probeRows) console.log(row)
    console.log("")
    console.log("| connections | /readyz 200 after the load, ms |")
    console.log("|---|---|")
    for (const row of readyRows) console.log(row)
    console.log("")
    console.log(`pipeline bench_http (every 1s) totals before the load: ${before}`)
    console.log(`pipeline bench_http (every 1s) totals after the load:  ${after}`)
    const errors = log.split("\n").filter((line) => /level=(ERROR|WARN)/.test(line))
    console.log(`daemon log: ${errors.length} warning/error lines${errors.length === 0 ? "" : `, the first: ${errors[0]}`}`)
  } finally {
    feeding = false
    if (daemon !== undefined && daemon.exitCode === null) {
      const exited = new Promise((resolve) => daemon?.on("close", resolve))
      daemon.kill("SIGTERM")
      // Bounded: a daemon that has not stopped 10 s after SIGTERM is killed, and that is said.
      const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
      if (!stopped) {
        console.log("slowq run did not stop within 10 s of SIGTERM (a run was in flight); killed")
        daemon.kill("SIGKILL")
        await exited
      }
    }
    rmSync(dir, { recursive: true, force: true })
    psql("postgres", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  }
}

await run()
