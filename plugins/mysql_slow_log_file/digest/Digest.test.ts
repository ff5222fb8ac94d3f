import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { writeSlowLog } from "../../../test/support/slowlog/GenerateSlowLog.js"
import { parseOrderBy } from "./Aggregator.js"
import { parseTimeOption } from "./DigestCli.js"
import { distill, getTables } from "./Distill.js"
import { jsonReport, microT, shorten, shortenSample, textReport } from "./Report.js"
import { type DigestProgress, type DigestRun, type DigestRunOptions, runDigest } from "./RunDigest.js"
import { metricsOf, Stat } from "./Stats.js"

// test group: other
// (MariaDB is named only as a slow log flavour: these tests read files, never a server.)

const testdata = (name: string) => new URL(`../testdata/${name}`, import.meta.url).pathname

const digest = (files: ReadonlyArray<string>, options: Partial<DigestRunOptions> = {}) =>
  runDigest({ files, ...options })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "slowq-digest-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

interface PtStat {
  readonly sum: string
  readonly min: string
  readonly max: string
  readonly avg: string
  readonly pct_95: string
  readonly stddev: string
  readonly median: string
}
interface PtClass {
  readonly checksum: string
  readonly fingerprint: string
  readonly distillate: string
  readonly query_count: number
  readonly metrics: Record<string, PtStat>
  readonly tables?: ReadonlyArray<{ readonly status: string }>
  readonly example: { readonly query: string }
}
interface PtReport {
  readonly global: { readonly query_count: number; readonly unique_query_count: number }
  readonly classes: ReadonlyArray<PtClass>
}

const ptDigest = (file: string, args: ReadonlyArray<string>): PtReport =>
  JSON.parse(execFileSync("pt-query-digest", [...args, "--output", "json", file], { encoding: "utf8", maxBuffer: 1 << 28 }))

/** Our statistics object next to pt's, as pt prints it: times to the microsecond, counts cut to integers. */
const asPt = (stat: { sum: number; min: number; max: number; avg: number; p95: number; stddev: number; median: number }, time: boolean) => {
  const f = (v: number) => (time ? v.toFixed(6) : String(Math.trunc(v)))
  return { sum: f(stat.sum), min: f(stat.min), max: f(stat.max), avg: f(stat.avg), pct_95: f(stat.p95), stddev: f(stat.stddev), median: f(stat.median) }
}
const ptStat = (stat: PtStat) => ({
  sum: stat.sum,
  min: stat.min,
  max: stat.max,
  avg: stat.avg,
  pct_95: stat.pct_95,
  stddev: stat.stddev,
  median: stat.median
})

