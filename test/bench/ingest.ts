/**
 * npm run bench:ingest [-- EVENTS [file|table|all] [BATCH]]
 *
 * End-to-end ingest into the store, in the same run as its peers:
 *
 * - file (default): a generated slow log file of EVENTS entries (default 100k; the digest benchmark's generator)
 *   read by `slowq once` into a fresh PostgreSQL store database, against pt-query-digest reading the same file (it
 *   aggregates in memory and stores nothing: the bar slowq must beat while also storing every event), and against a
 *   raw `COPY` of the stored rows into an empty copy of slowq_events (the floor for writing them). With
 *   pg_stat_statements loaded, also how long PostgreSQL spent executing slowq's statements (the rest of the wall time
 *   is slowq's own work that the store's did not overlap). Then the same file into the embedded store (PGlite),
 *   reported on its own, after the store is created by a first command (`slowq report`: initdb and migrations, a
 *   one-time cost reported apart). Peak RSS of each process (GNU time), and of `slowq validate` of the same
 *   pipeline (an idle command: what loading the CLI costs). BATCH is the file source's batch_size
 *   (default: the source's default, 5000): each batch is one store statement.
 * - table: MariaDB's mysql.slow_log filled with EVENTS statements (the table is truncated first) read by `slowq once`
 *   (no peer reads a slow_log table into a store).
 *
 * Store size: the database's growth per event, then per tier: events within their replay window (a row each), the
 * same events once packed into blocks (entries two days later are appended and read, then `slowq prune` packs the
 * first run's events), and the two weighted as the default retention keeps them (one day unpacked of seven).
 *
 * Everything it creates is removed at the end. Run `npm run build` first to measure what users run (the bundle).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { writeSlowLog } from "../support/slowlog/GenerateSlowLog.js"

const events = Number(process.argv[2] ?? 100_000)
const mode = process.argv[3] ?? "file"
// The file source's own default (5000) unless BATCH is given.
const batchSize = process.argv[4] === undefined ? undefined : Number(process.argv[4])
const root = fileURLToPath(new URL("../..", import.meta.url))
const marker = `bench_${Date.now().toString(36)}`
const database = `slowq_bench_${marker}`
const storeUrl = `postgres://postgres@127.0.0.1:5432/${database}`
const mariadb = (sql: string) =>
  execFileSync("mariadb", ["-c", "-N", "-B", "-h", "127.0.0.1", "-uroot", "test"], { input: sql, maxBuffer: 1 << 30 }).toString()
const psql = (db: string, sql: string) =>
  execFileSync("psql", ["-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql]).toString()

interface Timed {
  readonly seconds: number
  readonly peakMb: number
  readonly stdout: string
}

/** Runs a command under GNU time: wall seconds and peak RSS. */
const timed = (command: string, args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}): Timed => {
  const merged: Record<string, string | undefined> = { ...process.env, SLOWQ_LOG_LEVEL: "warning", ...env }
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key]
  const started = process.hrtime.bigint()
  const run = spawnSync("/usr/bin/time", ["-f", "%M", command, ...args], { cwd: root, encoding: "utf8", maxBuffer: 1 << 30, env: merged })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (run.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${run.status}):\n${run.stdout}\n${run.stderr}`)
  return { seconds, peakMb: Number(run.stderr.trim().split("\n").at(-1)) / 1024, stdout: run.stdout }
}

const rate = (n: number, seconds: number) => `${Math.round(n / seconds).toLocaleString("en-US")}/s`
const slowqOnce = (dir: string, name: string, env: Record<string, string | undefined>) =>
  timed(process.execPath, [join(root, "src/bin/slowq.js"), "once", name, "--pipelines", dir], env)
const written = (run: Timed) => Number(/written=(\d+)/.exec(run.stdout)?.[1])

/** Seconds PostgreSQL spent executing statements in `db` (pg_stat_statements), or undefined without it. */
const executionSeconds = (db: string): number | undefined => {
  try {
    const ms = psql(
      "postgres",
      `SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '${db}'`
    )
    return Number(ms.trim()) / 1000
  } catch {
    return undefined
  }
}

const pipeline = (name: string, source: string) => `name: ${name}\nschedule:\n  every: 1h\nsource:\n${source}\n`

const benchFile = async (dir: string) => {
  const log = join(dir, "slow.log")
  process.stdout.write(`writing a ${events.toLocaleString("en-US")}-entry slow log… `)
  await writeSlowLog(log, { events, seed: 42 })
  const mb = statSync(log).size / 1e6
  console.log(`${mb.toFixed(0)} MB`)
  const pipelines = join(dir, "pipelines")
  execFileSync("mkdir", ["-p", pipelines])
  writeFileSync(
    join(pipelines, "file.yaml"),
    pipeline("bench_file", `  type: mysql_slow_log_file\n  path: ${log}\n  settle_ms: 0${batchSize === undefined ? "" : `\n  batch_size: ${batchSize}`}`)
  )

  // What loading the CLI costs a command that reads the same pipeline and stores nothing.
  const idle = timed(process.execPath, [join(root, "src/bin/slowq.js"), "validate", "--pipelines", pipelines])
  psql("postgres", `CREATE DATABASE ${database}`)
  const databaseSize = () => Number(psql(database, "SELECT pg_database_size(current_database())").trim())
  // What an empty database already takes (its catalogs: ~7 MB) is not the store's.
  const emptyBytes = databaseSize()
  const slowq = slowqOnce(pipelines, "bench_file", { SLOWQ_STORE_URL: storeUrl })
  const stored = written(slowq)
  const executing = executionSeconds(database)
  // Measured before the COPY below adds its copy of the events.
  const grownBytes = databaseSize() - emptyBytes
  const bytesPerEvent = grownBytes / stored
  const relationBytes = (table: string) => Number(psql(database, `SELECT pg_total_relation_size('${table}')`).trim())
  const hotBytes = relationBytes("slowq_events")
  const otherBytes = grownBytes - hotBytes
  // The other tables are updated by every batch (a query's totals, its minute and hour): most of their bytes are dead
  // row versions until autovacuum makes them reusable. What is live, as a store holds it in its steady state:
  psql(database, "VACUUM FULL slowq_queries, slowq_rollups_minute, slowq_rollups_hour, slowq_samples")
  const liveOtherBytes = databaseSize() - emptyBytes - hotBytes
  // The floor: the same rows written by COPY into an empty copy of the table, indexes included.
  const copyFile = join(dir, "events.copy")
  execFileSync("chmod", ["777", dir])
  psql(database, `COPY slowq_events TO '${copyFile}'`)
  psql(database, "CREATE TABLE copy_target (LIKE slowq_events INCLUDING ALL)")
  const copyStarted = process.hrtime.bigint()
  psql(database, `COPY copy_target FROM '${copyFile}'`)
  const copySeconds = Number(process.hrtime.bigint() - copyStarted) / 1e9
  // Packing: entries two days later move the pipeline's newest event, so that every event of the first run is past
  // its replay window; `slowq prune` (with a retention reaching back to the log's 2024 dates) packs them into blocks.
  const later = join(dir, "later.log")
  await writeSlowLog(later, { events: 10, seed: 7, banner: false, startEpochSeconds: 1_705_276_800 + 2 * 86_400 })
  execFileSync("sh", ["-c", `cat '${later}' >> '${log}'`])
  slowqOnce(pipelines, "bench_file", { SLOWQ_STORE_URL: storeUrl })
  const pack = timed(process.execPath, [join(root, "src/bin/slowq.js"), "prune"], {
    SLOWQ_STORE_URL: storeUrl,
    SLOWQ_RETAIN_EVENTS: "3650d",
    SLOWQ_RETAIN_MINUTES: "3650d",
    SLOWQ_RETAIN_HOURS: "3650d"
  })
  const packed = Number(/packed=(\d+)/.exec(pack.stdout)?.[1])
  const packedBytes = relationBytes("slowq_event_blocks")
  const pt = timed("pt-query-digest", ["--limit", "20", log])
  const embeddedDir = join(dir, "embedded")
  const embedded = { SLOWQ_STORE_DIR: embeddedDir, SLOWQ_STORE_URL: undefined }
  const created = timed(process.execPath, [join(root, "src/bin/slowq.js"), "report"], embedded)
  const pglite = slowqOnce(pipelines, "bench_file", embedded)

  console.log("")
  console.log(`| ${events.toLocaleString("en-US")} events, ${mb.toFixed(0)} MB, batches of ${batchSize ?? "5000 (the default)"} | wall s | events/s | peak RSS MB | vs slowq → PostgreSQL |`)
  console.log("|---|---|---|---|---|")
  console.log(`| slowq once → PostgreSQL store (${stored} stored) | ${slowq.seconds.toFixed(2)} | ${rate(stored, slowq.seconds)} | ${slowq.peakMb.toFixed(0)} | 1.00 |`)
  if (executing !== undefined) {
    console.log(`| of which PostgreSQL executing slowq's statements (pg_stat_statements) | ${executing.toFixed(2)} | - | - | ${(executing / slowq.seconds).toFixed(2)} of slowq's time |`)
  }
  console.log(`| slowq validate of the same pipeline (an idle command) | ${idle.seconds.toFixed(2)} | - | ${idle.peakMb.toFixed(0)} | - |`)
  console.log(`| pt-query-digest (aggregates in memory, stores nothing) | ${pt.seconds.toFixed(2)} | ${rate(events, pt.seconds)} | ${pt.peakMb.toFixed(0)} | ${(pt.seconds / slowq.seconds).toFixed(2)}× slowq's time |`)
  console.log(`| raw COPY of the stored rows (indexes included) | ${copySeconds.toFixed(2)} | ${rate(stored, copySeconds)} | - | slowq takes ${(slowq.seconds / copySeconds).toFixed(2)}× |`)
  console.log(`| creating the embedded store (PGlite initdb and migrations, once per store: slowq report) | ${created.seconds.toFixed(2)} | - | ${created.peakMb.toFixed(0)} | - |`)
  console.log(`| slowq once → embedded store (PGlite) (${written(pglite)} stored) | ${pglite.seconds.toFixed(2)} | ${rate(written(pglite), pglite.seconds)} | ${pglite.peakMb.toFixed(0)} | ${(pglite.seconds / slowq.seconds).toFixed(2)}× slowq's time |`)
  console.log("")
  console.log(`store size per event (the PostgreSQL database's growth: all tables and indexes, dead rows included): ${bytesPerEvent.toFixed(0)} bytes`)
  const hot = hotBytes / stored
  const cold = packedBytes / packed
  const other = otherBytes / stored
  const liveOther = liveOtherBytes / stored
  console.log(`  of which events within the replay window (slowq_events, its indexes): ${hot.toFixed(0)} bytes; the rest (rollups, totals, samples): ${other.toFixed(0)} bytes, ${liveOther.toFixed(0)} of them live (the rest dead versions of rows the batches updated, until autovacuum)`)
  console.log(`  the same events packed past the replay window (slowq_event_blocks, TOAST included; slowq prune packed ${packed.toLocaleString("en-US")} in ${pack.seconds.toFixed(2)} s, ${rate(packed, pack.seconds)}, peak RSS ${pack.peakMb.toFixed(0)} MB): ${cold.toFixed(0)} bytes`)
  console.log(`  a store of the default retention at this rate (7 days of events, the newest day unpacked, live rows): ${((hot + 6 * cold) / 7 + liveOther).toFixed(0)} bytes per event`)
}

