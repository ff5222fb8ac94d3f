/**
 * npm run bench:analyze [-- SECONDS]   (SECONDS of CPU per measurement, default 2)
 *
 * The analyzer's cost per query, in CPU time on one core (the machine is shared; wall time would measure the
 * neighbours): the statement rules over the web-shop mix of the explain stage's tests and over the fingerprint
 * differential corpus, and the plan rules over real plans taken here from the local MariaDB and PostgreSQL of the
 * web-shop schema. No tool does this analysis to compare with (pt-query-advisor left Percona Toolkit in 3.0), so the
 * reference in the same run is slowq's own full fingerprint of the same statements: what every event already costs.
 * Also prints how many findings each rule gave on the mix, for the closing note of issue 12.
 */
import { execFileSync } from "node:child_process"
import { fingerprintMysql, fingerprintPostgres } from "../../src/fingerprint/Fingerprinter.js"
import { loadPostgresParser } from "../../src/fingerprint/PostgresFingerprint.js"
import { mysqlPlanRules } from "../../plugins/analyze/rules/MysqlPlanRules.js"
import { postgresPlanRules } from "../../plugins/analyze/rules/PostgresPlanRules.js"
import type { RuleDialect } from "../../plugins/analyze/rules/Rule.js"
import { runRules } from "../../plugins/analyze/rules/RunRules.js"
import { statementRules } from "../../plugins/analyze/rules/StatementRules.js"
import { generateCorpus } from "../fingerprint/corpus.js"
import { mariadbSchema, mixWorkload, postgresSchema } from "../support/explain/WebShopMix.js"

const seconds = Number(process.argv[2] ?? 2)
const marker = `benchanalyze_${Date.now().toString(36)}`

const cpuSeconds = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** Microseconds of CPU per item: `f` over the items in whole passes for about `seconds` of CPU. */
const perItemUs = <A>(items: ReadonlyArray<A>, f: (item: A) => unknown): number => {
  for (const item of items.slice(0, 200)) f(item)
  let done = 0
  const start = cpuSeconds()
  while (cpuSeconds() - start < seconds) {
    for (const item of items) f(item)
    done += items.length
  }
  return ((cpuSeconds() - start) / done) * 1e6
}

const mariadb = (database: string, sql: string) =>
  execFileSync("mariadb", ["-N", "-B", "-r", "-h", "127.0.0.1", "-uroot", database], { input: sql, maxBuffer: 1 << 28 }).toString()
const psql = (database: string, sql: string) =>
  execFileSync("psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", database], {
    input: sql,
    maxBuffer: 1 << 28
  }).toString()

/** Distinct statements of the mix (one per text), the marker comment taken off. */
const mix = (dialect: RuleDialect) => [...new Set(mixWorkload(dialect, marker, 400).map((s) => s.replace(` /* ${marker} */`, "")))]

/** Real JSON plans of the mix's distinct read statements, from a scratch database dropped afterwards. */
const plansOf = (dialect: RuleDialect, statements: ReadonlyArray<string>): ReadonlyArray<unknown> => {
  const database = `slowq_${marker}`
  const reads = statements.filter((s) => /^select /i.test(s) && !/^select 1$/i.test(s)).slice(0, 150)
  if (dialect === "mysql") {
    mariadb("test", `CREATE DATABASE ${database}`)
    try {
      mariadb(database, mariadbSchema)
      return reads.map((s) => JSON.parse(mariadb(database, `EXPLAIN FORMAT=JSON ${s}`).trim().replaceAll("\\n", "\n")))
    } finally {
      mariadb("test", `DROP DATABASE ${database}`)
    }
  }
  psql("postgres", `CREATE DATABASE ${database}`)
  try {
    psql(database, postgresSchema)
    return reads.map((s) => JSON.parse(psql(database, `EXPLAIN (FORMAT JSON) ${s}`)))
  } finally {
    psql("postgres", `DROP DATABASE ${database} WITH (FORCE)`)
  }
}

const main = async () => {
  await loadPostgresParser()
  const rows: Array<ReadonlyArray<string>> = []
  const counts = new Map<string, number>()
  for (const dialect of ["mysql", "postgres"] as const) {
    const statements = mix(dialect)
    const corpus = dialect === "mysql" ? generateCorpus(7, 5000, { soup: false }) : statements
    const fingerprint = dialect === "mysql" ? (s: string) => fingerprintMysql(s) : (s: string) => fingerprintPostgres(s)
    for (const [name, items] of [
      ["web-shop mix", statements],
      ...(dialect === "mysql" ? ([["differential corpus", corpus]] as const) : [])
    ] as const) {
      const rules = perItemUs(items, (sql) => runRules(statementRules, { dialect, sql }))
      const reference = perItemUs(items, fingerprint)
      rows.push([dialect, `statement rules, ${name} (${items.length} texts)`, rules.toFixed(1), reference.toFixed(1), (rules / reference).toFixed(2)])
    }
    for (const sql of statements) for (const f of runRules(statementRules, { dialect, sql })) counts.set(f.rule, (counts.get(f.rule) ?? 0) + 1)
    const plans = plansOf(dialect, statements)
    const planRules = dialect === "mysql" ? mysqlPlanRules : postgresPlanRules
    const now = Date.now()
    const planUs = perItemUs(plans, (plan) => runRules(planRules, { dialect, plan, now }))
    rows.push([dialect, `plan rules, web-shop plans (${plans.length} plans)`, planUs.toFixed(1), "", ""])
    for (const plan of plans) for (const f of runRules(planRules, { dialect, plan, now })) counts.set(f.rule, (counts.get(f.rule) ?? 0) + 1)
  }

  console.log(`CPU time per item on one core, ${seconds} s of CPU per measurement, Node ${process.version}`)
  console.log("")
  console.log("| dialect | what | µs per query | slowq full fingerprint, µs | ratio to the fingerprint |")
  console.log("|---|---|---|---|---|")
  for (const row of rows) console.log(`| ${row.join(" | ")} |`)
  console.log("")
  console.log("Findings per rule on the web-shop mix (distinct statements of both dialects, and their plans):")
  console.log("")
  console.log("| rule | findings |")
  console.log("|---|---|")
  for (const [rule, n] of [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) console.log(`| ${rule} | ${n} |`)
}

await main()
