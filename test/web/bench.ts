/**
 * npm run bench:web [-- RUNS]
 *
 * The dashboard's goals (issue 14): the JavaScript a first visit loads (gzipped, as the daemon sends it), and how
 * long the queries page takes to show its first rows in headless Chromium with 100k fingerprints in the store.
 * Starts `slowq run` (the built dashboard in dist/web: run `npm run build` first) on a fresh store database with the
 * demo pipeline, adds 100k fingerprints of a pipeline `bench_seed` to its totals (slowq_queries, what every ranking
 * of all time reads), then opens each page RUNS times (default 7) in a new browser context (nothing cached) and
 * prints the median and the spread of the time from navigation start to the first row in the table. Prints figures;
 * asserts nothing. Everything it creates is dropped at the end.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { loadavg } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { chromium } from "playwright-core"

const runs = Number(process.argv[2] ?? 7)
const fingerprints = 100_000
const root = fileURLToPath(new URL("../..", import.meta.url))
const database = `slowq_benchweb_${Date.now().toString(36)}`

const psql = (db: string, sql: string) =>
  execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql])

const seedSql = `
INSERT INTO slowq_queries (pipeline, query_id, fingerprint, dialect, statement_type, read_only, tables, first_seen,
  last_seen, events, calls, total_ms, max_ms, lock_ms, rows_sent, rows_examined, rows_affected, sample)
SELECT 'bench_seed', upper(lpad(to_hex(q), 16, '0')),
  'select o.id, o.total, c.email from orders_' || q || ' o join customers c on c.id = o.customer_id where o.id = ?',
  'mysql', 'select', true, ARRAY['shop.orders', 'shop.customers'], now() - interval '1 day', now(), c, c,
  c * (random() * 100), random() * 1000, random(), c, c * 1000, 0, 'SELECT 1'
FROM (SELECT q, 1 + floor(random() * 1000)::int AS c FROM generate_series(1, ${fingerprints}) q) s;
ANALYZE slowq_queries;`

/** The files index.html loads at once (its script, the chunks it preloads and its stylesheet), gzipped. */
const initialBytes = () => {
  const dir = join(root, "dist", "web")
  const html = readFileSync(join(dir, "index.html"), "utf8")
  const files = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!)
  const sizes = files.map((file) => ({ file, gzip: gzipSync(readFileSync(join(dir, file)), { level: 9 }).length }))
  return {
    js: sizes.filter((s) => s.file.endsWith(".js")).reduce((sum, s) => sum + s.gzip, 0),
    css: sizes.filter((s) => s.file.endsWith(".css")).reduce((sum, s) => sum + s.gzip, 0)
  }
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const startDaemon = () =>
  new Promise<{ child: ChildProcess; base: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "src", "bin", "slowq.js"), "run", "--pipelines", join(root, "pipelines", "demo")], {
      cwd: root,
      env: {
        ...process.env,
        SLOWQ_STORE_URL: `postgres://postgres@127.0.0.1:5432/${database}`,
        SLOWQ_HTTP_ADDR: "127.0.0.1:0",
        SLOWQ_RETAIN_EVENTS: "36500d",
        SLOWQ_RETAIN_MINUTES: "36500d",
        SLOWQ_RETAIN_HOURS: "36500d"
      },
      stdio: ["ignore", "ignore", "pipe"]
    })
    let log = ""
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString("utf8")
      const match = /HTTP API listening on (http:\/\/[\d.:]+)/.exec(log)
      if (match !== null) resolve({ child, base: match[1]! })
    })
    child.on("exit", (code) => reject(new Error(`slowq run exited ${code}:\n${log}`)))
  })

const main = async () => {
  const size = initialBytes()
  console.log(`initial load: ${(size.js / 1024).toFixed(1)} KB of JavaScript, ${(size.css / 1024).toFixed(1)} KB of CSS, gzipped (goal: JS <= 250 KB)`)
  psql("postgres", `CREATE DATABASE ${database}`)
  let daemon: { child: ChildProcess; base: string } | undefined
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--disable-gpu"] })
  try {
    daemon = await startDaemon()
    psql(database, seedSql)
    const pages = [
      { name: "queries, all time by total time", path: "/" },
      { name: "queries, all time by calls", path: "/?order=calls" },
      { name: "queries, page 1,001 (offset 50,000)", path: "/?offset=50000" }
    ]
    console.log(`${fingerprints.toLocaleString("en-US")} fingerprints seeded; ${runs} cold loads per page (new browser context each); load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`)
    for (const { name, path } of pages) {
      const times: Array<number> = []
      for (let i = 0; i < runs; i++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
        const page = await context.newPage()
        await page.goto(`${daemon.base}${path}`)
        await page.locator("table.queries tbody tr").first().waitFor({ timeout: 30_000 })
        times.push(await page.evaluate(() => performance.now()))
        await context.close()
      }
      console.log(
        `${name.padEnd(40)} first rows after ${Math.round(median(times))} ms (median; ${Math.round(Math.min(...times))}-${Math.round(Math.max(...times))} ms) since navigation start`
      )
    }
  } finally {
    await browser.close()
    if (daemon !== undefined) {
      const exited = new Promise((resolve) => daemon?.child.on("exit", resolve))
      daemon.child.kill("SIGTERM")
      await exited
    }
    psql("postgres", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  }
}

await main()
