/**
 * npm run bench:analyze-mix [-- REQUESTS [SCALE]]   (web requests of the mix, default 2000; data scale, default 5)
 *
 * The analyzer on a realistic mix, for the closing note of issue 12: the explain stage's web-shop mix
 * (test/support/explain/WebShopMix.ts) run for real, then collected by `slowq once` as a user would, through
 *   - PostgreSQL: pg_stat_statements → explain → analyze (index advice verified with HypoPG);
 *   - MariaDB: a slow log FILE written here from the statements as they ran (measured times; Rows_examined is not
 *     known from the client and written as 0) → explain → analyze (index advice verified in a sandbox database of
 *     the script's, with every row copied). A generated file, not mysql.slow_log, so that the tests that share the
 *     server's slow log table are not disturbed.
 * into a scratch store database. Prints the open findings per rule, the index suggestions verified and unverified,
 * the median and quartiles of the verified cost reductions, and the analyzer's time: each source is collected three
 * times under three pipeline names (each explains and analyzes everything afresh), with debug logs, and the
 * analyzer's time of a run is, per batch, from the explain stage's "processed a batch" to the analyze stage's (the
 * stages run one after the other), summed; the median run is printed. The `slowq once` wall time itself swings by
 * a second from run to run on this shared machine, which is why the difference with an explain-only run is not used.
 *
 * The schema is the mix's, its tables grown SCALE times (SCALE 5: 100,000 orders and order items, 25,000 customers
 * and sessions, 10,000 products), so that scans of the big tables cost what they cost in a shop. Every database
 * it makes (the watched PostgreSQL and MariaDB databases, the sandbox and the store) is dropped at the end.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import mysql from "mysql2/promise"
import { cliPath, projectRoot } from "../support/Cli.js"
import { mariadbSchema, mixWorkload, postgresSchema } from "../support/explain/WebShopMix.js"

const requests = Number(process.argv[2] ?? 2000)
const scale = Math.max(1, Math.floor(Number(process.argv[3] ?? 5)))
const marker = `mix_${Date.now().toString(36)}`
const pgDb = `slowq_${marker}`
const myDb = `slowq_${marker}`
const storeDb = `slowq_${marker}_store`
const sandboxDb = `slowq_${marker}_sandbox`
/** Rows per table the MariaDB advisor copies into its sandbox: all of them, so its plans are the watched ones'. */
const sandboxRows = 1_000_000
const pgBase = "postgres://postgres@127.0.0.1:5432"
const storeUrl = `${pgBase}/${storeDb}`

const psql = (database: string, sql: string, stopOnError = true) =>
  execFileSync(
    "psql",
    ["-X", "-q", "-t", "-A", "-F", "\t", "-v", `ON_ERROR_STOP=${stopOnError ? 1 : 0}`, "-h", "127.0.0.1", "-U", "postgres", "-d", database],
    { input: sql, maxBuffer: 1 << 28, stdio: ["pipe", "pipe", stopOnError ? "pipe" : "ignore"] }
  ).toString()
const mariadb = (database: string, sql: string) =>
  execFileSync("mariadb", ["-N", "-B", "-r", "-h", "127.0.0.1", "-uroot", database], { input: sql, maxBuffer: 1 << 28 }).toString()

/** The mix's tables grown SCALE times, with rows of the same shape as the mix's own. */
const growPostgres = (s: number) => `
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'Customer ' || g, now() - g * interval '1 minute' FROM generate_series(5001, ${5000 * s}) g;
INSERT INTO products SELECT g, 'SKU' || g, 'Product ' || g, g % 100 + 0.99, 1000 FROM generate_series(2001, ${2000 * s}) g;
INSERT INTO orders (customer_id, status, total, created_at) SELECT g % ${5000 * s} + 1, (ARRAY['pending','paid','shipped'])[g % 3 + 1], g % 300, now() - g * interval '1 minute' FROM generate_series(20001, ${20000 * s}) g;
INSERT INTO order_items SELECT g, g % ${2000 * s} + 1, 1, 9.99 FROM generate_series(20001, ${20000 * s}) g;
INSERT INTO sessions SELECT md5(g::text), g, now() + interval '1 day' FROM generate_series(5001, ${5000 * s}) g;
SELECT pg_stat_force_next_flush();`
const growMariadb = (s: number) => `
INSERT INTO customers SELECT seq, CONCAT('c', seq, '@example.com'), CONCAT('Customer ', seq), NOW() - INTERVAL seq MINUTE FROM seq_5001_to_${5000 * s};
INSERT INTO products SELECT seq, CONCAT('SKU', seq), CONCAT('Product ', seq), seq % 100 + 0.99, 1000 FROM seq_2001_to_${2000 * s};
INSERT INTO orders (customer_id, status, total, created_at) SELECT seq % ${5000 * s} + 1, ELT(seq % 3 + 1, 'pending', 'paid', 'shipped'), seq % 300, NOW() - INTERVAL seq MINUTE FROM seq_20001_to_${20000 * s};
INSERT INTO order_items SELECT seq, seq % ${2000 * s} + 1, 1, 9.99 FROM seq_20001_to_${20000 * s};
INSERT INTO sessions SELECT MD5(seq), seq, NOW() + INTERVAL 1 DAY FROM seq_5001_to_${5000 * s};
ANALYZE TABLE customers, products, orders, order_items, sessions;`

