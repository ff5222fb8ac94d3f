/**
 * npm run bench:digest [-- EVENTS [SEED]]
 *
 * `slowq digest` against pt-query-digest (Debian's percona-toolkit) on the same generated slow log, in the same
 * run: EVENTS entries (default 1,000,000; about 500 statement shapes with Zipf-skewed frequencies and fresh
 * literals, MariaDB, MySQL, MySQL log_slow_extra and Percona Server header variants), written to a temporary
 * folder that is removed afterwards. Prints wall time, events/s, MB/s and peak RSS (GNU time's %M) of each, the
 * ratios, and whether the top-20 classes agree (same Query IDs in the same order, same counts, same total query
 * time). Exits non-zero when they do not. SLOWQ_BENCH_CLI names another CLI entry to time (default src/bin/slowq.js).
 * slowq runs twice: as a user runs it (on the cores available, at most 4) and with --threads 1, so that the
 * single-core speed is on record next to pt-query-digest's, which uses one. It prints whether slowq ran the bundle
 * or, the bundle being older than the sources, tsx (whose start-up alone costs 100 MB more).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { writeSlowLog } from "../support/slowlog/GenerateSlowLog.js"

const events = Number(process.argv[2] ?? 1_000_000)
/** The CLI entry to time; the default is what `npx slowq` runs. */
const cli = process.env.SLOWQ_BENCH_CLI ?? "src/bin/slowq.js"
const seed = Number(process.argv[3] ?? 42)
const root = fileURLToPath(new URL("../..", import.meta.url))

/** Newest mtime of the .ts files under `dir`, as src/bin/slowq.js computes it. */
const newestSource = (dir: string): number => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

/**
 * What src/bin/slowq.js will run: the bundle while it is newer than every source file, else the sources through
 * tsx, which alone takes about 170 MB before reading anything (the bundle: under 60 MB for a small file, having loaded
 * no Effect; see DigestCli.ts). A figure measured on a stale bundle is not what users run, so the bench says which
 * it measured.
 */
const entryKind = (): string => {
  if (process.env.SLOWQ_BENCH_CLI !== undefined) return process.env.SLOWQ_BENCH_CLI
  if (process.env.SLOWQ_FROM_SOURCE === "1") return "the TypeScript sources through tsx (SLOWQ_FROM_SOURCE=1)"
  try {
    const built = statSync(join(root, "dist", "slowq.mjs")).mtimeMs
    if (built >= newestSource(join(root, "src")) && built >= newestSource(join(root, "plugins"))) return "the bundle (dist/slowq.mjs)"
  } catch {}
  return "the TypeScript sources through tsx: the bundle is missing or older than a source file (run npm run build to measure what users run)"
}

interface Timed {
  readonly seconds: number
  readonly peakKb: number
  readonly stdout: string
}

/** Runs a command under GNU time; its last stderr line is the peak RSS in KB. */
const timed = (command: string, args: ReadonlyArray<string>): Timed => {
  const started = process.hrtime.bigint()
  const run = spawnSync("/usr/bin/time", ["-f", "%M", command, ...args], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 30,
    env: { ...process.env, SLOWQ_LOG_LEVEL: "warning" }
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  if (run.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${run.status}):\n${run.stderr}`)
  const peakKb = Number(run.stderr.trim().split("\n").at(-1))
  return { seconds, peakKb, stdout: run.stdout }
}

interface PtClass {
  readonly checksum: string
  readonly query_count: number
  readonly metrics: { readonly Query_time: { readonly sum: string } }
}
interface SlowqClass {
  readonly id: string
  readonly count: number
  readonly query_time: { readonly sum: number }
}

const dir = mkdtempSync(join(tmpdir(), "slowq-bench-digest-"))
try {
  const file = join(dir, "slow.log")
  process.stdout.write(`generating ${events.toLocaleString("en-US")} slow log entries (seed ${seed})… `)
  const bytes = await writeSlowLog(file, { events, seed })
  console.log(`${(bytes / 1e6).toFixed(0)} MB in ${file}`)

  const kind = entryKind()
  console.log(`slowq runs ${kind}`)
  process.stdout.write("slowq digest… ")
  const slowq = timed(process.execPath, [resolve(root, cli), "digest", "--format", "json", "--top", "20", file])
  console.log(`${slowq.seconds.toFixed(2)} s`)
  process.stdout.write("slowq digest --threads 1… ")
  const single = timed(process.execPath, [resolve(root, cli), "digest", "--threads", "1", "--format", "json", "--top", "20", file])
  console.log(`${single.seconds.toFixed(2)} s`)
  process.stdout.write("pt-query-digest… ")
  const pt = timed("pt-query-digest", ["--limit", "20", "--output", "json", file])
  console.log(`${pt.seconds.toFixed(2)} s`)

  const theirs = (JSON.parse(pt.stdout) as { classes: ReadonlyArray<PtClass> }).classes
  const mismatches: Array<string> = []
  const runs = [
    ["", (JSON.parse(slowq.stdout) as { classes: ReadonlyArray<SlowqClass> }).classes],
    ["--threads 1: ", (JSON.parse(single.stdout) as { classes: ReadonlyArray<SlowqClass> }).classes]
  ] as const
  for (const [run, ours] of runs) {
    for (let i = 0; i < 20; i++) {
      const a = ours[i]
      const b = theirs[i]
      if (a === undefined || b === undefined) {
        mismatches.push(`${run}rank ${i + 1}: slowq ${a?.id ?? "none"}, pt ${b?.checksum ?? "none"}`)
        continue
      }
      const sumDiff = Math.abs(a.query_time.sum - Number(b.metrics.Query_time.sum))
      if (a.id !== b.checksum || a.count !== b.query_count || sumDiff > 1e-5) {
        mismatches.push(
          `${run}rank ${i + 1}: slowq 0x${a.id} × ${a.count} (${a.query_time.sum} s), pt 0x${b.checksum} × ${b.query_count} (${b.metrics.Query_time.sum} s)`
        )
      }
    }
  }

  const mb = bytes / 1e6
  const row = (name: string, t: Timed) =>
    `| ${name} | ${t.seconds.toFixed(2)} s | ${Math.round(events / t.seconds).toLocaleString("en-US")} | ${(mb / t.seconds).toFixed(1)} | ${(t.peakKb / 1024).toFixed(0)} MB |`
  console.log("")
  console.log(
    `${events.toLocaleString("en-US")} events, ${mb.toFixed(0)} MB, seed ${seed}, on ${process.platform} / Node ${process.version}, ${availableParallelism()} cores; slowq ran ${kind}`
  )
  console.log("")
  console.log("| tool | wall time | events/s | MB/s | peak RSS |")
  console.log("|---|---|---|---|---|")
  console.log(row("slowq digest", slowq))
  console.log(row("slowq digest --threads 1", single))
  console.log(row("pt-query-digest", pt))
  console.log(
    `| ratio, slowq digest | ${(pt.seconds / slowq.seconds).toFixed(1)}× faster | | | ${(slowq.peakKb / pt.peakKb).toFixed(2)}× pt's |`
  )
  console.log(
    `| ratio, --threads 1 | ${(pt.seconds / single.seconds).toFixed(1)}× faster | | | ${(single.peakKb / pt.peakKb).toFixed(2)}× pt's |`
  )
  console.log("")
  if (mismatches.length === 0) console.log("top-20 classes of both slowq runs: identical to pt's (Query IDs, order, counts, total query time)")
  else {
    console.log(`top-20 classes differ:\n${mismatches.join("\n")}`)
    process.exitCode = 1
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
