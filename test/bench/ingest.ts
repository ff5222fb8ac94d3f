/**
 * npm run bench:ingest [-- ROWS]
 *
 * End-to-end ingest rate: fills the local MariaDB's mysql.slow_log with ROWS statements (default 100k; the
 * table is truncated first), then times `slowq once` reading them into a fresh store database and reports
 * rows/s and the peak RSS of the slowq process (GNU time). No peer exists for this path; pt-query-digest
 * cannot read a slow_log table into a store.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const rows = Number(process.argv[2] ?? 100_000)
const root = fileURLToPath(new URL("../..", import.meta.url))
const marker = `bench_${Date.now().toString(36)}`
const database = `slowq_bench_${marker}`
const mariadb = (sql: string) =>
  execFileSync("mariadb", ["-c", "-N", "-B", "-h", "127.0.0.1", "-uroot", "test"], { input: sql, maxBuffer: 1 << 30 }).toString()
const psql = (sql: string) => execFileSync("psql", ["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql])

mariadb("TRUNCATE TABLE mysql.slow_log")
const statements: Array<string> = []
for (let i = 0; i < rows; i++) {
  statements.push(
    i % 3 === 0
      ? `SELECT /* ${marker} */ ${i} AS n FROM DUAL WHERE ${i} IN (1, 2, ${i});`
      : i % 3 === 1
        ? `SELECT /* ${marker} */ 'user-${i}@example.com' AS email, ${i} * 2 AS twice;`
        : `DO /* ${marker} */ ${i};`
  )
}
process.stdout.write(`filling mysql.slow_log with ${rows} rows… `)
mariadb(statements.join("\n"))
const inLog = Number(mariadb("SELECT COUNT(*) FROM mysql.slow_log").trim())
console.log(`${inLog} rows in mysql.slow_log`)

psql(`CREATE DATABASE ${database}`)
const dir = mkdtempSync(join(tmpdir(), "slowq-bench-"))
writeFileSync(
  join(dir, "bench.yaml"),
  "name: bench_lab\nschedule:\n  every: 1h\nsource:\n  type: mysql_slow_log_table\n  url: mysql://root@127.0.0.1:3306/test\n"
)
try {
  const started = process.hrtime.bigint()
  const run = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, join(root, "src/bin/slowq.js"), "once", "bench_lab", "--pipelines", dir], {
    env: { ...process.env, SLOWQ_STORE_URL: `postgres://postgres@127.0.0.1:5432/${database}`, SLOWQ_LOG_LEVEL: "warning" },
    encoding: "utf8"
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (run.status !== 0) throw new Error(`slowq once failed:\n${run.stdout}\n${run.stderr}`)
  const peakKb = Number(run.stderr.trim().split("\n").at(-1))
  const written = Number(/written=(\d+)/.exec(run.stdout)?.[1])
  console.log(run.stdout.trim())
  console.log("")
  console.log("| what | figure |")
  console.log("|---|---|")
  console.log(`| slow_log rows stored | ${written} |`)
  console.log(`| wall time (process start to exit) | ${seconds.toFixed(2)} s |`)
  console.log(`| ingest rate | ${Math.round(written / seconds).toLocaleString("en-US")} rows/s |`)
  console.log(`| peak RSS of slowq | ${(peakKb / 1024).toFixed(0)} MB |`)
} finally {
  rmSync(dir, { recursive: true, force: true })
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  mariadb("TRUNCATE TABLE mysql.slow_log")
}