describe("slowq digest against pt-query-digest", () => {
  it.scoped(
    "top-20 ranking, Query IDs, counts, totals, percentiles, distillates and tables equal pt-query-digest --output json",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        yield* Effect.promise(() => writeSlowLog(file, { events: 30_000, seed: 7 }))
        const pt = ptDigest(file, ["--limit", "20"])
        const run = yield* digest([file])
        const ours = jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 20, files: [file] })

        expect(ours.global.count).toBe(pt.global.query_count)
        expect(ours.global.unique).toBe(pt.global.unique_query_count)
        expect(ours.classes.length).toBe(20)
        expect(pt.classes.length).toBe(20)
        ours.classes.forEach((cls, i) => {
          const theirs = pt.classes[i]!
          expect({ rank: cls.rank, id: cls.id, fingerprint: cls.fingerprint, count: cls.count }).toEqual({
            rank: i + 1,
            id: theirs.checksum,
            fingerprint: theirs.fingerprint,
            count: theirs.query_count
          })
          expect(asPt(cls.query_time, true)).toEqual(ptStat(theirs.metrics.Query_time!))
          expect(asPt(cls.lock_time, true)).toEqual(ptStat(theirs.metrics.Lock_time!))
          expect(asPt(cls.rows_sent, false)).toEqual(ptStat(theirs.metrics.Rows_sent!))
          expect(asPt(cls.rows_examined, false)).toEqual(ptStat(theirs.metrics.Rows_examined!))
          expect(cls.distillate).toBe(theirs.distillate)
          expect(cls.tables).toEqual(
            (theirs.tables ?? []).map((t) => {
              const match = /^SHOW TABLE STATUS(?: FROM `([^`]+)`)? LIKE '([^']+)'/.exec(t.status)!
              return match[1] === undefined ? match[2] : `${match[1]}.${match[2]}`
            })
          )
          expect(cls.databases[0]?.value).toBe((theirs.metrics.db as unknown as { value: string } | undefined)?.value)
        })
      }),
    120_000
  )

  it.scoped(
    "--order-by Rows_examined:max ranks as pt-query-digest does",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        yield* Effect.promise(() => writeSlowLog(file, { events: 8_000, seed: 11 }))
        const pt = ptDigest(file, ["--limit", "10", "--order-by", "Rows_examined:max"])
        const run = yield* digest([file])
        const ours = jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Rows_examined:max")!, top: 10, files: [file] })
        expect(ours.classes.map((c) => [c.id, c.count, c.rows_examined.max])).toEqual(
          pt.classes.map((c) => [c.checksum, c.query_count, Number(c.metrics.Rows_examined!.max)])
        )
      }),
    60_000
  )
})

/**
 * Every class of `file` as slowq and pt-query-digest --output json report it, side by side: Query ID,
 * fingerprint, count, statistics, database and sample.
 */
const againstPt = (file: string) =>
  Effect.map(digest([file]), (run) => {
    const pt = ptDigest(file, ["--limit", "100"])
    const ours = jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 100, files: [file] })
    return {
      global: [ours.global.count, ours.global.unique],
      ptGlobal: [pt.global.query_count, pt.global.unique_query_count],
      classes: ours.classes.map((c) => ({
        id: c.id,
        fingerprint: c.fingerprint,
        count: c.count,
        query_time: asPt(c.query_time, true),
        rows_examined: asPt(c.rows_examined, false),
        db: c.databases[0]?.value,
        sample: c.sample?.query
      })),
      ptClasses: pt.classes.map((c) => ({
        id: c.checksum,
        fingerprint: c.fingerprint,
        count: c.query_count,
        query_time: ptStat(c.metrics.Query_time!),
        rows_examined: ptStat(c.metrics.Rows_examined!),
        db: (c.metrics.db as unknown as { value: string } | undefined)?.value,
        sample: c.example.query
      }))
    }
  })

describe("slowq digest against pt-query-digest on unusual logs (issue 17)", () => {
  it.effect("a blank line after the last statement: one class, as pt-query-digest reports it", () =>
    Effect.gen(function* () {
      const file = testdata("blank-line-at-end.log")
      expect(readFileSync(file, "latin1").endsWith("SELECT a FROM t1;\n\n")).toBe(true)
      const { global, ptGlobal, classes, ptClasses } = yield* againstPt(file)
      expect(global).toEqual([2, 1])
      expect(ptGlobal).toEqual(global)
      expect(classes).toEqual([
        {
          id: "F9214849EA4E0421DFA9861AA0FCA761",
          fingerprint: "select a from t?",
          count: 2,
          query_time: { sum: "0.400000", min: "0.100000", max: "0.300000", avg: "0.200000", pct_95: "0.300000", stddev: "0.141421", median: "0.200000" },
          rows_examined: { sum: "20", min: "10", max: "10", avg: "10", pct_95: "10", stddev: "0", median: "10" },
          db: "shop",
          sample: "SELECT a FROM t1"
        }
      ])
      // pt keeps the newline of the blank line in its sample; the class is the same.
      expect(ptClasses).toEqual([{ ...classes[0], sample: "SELECT a FROM t1\n" }])
    })
  )

  it.effect("headers without @Host or # Time (an older Percona Server): one class, each entry its own header", () =>
    Effect.gen(function* () {
      const file = testdata("percona-user-without-host.log")
      expect(readFileSync(file, "latin1")).toBe(
        "# User: u[u] @ [1.2.3.4]\n# Thread_id: 1 Schema: db\n# Query_time: 0.1 Lock_time: 0.0 Rows_sent: 0 Rows_examined: 0\nSELECT 1 FROM foo;\n# User: u[u] @ [1.2.3.4]\n# Thread_id: 2 Schema: db\n# Query_time: 0.2 Lock_time: 0.0 Rows_sent: 0 Rows_examined: 0\nSELECT 2 FROM foo;\n"
      )
      const problems: Array<string> = []
      const run = yield* digest([file], { onProblem: (_, p) => problems.push(p.message) })
      expect(problems).toEqual([])
      expect(run.files[0]).toMatchObject({ events: 2, skippedBytes: 0 })
      const { global, ptGlobal, classes, ptClasses } = yield* againstPt(file)
      expect(global).toEqual([2, 1])
      expect(ptGlobal).toEqual(global)
      expect(classes).toEqual([
        {
          id: "70D09C12CC8777A12EE1CE1892CFD413",
          fingerprint: "select ? from foo",
          count: 2,
          query_time: { sum: "0.300000", min: "0.100000", max: "0.200000", avg: "0.150000", pct_95: "0.200000", stddev: "0.070711", median: "0.150000" },
          rows_examined: { sum: "0", min: "0", max: "0", avg: "0", pct_95: "0", stddev: "0", median: "0" },
          db: "db",
          sample: "SELECT 2 FROM foo"
        }
      ])
      expect(ptClasses).toEqual(classes)
      // pt has no user or host for `# User:` (only an attribute User = u[u]); slowq reads it as it reads User@Host.
      const report = jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 1, files: [file] })
      expect([report.classes[0]!.users, report.classes[0]!.hosts]).toEqual([[{ value: "u", count: 2 }], [{ value: "1.2.3.4", count: 2 }]])
    })
  )
})