const benchTable = (dir: string) => {
  mariadb("TRUNCATE TABLE mysql.slow_log")
  const statements: Array<string> = []
  for (let i = 0; i < events; i++) {
    statements.push(
      i % 3 === 0
        ? `SELECT /* ${marker} */ ${i} AS n FROM DUAL WHERE ${i} IN (1, 2, ${i});`
        : i % 3 === 1
          ? `SELECT /* ${marker} */ 'user-${i}@example.com' AS email, ${i} * 2 AS twice;`
          : `DO /* ${marker} */ ${i};`
    )
  }
  process.stdout.write(`filling mysql.slow_log with ${events} rows… `)
  mariadb(statements.join("\n"))
  console.log(`${Number(mariadb("SELECT COUNT(*) FROM mysql.slow_log").trim())} rows in mysql.slow_log`)
  const pipelines = join(dir, "table-pipelines")
  execFileSync("mkdir", ["-p", pipelines])
  writeFileSync(
    join(pipelines, "table.yaml"),
    pipeline("bench_table", "  type: mysql_slow_log_table\n  url: mysql://root@127.0.0.1:3306/test")
  )
  const db = `${database}_table`
  psql("postgres", `CREATE DATABASE ${db}`)
  try {
    const run = slowqOnce(pipelines, "bench_table", { SLOWQ_STORE_URL: `postgres://postgres@127.0.0.1:5432/${db}` })
    console.log("")
    console.log("| mysql.slow_log → PostgreSQL store | wall s | rows/s | peak RSS MB |")
    console.log("|---|---|---|---|")
    console.log(`| slowq once (${written(run)} stored) | ${run.seconds.toFixed(2)} | ${rate(written(run), run.seconds)} | ${run.peakMb.toFixed(0)} |`)
  } finally {
    psql("postgres", `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
    mariadb("TRUNCATE TABLE mysql.slow_log")
  }
}

/** The newest .ts under `dir`: src/bin/slowq.js runs the sources through tsx, not the bundle, when one is newer. */
const newestSource = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return Math.max(newest, newestSource(path))
    return entry.name.endsWith(".ts") ? Math.max(newest, statSync(path).mtimeMs) : newest
  }, 0)
const bundled = (() => {
  try {
    const built = statSync(join(root, "dist/slowq.mjs")).mtimeMs
    return built >= newestSource(join(root, "src")) && built >= newestSource(join(root, "plugins"))
  } catch {
    return false
  }
})()
if (!bundled) console.log("WARNING: dist/ is older than the sources: slowq runs through tsx (slower, more memory); run npm run build")

const dir = mkdtempSync(join(tmpdir(), "slowq-bench-ingest-"))
try {
  if (mode === "file" || mode === "all") await benchFile(dir)
  if (mode === "table" || mode === "all") benchTable(dir)
} finally {
  rmSync(dir, { recursive: true, force: true })
  psql("postgres", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
}