const pipelineYaml = (
  name: string,
  source: ReadonlyArray<string>,
  analyze: boolean,
  explainUrl?: string,
  analyzeOptions: ReadonlyArray<string> = []
) =>
  [
    `name: ${name}`,
    "schedule:",
    "  every: 1h",
    "source:",
    ...source,
    "stages:",
    "  - type: explain",
    "    max_per_run: 1000",
    ...(explainUrl === undefined ? [] : [`    explain_url: ${explainUrl}`]),
    ...(analyze ? ["  - type: analyze", "    max_advice_per_run: 1000", ...analyzeOptions.map((line) => `    ${line}`)] : []),
    ""
  ].join("\n")

interface Once {
  readonly durationMs: number
  readonly events: number
  /** The analyze stage's own time in the run: per batch, from the explain stage's end to its own (debug logs). */
  readonly analyzeMs: number
  readonly batches: number
  readonly warnings: ReadonlyArray<string>
}

const timeOf = (line: string) => Date.parse(/timestamp=(\S+)/.exec(line)?.[1] ?? "")

/** `slowq once NAME` as a user runs it; its duration as it reports it. */
const once = (name: string, dir: string): Once => {
  const run = spawnSync(process.execPath, [cliPath, "once", name, "--pipelines", dir], {
    cwd: projectRoot,
    env: { ...process.env, SLOWQ_STORE_URL: storeUrl, SLOWQ_HTTP_ADDR: "127.0.0.1:0", SLOWQ_LOG_LEVEL: "debug" },
    maxBuffer: 1 << 28
  })
  const stdout = run.stdout.toString()
  const match = new RegExp(`^${name} {2}ok {2}events=(\\d+) .*duration_ms=(\\d+)`, "m").exec(stdout)
  if (run.status !== 0 || match === null) {
    throw new Error(`slowq once ${name} failed (exit ${run.status}):\n${stdout}\n${run.stderr.toString()}`)
  }
  const lines = run.stderr.toString().split("\n")
  // The stages run one after the other on each batch: explain ends, analyze starts at once and logs when it ends.
  let explainEnd: number | undefined
  let analyzeMs = 0
  let batches = 0
  for (const line of lines) {
    if (line.includes('message="explain stage processed a batch"')) explainEnd = timeOf(line)
    else if (line.includes('message="analyze stage processed a batch"') && explainEnd !== undefined) {
      analyzeMs += timeOf(line) - explainEnd
      batches++
      explainEnd = undefined
    }
  }
  const warnings = lines.filter((line) => /level=(WARN|ERROR)/.test(line))
  return { events: Number(match[1]), durationMs: Number(match[2]), analyzeMs, batches, warnings }
}

const ROUNDS = 3

/**
 * Collects the same source ROUNDS times, each under a pipeline of its own (its own checkpoint and explain memory:
 * every run reads, explains and analyzes everything afresh). The findings reported are the first pipeline's.
 */
