/**
 * Captures pipelines/demo/sample-postgresql.log: the lab's web shop (scripts/lab/ShopMix.ts) run on the local
 * PostgreSQL with auto_explain loaded in its own session, and the lines that session made the server write, cut out
 * of the server log. Redo it with
 *
 *   npx tsx scripts/demo/capturePostgresLog.ts [postgres://postgres@127.0.0.1:5432/postgres] [/var/log/postgresql/postgresql-15-main.log]
 *
 * It needs a superuser (LOAD 'auto_explain' and the log settings are set in the session only: nothing changes for
 * anyone else on the server) and read access to the log; it creates the database slowq_demo_shop and drops it.
 * Only entries of its own backend are kept (by the prefix's [pid], Debian's '%m [%p] %q%u@%d '), so no other
 * session's statements (nor anything they hold) reach the file.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs"
import pg from "pg"
import { analyzeStatement, requests, schemaStatements, seedStatements } from "../lab/ShopMix.js"

const adminUrl = process.argv[2] ?? "postgres://postgres@127.0.0.1:5432/postgres"
const logPath = process.argv[3] ?? "/var/log/postgresql/postgresql-15-main.log"
const out = new URL("../../pipelines/demo/sample-postgresql.log", import.meta.url)
const DATABASE = "slowq_demo_shop"
/** Requests of the mix: two decks, every statement shape twice at least. */
const REQUESTS = 200

const main = async () => {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${DATABASE}`)
  const url = new URL(adminUrl)
  url.pathname = `/${DATABASE}`
  const shop = new pg.Client({ connectionString: url.toString(), application_name: "shop" })
  try {
    await shop.connect()
    for (const sql of schemaStatements("postgres")) await shop.query(sql)
    await shop.query("BEGIN")
    for (const sql of seedStatements("postgres")) await shop.query(sql)
    await shop.query("COMMIT")
    await shop.query(analyzeStatement("postgres"))
    const { rows } = await shop.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")
    const pid = rows[0]!.pid
    const from = statSync(logPath).size

    // What the plugin's README recommends, in this session only: every plan of an execution over 1 ms (scans, sorts,
    // joins), with its actual rows, not the per-node timing; every statement's duration line.
    await shop.query("LOAD 'auto_explain'")
    await shop.query("SET auto_explain.log_min_duration = 1")
    await shop.query("SET auto_explain.log_format = 'json'")
    await shop.query("SET auto_explain.log_analyze = on")
    await shop.query("SET auto_explain.log_timing = off")
    await shop.query("SET log_min_duration_statement = 0")
    const traffic = requests("postgres", 1)
    for (let n = 0; n < REQUESTS; n++) {
      const request = traffic.next().value
      if (request.writes) await shop.query("BEGIN")
      for (const statement of request.statements) await shop.query(statement.sql, [...statement.params])
      if (request.writes) await shop.query("COMMIT")
    }
    // The simple query protocol too (psql, scripts): a report typed by hand, over several lines.
    await shop.query(
      "SELECT c.country, count(*) AS orders, sum(o.total) AS revenue\n  FROM orders o\n  JOIN customers c ON c.id = o.customer_id\n WHERE o.status = 'shipped'\n GROUP BY c.country\n ORDER BY revenue DESC"
    )
    await shop.query("SET log_min_duration_statement = -1")
    await shop.end()

    // The server writes asynchronously to the file: wait for it to stop growing.
    let size = statSync(logPath).size
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      const now = statSync(logPath).size
      if (now === size) break
      size = now
    }
    const text = readFileSync(logPath).subarray(from, size).toString("utf8")
    const kept: Array<string> = []
    let mine = false
    for (const line of text.split("\n")) {
      if (line.startsWith("\t")) {
        if (mine) kept.push(line)
        continue
      }
      mine = line.includes(` [${pid}] `) && line.includes(`@${DATABASE} `)
      if (mine) kept.push(line)
    }
    writeFileSync(out, `${kept.join("\n")}\n`)
    console.log(`wrote ${kept.length} lines of backend ${pid} to ${out.pathname}`)
  } finally {
    await shop.end().catch(() => undefined)
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)
    await admin.end()
  }
}

await main()