describe("slowq digest inputs", () => {
  it.scoped("reads gzip files and stdin (plain or gzip) as it reads a plain file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "slow.log")
      yield* Effect.promise(() => writeSlowLog(file, { events: 2_000, seed: 3 }))
      const plain = readFileSync(file)
      writeFileSync(join(dir, "slow.log.gz"), gzipSync(plain))
      writeFileSync(join(dir, "compressed-without-extension"), gzipSync(plain))
      const summary = (run: DigestRun) =>
        jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 5, files: [] }).classes.map(
          (c) => [c.id, c.count, c.query_time.sum]
        )
      const expected = summary(yield* digest([file]))
      expect(expected.length).toBe(5)
      expect(summary(yield* digest([join(dir, "slow.log.gz")]))).toEqual(expected)
      expect(summary(yield* digest([join(dir, "compressed-without-extension")]))).toEqual(expected)
      expect(summary(yield* digest(["-"], { stdin: Readable.from([plain.subarray(0, 1000), plain.subarray(1000)]) }))).toEqual(
        expected
      )
      expect(summary(yield* digest(["-"], { stdin: Readable.from([gzipSync(plain)]) }))).toEqual(expected)
    })
  )

  it.scoped("--since and --until keep the statements that started in between", () =>
    Effect.gen(function* () {
      const all = yield* digest([testdata("mysql-5.7.log")])
      expect(all.events).toBe(3)
      // The entries started at 10:00:00.123, 10:00:00.25 (SET timestamp 10:00:00) and 10:00:02.
      const since = parseTimeOption("2024-01-15T10:00:01Z", 0)
      const until = parseTimeOption("2024-01-15 10:00:01", 0)
      expect((yield* digest([testdata("mysql-5.7.log")], { sinceUs: since })).events).toBe(1)
      const early = yield* digest([testdata("mysql-5.7.log")], { untilUs: until })
      expect(early.events).toBe(2)
      expect(early.eventsParsed).toBe(3)
    })
  )

  it.scoped("binary garbage: no event, the bytes reported with their offset, no crash", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "garbage.bin")
      const bytes = Buffer.alloc(5 * 1024 * 1024)
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
      writeFileSync(file, bytes)
      const problems: Array<string> = []
      const run = yield* digest([file], { onProblem: (_, p) => problems.push(`${p.kind}@${p.offset}`) })
      expect(run.eventsParsed).toBe(0)
      expect(run.files).toEqual([{ name: file, bytes: bytes.length, events: 0, skippedBytes: bytes.length, problems: problems.length }])
      expect(problems[0]).toBe("not_an_event@0")
    })
  )

  it.scoped("a file that is not a slow log: no event, everything skipped", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "services")
      writeFileSync(file, "# Network services, Internet style\ntcpmux\t\t1/tcp\necho\t\t7/tcp\n".repeat(1000))
      const run = yield* digest([file])
      expect(run.eventsParsed).toBe(0)
      expect(run.files[0]!.skippedBytes).toBe(readFileSync(file).length)
    })
  )

  it.scoped(
    "a 50 MB single statement is digested with the entries around it, and the report shortens it",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        const head = (n: number) =>
          `# Time: 240115 10:00:0${n}\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: shop  QC_hit: No\n# Query_time: ${n}.000000  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\n# Rows_affected: 1  Bytes_sent: 10\nSET timestamp=${1705312800 + n};\n`
        const values = "(1, 'abcdefghij'), ".repeat(Math.ceil((50 * 1024 * 1024) / 18))
        writeFileSync(file, `${head(1)}SELECT 1;\n${head(2)}INSERT INTO t VALUES ${values}(2, 'z');\n${head(3)}SELECT 3;\n`)
        const run = yield* digest([file])
        expect(run.eventsParsed).toBe(3)
        const report = jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 3, files: [file] })
        // SELECT: 1 s + 3 s; the INSERT: 2 s.
        expect(report.classes.map((c) => [c.fingerprint, c.count])).toEqual([
          ["select ?", 2],
          ["insert into t values(?+)", 1]
        ])
        expect(report.classes[1]!.sample!.query.length).toBe(values.length + "INSERT INTO t VALUES (2, 'z')".length)
        const text = textReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 3, files: [file] })
        expect(text).toContain("INSERT INTO t VALUES (1, 'abcdefghij') /*... omitted ...*/\\G")
        expect(text.length).toBeLessThan(20_000)
      }),
    60_000
  )
})

