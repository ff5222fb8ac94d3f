/**
 * npm run bench:fingerprint [-- SECONDS]   (SECONDS of CPU per measurement, default 3)
 *
 * Statements per second on one core, in CPU time (the machine is shared; wall time would measure the
 * neighbours): Percona Toolkit's own fingerprint routine (pt-query-digest 3.2.1's QueryRewriter::fingerprint,
 * run in-process by test/bench/pt-fingerprint-harness.pl, so that no process start flatters anyone) next to
 * slowq's MySQL and PostgreSQL paths, on the same corpora in the same run:
 *
 *   short  typical OLTP statements (point lookups, small IN lists, single-row writes), 10,000 of them
 *   mixed  the differential corpus without its token soup: every pt rule, comments, long IN lists,
 *          multi-row INSERTs, UNIONs, 10,000 statements
 *
 * "slowq MySQL fingerprint" does what Percona's routine does (the text); "slowq MySQL full" adds the Query ID
 * (MD5) and the classification (type, tables, tags…): what the pipeline stage runs per event. The goals:
 * at least 5× Percona on the same corpus, and at least 500,000 short statements/s for the MySQL path.
 */
import { fingerprintMysql, fingerprintPostgres } from "../../src/fingerprint/Fingerprinter.js"
import { fingerprintMysqlText } from "../../src/fingerprint/MysqlFingerprint.js"
import { loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"
import { generateCorpus, generateShortCorpus } from "../fingerprint/corpus.js"
import { ptBench } from "../fingerprint/ptHarness.js"

const seconds = Number(process.argv[2] ?? 3)

const cpuSeconds = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** Runs `f` over the corpus in whole passes for about `seconds` of CPU time; statements per CPU second. */
const measure = (corpus: ReadonlyArray<string>, f: (sql: string) => unknown, budget: number): number => {
  for (let warm = 0; warm < 3; warm++) for (const sql of corpus) f(sql)
  let count = 0
  const start = cpuSeconds()
  let spent = 0
  while (spent < budget) {
    for (const sql of corpus) f(sql)
    count += corpus.length
    spent = cpuSeconds() - start
  }
  return count / spent
}

interface Row {
  readonly corpus: string
  readonly engine: string
  readonly rate: number
  readonly percona: number | undefined
  readonly note?: string
}

const corpora = [
  { name: "short", statements: generateShortCorpus(7, 10_000) },
  { name: "mixed", statements: generateCorpus(7, 10_000, { soup: false }) }
] as const

if (!(await loadPostgresParser())) throw new Error("the libpg_query WASM module did not load")

// The machine is shared, and its load drifts: Percona and slowq's MySQL fingerprint are measured in
// alternating rounds, and each reported rate is the median of its rounds.
const ROUNDS = 3
const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const rows: Array<Row> = []
for (const { name, statements } of corpora) {
  const perconaRates: Array<number> = []
  const slowqRates: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const pt = await ptBench(statements, seconds)
    perconaRates.push(pt.statements / pt.cpuSeconds)
    slowqRates.push(measure(statements, (sql) => fingerprintMysqlText(sql), seconds))
  }
  const percona = median(perconaRates)
  rows.push({ corpus: name, engine: "Percona pt-query-digest 3.2.1 fingerprint (Perl)", rate: percona, percona: undefined })
  rows.push({ corpus: name, engine: "slowq MySQL fingerprint", rate: median(slowqRates), percona })
  rows.push({ corpus: name, engine: "slowq MySQL full (+ Query ID, classify)", rate: measure(statements, fingerprintMysql, seconds), percona })
  const parsed = statements.filter((sql) => fingerprintPostgres(sql).parser === "libpg_query").length
  rows.push({
    corpus: name,
    engine: "slowq PostgreSQL full (libpg_query WASM)",
    rate: measure(statements, fingerprintPostgres, seconds),
    percona,
    note: `${((parsed / statements.length) * 100).toFixed(0)}% parsed by libpg_query, the rest by the tokenizer`
  })
}

const format = (n: number): string => Math.round(n).toLocaleString("en-US")
const header = ["corpus", "engine", "statements/s (1 core, CPU time)", "vs Percona"]
const table = rows.map((r) => [
  r.corpus,
  r.engine,
  format(r.rate),
  r.percona === undefined ? "1.0×" : `${(r.rate / r.percona).toFixed(1)}×`
])
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)))
const line = (cells: ReadonlyArray<string>) =>
  `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`
console.log(line(header))
console.log(`|${widths.map((w, i) => (i >= 2 ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`)
for (const row of table) console.log(line(row))
for (const r of rows) if (r.note !== undefined) console.log(`  ${r.corpus}, PostgreSQL: ${r.note}`)

const rate = (corpus: string, engine: string) => rows.find((r) => r.corpus === corpus && r.engine.startsWith(engine))!
const shortFp = rate("short", "slowq MySQL fingerprint")
const shortFull = rate("short", "slowq MySQL full")
const mixedFp = rate("mixed", "slowq MySQL fingerprint")
console.log(
  `goals: ≥5× Percona: short ${(shortFp.rate / shortFp.percona!).toFixed(1)}×, mixed ${(mixedFp.rate / mixedFp.percona!).toFixed(1)}×; ` +
    `≥500k short statements/s: fingerprint ${format(shortFp.rate)}/s, full ${format(shortFull.rate)}/s`
)