const collect = (
  label: string,
  source: ReadonlyArray<string>,
  explainUrl?: string,
  analyzeOptions: ReadonlyArray<string> = []
) => {
  const dir = mkdtempSync(join(tmpdir(), "slowq-mix-"))
  try {
    const analyzed: Array<Once> = []
    for (let round = 1; round <= ROUNDS; round++) {
      const name = `${label}_${round}`
      writeFileSync(join(dir, `${name}.yaml`), pipelineYaml(name, source, true, explainUrl, analyzeOptions))
      analyzed.push(once(name, dir))
    }
    return { pipeline: `${label}_1`, analyzed }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const rows = (sql: string): Array<Array<string>> =>
  psql(storeDb, sql)
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => line.split("\t"))

const pct = (x: string | undefined) => (x === undefined || x === "" ? "-" : `${(Number(x) * 100).toFixed(1)}%`)

const report = (label: string, run: ReturnType<typeof collect>) => {
  const p = run.pipeline
  const queries = Number(rows(`SELECT count(*) FROM slowq_queries WHERE pipeline = '${p}'`)[0]?.[0] ?? 0)
  console.log(`\n== ${label}: pipeline ${p} ==`)
  console.log(`events collected ${run.analyzed[0]!.events}, distinct queries ${queries}`)
  const [planned] = rows(
    `SELECT count(*) FROM slowq_stage_memory WHERE pipeline = '${p}' AND stage = 'explain' AND value ? 'hash'`
  )
  console.log(`queries with a plan from the explain stage: ${planned?.[0] ?? 0} of ${queries}`)
  console.log("open findings per rule:")
  const perRule = rows(
    `SELECT rule, severity, count(*), round(avg(reduction)::numeric, 3) FROM slowq_findings
     WHERE pipeline = '${p}' AND resolved_at IS NULL GROUP BY rule, severity ORDER BY count(*) DESC, rule`
  )
  let total = 0
  for (const [rule, severity, count, reduction] of perRule) {
    total += Number(count)
    console.log(`  ${rule!.padEnd(30)} ${severity!.padEnd(5)} ${count!.padStart(4)}   mean reduction ${reduction}`)
  }
  console.log(`  ${"total".padEnd(30)} ${"".padEnd(5)} ${String(total).padStart(4)}`)
  console.log("open findings, by impact (reduction × the query's stored time):")
  for (const [rule, reduction, impact, sample] of rows(
    `SELECT f.rule, round(f.reduction::numeric, 3), round((f.reduction * q.total_ms)::numeric, 1),
            left(regexp_replace(q.sample, '\\s+', ' ', 'g'), 90)
     FROM slowq_findings f JOIN slowq_queries q USING (pipeline, query_id)
     WHERE f.pipeline = '${p}' AND f.resolved_at IS NULL ORDER BY f.reduction * q.total_ms DESC, f.rule`
  )) {
    console.log(`  ${rule!.padEnd(28)} ${reduction!.padStart(5)} ${`${impact} ms`.padStart(10)}  ${sample}`)
  }
  const [advice] = rows(
    `SELECT count(*) FILTER (WHERE verified IS NOT NULL AND verified <> 'null'::jsonb),
            count(*) FILTER (WHERE verified IS NULL OR verified = 'null'::jsonb)
     FROM slowq_findings WHERE pipeline = '${p}' AND resolved_at IS NULL AND source = 'index_advice'`
  )
  console.log(`index suggestions: verified ${advice?.[0] ?? 0}, unverified ${advice?.[1] ?? 0}`)
  const [quartiles] = rows(
    `SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY reduction), percentile_cont(0.5) WITHIN GROUP (ORDER BY reduction),
            percentile_cont(0.75) WITHIN GROUP (ORDER BY reduction)
     FROM slowq_findings WHERE pipeline = '${p}' AND resolved_at IS NULL AND source = 'index_advice'
       AND verified IS NOT NULL AND verified <> 'null'::jsonb`
  )
  console.log(
    `verified cost reduction: median ${pct(quartiles?.[1])}, quartiles ${pct(quartiles?.[0])} – ${pct(quartiles?.[2])}`
  )
  for (const [subject, reduction, cost] of rows(
    `SELECT subject, reduction, (verified->>'cost_before') || ' → ' || (verified->>'cost_after') FROM slowq_findings
     WHERE pipeline = '${p}' AND resolved_at IS NULL AND source = 'index_advice' ORDER BY reduction DESC, subject`
  )) {
    console.log(`  ${subject!.padEnd(36)} ${pct(reduction).padStart(6)}  cost ${cost === "" ? "(not verified)" : cost}`)
  }
  const stage = run.analyzed.map((x) => x.analyzeMs)
  const analyzer = median(stage)
  console.log(
    `slowq once (source → explain → analyze → store), ${run.analyzed.length} runs: duration_ms ${run.analyzed.map((x) => x.durationMs).join(", ")}; ` +
      `the analyze stage's share ${stage.join(", ")} ms over ${run.analyzed[0]!.batches} batch(es)`
  )
  console.log(
    `analyzer's time (median of the runs): ${analyzer.toFixed(0)} ms for ${queries} queries, ${(analyzer / Math.max(1, queries)).toFixed(1)} ms per query, index advice included`
  )
  // The superuser notice of the explain stage is expected here (the lab's own user); anything else is shown.
  const warnings = run.analyzed
    .flatMap((x) => x.warnings)
    .filter((line) => !line.includes("superuser") && !line.includes("has FILE or SUPER"))
  if (warnings.length > 0) console.log(`warnings logged (${warnings.length}):\n  ${warnings.slice(0, 10).join("\n  ")}`)
}

/** Runs the MariaDB mix on one connection, timing each statement, and writes it as a MariaDB 10.11 slow log. */
const mariadbSlowLog = async (statements: ReadonlyArray<string>, path: string) => {
  const connection = await mysql.createConnection({ host: "127.0.0.1", user: "root", database: myDb })
  const out: Array<string> = []
  let failed = 0
  try {
    const [[thread]] = (await connection.query("SELECT CONNECTION_ID() AS id")) as unknown as [[{ id: number }]]
    for (const sql of statements) {
      const started = Date.now()
      const t0 = process.hrtime.bigint()
      let sent = 0
      let affected = 0
      try {
        const [result] = await connection.query(sql)
        if (Array.isArray(result)) sent = result.length
        else if (typeof result === "object" && result !== null && "affectedRows" in result) affected = Number(result.affectedRows)
      } catch {
        failed++
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9
      const at = new Date(started)
      const two = (n: number) => String(n).padStart(2, "0")
      out.push(
        `# Time: ${two(at.getUTCFullYear() % 100)}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())} ${String(at.getUTCHours()).padStart(2, " ")}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())}`,
        "# User@Host: root[root] @ localhost [127.0.0.1]",
        `# Thread_id: ${thread.id}  Schema: ${myDb}  QC_hit: No`,
        `# Query_time: ${seconds.toFixed(6)}  Lock_time: 0.000000  Rows_sent: ${sent}  Rows_examined: 0`,
        `# Rows_affected: ${affected}  Bytes_sent: 0`,
        `use ${myDb};`,
        `SET timestamp=${Math.floor(started / 1000)};`,
        `${sql};`
      )
    }
  } finally {
    await connection.end()
  }
  writeFileSync(path, `${out.join("\n")}\n`)
  return failed
}

const main = async () => {
  const mysqlStatements = mixWorkload("mysql", marker, requests)
  const pgStatements = mixWorkload("postgres", marker, requests)
  console.log(
    `web-shop mix: ${requests} requests, ${pgStatements.length} PostgreSQL and ${mysqlStatements.length} MariaDB statements; data scale ${scale} (orders ${20_000 * scale}, customers ${5000 * scale}, products ${2000 * scale})`
  )
  const logDir = mkdtempSync(join(tmpdir(), "slowq-mixlog-"))
  psql("postgres", `CREATE DATABASE ${storeDb}`)
  try {
    // PostgreSQL: the mix's schema grown, pg_stat_statements counting only the mix, then the mix itself.
    psql("postgres", `CREATE DATABASE ${pgDb}`)
    psql(pgDb, `${postgresSchema}\nCREATE EXTENSION IF NOT EXISTS hypopg;\n${growPostgres(scale)}`)
    // ANALYZE once the inserts' counts reached pg_stat_user_tables (flushed when the loading session is idle): in the
    // same session, they would land after it and every table would read as modified since its last ANALYZE.
    psql(pgDb, "ANALYZE")
    psql(pgDb, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
    // Statements that fail (none should) are skipped, as an application's errors would be.
    psql(pgDb, pgStatements.map((s) => `${s};`).join("\n"), false)
    const pg = collect("mixpg", ["  type: postgres_pg_stat_statements", `  url: ${pgBase}/${pgDb}`, `  include_databases: [${pgDb}]`])
    report("PostgreSQL 15 (pg_stat_statements, HypoPG)", pg)

    // MariaDB: the same, through a slow log file written from the statements as they ran.
    mariadb("test", `CREATE DATABASE ${myDb}; CREATE DATABASE ${sandboxDb}`)
    mariadb(myDb, `${mariadbSchema}\n${growMariadb(scale)}`)
    const logPath = join(logDir, "mariadb-slow.log")
    const failed = await mariadbSlowLog(mysqlStatements, logPath)
    const my = collect(
      "mixmy",
      ["  type: mysql_slow_log_file", `  path: ${logPath}`, "  settle_ms: 0"],
      `mysql://root@127.0.0.1:3306/${myDb}`,
      // A file source reads no database: the advisor reads the catalog there, and verifies in a sandbox of its own.
      [
        `database_url: mysql://root@127.0.0.1:3306/${myDb}`,
        `sandbox_url: mysql://root@127.0.0.1:3306/${sandboxDb}`,
        `sandbox_sample_rows: ${sandboxRows}`
      ]
    )
    report(`MariaDB 10.11 (slow log file${failed > 0 ? `, ${failed} statements failed` : ""})`, my)
  } finally {
    rmSync(logDir, { recursive: true, force: true })
    psql("postgres", `DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`)
    psql("postgres", `DROP DATABASE IF EXISTS ${storeDb} WITH (FORCE)`)
    mariadb("test", `DROP DATABASE IF EXISTS ${myDb}; DROP DATABASE IF EXISTS ${sandboxDb}`)
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