describe("digest report", () => {
  it.effect("prints pt-query-digest's report for a small log", () =>
    Effect.gen(function* () {
      const run = yield* digest([testdata("mysql-5.7.log")])
      const text = textReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 2, files: ["mysql-5.7.log"] })
      expect(text).toBe(readFileSync(testdata("mysql-5.7.report.txt"), "utf8"))
    })
  )

  it("formats numbers as pt-query-digest does", () => {
    expect([0.000318, 0.0137, 0.999999, 1.5, 95.4, 0, 0.00000049].map((t) => microT(t))).toEqual([
      "318us",
      "14ms",
      "1000ms",
      "2s",
      "95s",
      "0",
      "0"
    ])
    expect([200, 1.92 * 1024 * 1024, 0.35, 120000].map((n) => shorten(n))).toEqual(["200", "1.92M", "0.35", "117.19k"])
  })

  it("distills items and tables as pt-query-digest does", () => {
    expect(distill("SELECT a.id FROM orders a JOIN users b ON b.id = a.user_id WHERE a.x IN (SELECT 1 FROM t2)")).toBe(
      "SELECT orders users t?"
    )
    expect(distill("UPDATE `shop`.`carts` SET x = 1")).toBe("UPDATE shop.carts")
    expect(distill("administrator command: Quit")).toBe("ADMIN QUIT")
    expect(distill("SHOW FULL PROCESSLIST")).toBe("SHOW PROCESSLIST")
    expect(distill("CREATE TABLE IF NOT EXISTS t1 (id int)")).toBe("CREATE TABLE t? t1")
    expect(distill("INSERT INTO log (msg) VALUES ('x')")).toBe("INSERT log")
    expect(getTables("SELECT * FROM a, b AS c WHERE x = 'FROM d'")).toEqual(["a", "b"])
  })

  it("elides long IN lists and multi-row VALUES in samples", () => {
    const ids = Array.from({ length: 300 }, (_, i) => i).join(",")
    expect(shortenSample(`SELECT * FROM t WHERE id IN (${ids})`)).toBe(
      `SELECT * FROM t WHERE id IN (${Array.from({ length: 20 }, (_, i) => i).join(",")}/*... omitted 280 items ...*/)`
    )
  })

  it("computes pt's bucketed 95th percentile, median and standard deviation", () => {
    const stat = new Stat()
    for (const v of [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.5]) stat.add(v)
    const metrics = metricsOf(stat)
    // What pt-query-digest --output json prints for the same eleven query times.
    expect([metrics.pct95, metrics.median, metrics.stddev].map((v) => v.toFixed(6))).toEqual(["0.009629", "0.006377", "0.135681"])
    expect([microT(metrics.pct95), microT(metrics.median), microT(metrics.stddev)]).toEqual(["10ms", "6ms", "136ms"])
  })

  it("parses --since and --until", () => {
    const now = Date.UTC(2024, 0, 15, 12, 0, 0)
    expect(parseTimeOption("2024-01-15", now)).toBe(Date.UTC(2024, 0, 15) * 1000)
    expect(parseTimeOption("2024-01-15T10:00:00.5+02:00", now)).toBe(Date.UTC(2024, 0, 15, 8) * 1000 + 500_000)
    expect(parseTimeOption("240115 10:00:00", now)).toBe(Date.UTC(2024, 0, 15, 10) * 1000)
    expect(parseTimeOption("1705312800", now)).toBe(1705312800 * 1e6)
    expect(parseTimeOption("12h", now)).toBe((now - 12 * 3600 * 1000) * 1000)
    expect(parseTimeOption("yesterday", now)).toBeUndefined()
  })
})

/** The whole JSON report, every class. */
const comparable = (run: DigestRun, files: ReadonlyArray<string>) =>
  jsonReport({ aggregator: run.aggregator, order: parseOrderBy("Query_time:sum")!, top: 10_000, files })

/**
 * The digest of `file` on `threads` threads, parts from `minBytesPerThread`, with its problems as `kind@offset`;
 * the parts really are read on workers, since a fallback to this thread would warn.
 */
const onThreads = (file: string, threads: number, minBytesPerThread: number) => {
  const problems: Array<string> = []
  return Effect.map(
    digest([file], {
      threads,
      minBytesPerThread,
      onProblem: (_, p) => problems.push(`${p.kind}@${p.offset}`),
      onWarning: (message) => expect.fail(message)
    }),
    (run) => ({ run, problems })
  )
}

describe("slowq digest on several threads", () => {
  it.scoped(
    "reads a file in parts on worker threads and reports what one thread reports",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        // Every flavour: MariaDB entries carry their database, MySQL ones inherit it from `use` further up.
        yield* Effect.promise(() => writeSlowLog(file, { events: 20_000, seed: 5 }))
        const alone = yield* onThreads(file, 1, 1024 * 1024)
        const parallel = yield* onThreads(file, 3, 1024 * 1024)
        expect(alone.run.workerParts).toBe(0)
        expect(parallel.run.workerParts).toBe(2)
        expect(parallel.run.eventsParsed).toBe(20_000)
        expect(parallel.run.files).toEqual(alone.run.files)
        expect(parallel.problems).toEqual(alone.problems)
        const report = comparable(parallel.run, [file])
        expect(report.classes.length).toBeGreaterThan(100)
        expect(report).toEqual(comparable(alone.run, [file]))
        // Several files: each is split, and the parts of all merge in order.
        const twice = (threads: number) =>
          digest([file, file], { threads, minBytesPerThread: 1024 * 1024, onWarning: (message) => expect.fail(message) })
        const twiceParallel = yield* twice(3)
        expect(twiceParallel.workerParts).toBe(4)
        expect(twiceParallel.events).toBe(40_000)
        expect(comparable(twiceParallel, [file])).toEqual(comparable(yield* twice(1), [file]))
      }),
    60_000
  )

  it.scoped("a part without `use` gets the database the parts before it left in effect", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "slow.log")
      // MySQL writes `use` only when the database changes: here once, at the top. Far down, an entry cut short.
      const entry = (i: number) =>
        `# Time: 2024-01-15T10:00:${String(i % 60).padStart(2, "0")}.000000Z\n# User@Host: app[app] @ localhost []  Id: 7\n# Query_time: 0.${String(i).padStart(6, "0")}  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: ${i}\n${i === 0 ? "use shop;\n" : ""}SET timestamp=${1705312800 + i};\nSELECT * FROM t${i % 3} WHERE id = ${i};\n`
      const entries = Array.from({ length: 400 }, (_, i) => entry(i))
      entries.splice(300, 0, "# Time: 2024-01-15T10:00:00.000000Z\n# User@Host: app[app] @ localhost []  Id: 7\n")
      writeFileSync(file, entries.join(""))
      const alone = yield* onThreads(file, 1, 1000)
      const parallel = yield* onThreads(file, 4, 1000)
      expect(parallel.run.workerParts).toBe(3)
      const report = comparable(parallel.run, [file])
      expect(report.classes.map((c) => [c.fingerprint, c.count, c.databases, c.sample?.db])).toEqual([
        ["select * from t? where id = ?", 400, [{ value: "shop", count: 400 }], "shop"]
      ])
      expect(parallel.problems).toHaveLength(1)
      expect(parallel.problems).toEqual(alone.problems)
      expect(report).toEqual(comparable(alone.run, [file]))
    })
  )

  it.scoped("a log without # Time lines is split at its # User lines; one without those is read by one thread", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // The older Percona Server format of issue 17: no # Time, `# User:` without a host name.
      const tables = ["orders", "users", "items", "carts"]
      const entry = (i: number, user: boolean) =>
        `${user ? `# User: u${i % 3}[u${i % 3}] @ [10.0.0.${i % 5}]\n` : ""}# Thread_id: ${i} Schema: db${i % 2}\n# Query_time: 0.${String(i).padStart(6, "0")} Lock_time: 0.0 Rows_sent: 0 Rows_examined: ${i}\nSELECT ${i} FROM ${tables[i % 4]};\n`
      for (const [name, user, parts] of [["users.log", true, 3], ["threads-only.log", false, 0]] as const) {
        const file = join(dir, name)
        writeFileSync(file, Array.from({ length: 2_000 }, (_, i) => entry(i, user)).join(""))
        const alone = yield* onThreads(file, 1, 1000)
        const parallel = yield* onThreads(file, 4, 1000)
        expect(parallel.run.workerParts).toBe(parts)
        expect([parallel.run.eventsParsed, parallel.problems]).toEqual([2_000, []])
        const report = comparable(parallel.run, [file])
        expect(report.classes.map((c) => [c.fingerprint, c.count, c.databases])).toEqual(
          [3, 2, 1, 0].map((t) => [`select ? from ${tables[t]}`, 500, [{ value: `db${t % 2}`, count: 500 }]])
        )
        expect(report).toEqual(comparable(alone.run, [file]))
      }
    })
  )

  it.scoped("a part whose worker cannot start is read on the main thread, with a warning, and nothing is lost", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "slow.log")
      yield* Effect.promise(() => writeSlowLog(file, { events: 3_000, seed: 8 }))
      const broken = join(dir, "broken-worker.mjs")
      writeFileSync(broken, "throw new Error('no worker here')\n")
      const warnings: Array<string> = []
      const alone = yield* digest([file], { threads: 1 })
      const parallel = yield* digest([file], {
        threads: 3,
        minBytesPerThread: 1024,
        workerScript: new URL(`file://${broken}`),
        onWarning: (message) => warnings.push(message)
      })
      expect(parallel.workerParts).toBe(2)
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toMatch(/^.*slow\.log: reading bytes \d+ to \d+ on the main thread: no worker thread \(Error: no worker here\)$/)
      expect(parallel.eventsParsed).toBe(3_000)
      expect(comparable(parallel, [file])).toEqual(comparable(alone, [file]))
    })
  )

  it.scopedLive(
    "interrupted while its workers read, a digest ends every worker thread before it returns",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const file = join(dir, "slow.log")
        // 3 parts of about 30 MB: a worker reports its first 8 MiB with most of its part still to read.
        const size = yield* Effect.promise(() => writeSlowLog(file, { events: 200_000, seed: 9 }))
        let latest: DigestProgress | undefined
        const before = osThreads()
        const fiber = yield* Effect.fork(
          digest([file], { threads: 3, minBytesPerThread: 1024 * 1024, onProgress: (p) => (latest = p), onWarning: (m) => expect.fail(m) })
        )
        // This thread reads only the first third: bytes past it were read by a worker, which is reading on.
        yield* waitUntil(() => (latest?.bytesRead ?? 0) > size / 3 + 1024 * 1024)
        // Node runs a worker on more than one thread of its own (two each here): at least one per worker.
        expect(osThreads()).toBeGreaterThanOrEqual(before + 2)
        const exit = yield* Fiber.interrupt(fiber)
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect(osThreads()).toBe(before)
      }),
    60_000
  )

  it.scopedLive("a part that cannot be read fails the digest at once and ends the workers of the other parts", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = join(dir, "slow.log")
      const size = yield* Effect.promise(() => writeSlowLog(file, { events: 3_000, seed: 8 }))
      // The last part fails as a read error would; the others never finish on their own.
      const script = join(dir, "stuck-worker.mjs")
      writeFileSync(
        script,
        `import { parentPort, workerData } from "node:worker_threads"
if (workerData.end === ${size}) parentPort.postMessage({ _tag: "failed", message: "slow.log: input/output error", input: true })
else setInterval(() => {}, 60_000)
`
      )
      const before = osThreads()
      const error = yield* Effect.flip(digest([file], { threads: 4, minBytesPerThread: 1024, workerScript: new URL(`file://${script}`) }))
      expect([error._tag, error.message]).toEqual(["DigestInputError", "slow.log: input/output error"])
      expect(osThreads()).toBe(before)
    })
  )
})

/** Threads of this process (Linux): a worker thread counts until it has exited. */
const osThreads = () => readdirSync("/proc/self/task").length

const waitUntil = (condition: () => boolean) => Effect.sleep("5 millis").pipe(Effect.repeat({ until: () => condition() }))
