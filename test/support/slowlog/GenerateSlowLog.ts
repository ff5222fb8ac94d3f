/**
 * Seeded generator of realistic slow query logs for tests and `npm run bench:digest`.
 *
 * About `shapes` distinct statement shapes (tables × templates), drawn with Zipf-skewed frequencies, each with
 * fresh literals on every call; query times log-normal around a per-shape typical time. Entries come in the
 * header variants of MariaDB 10.x/11.x (`# Time:` only when the second changes, `# Thread_id: … Schema: …`,
 * `# Rows_affected:`), MySQL 5.7/8.x (`# Time:` in ISO form on every entry, `Id:` on the User@Host line,
 * sometimes log_slow_extra) and Percona Server (extended InnoDB lines), with `use db;`, multi-line statements,
 * administrator commands and a server start-up banner in the middle. The same seed gives the same bytes.
 */
import { createWriteStream } from "node:fs"
import { generator } from "../../../scripts/lab/Random.js"

/** mulberry32 (scripts/lab/Random.ts), under the name the fingerprint corpus uses. */
export const makeRandom = generator

type Random = () => number

const int = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1))
const pick = <A>(random: Random, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

const WORDS = ["alpha", "bravo", "carol", "delta", "echo", "fox", "golf", "hotel", "india", "julia", "kilo", "lima"]
const str = (random: Random) => {
  const word = pick(random, WORDS)
  const n = int(random, 0, 99999)
  // Now and then a quote inside the literal, escaped the two ways MySQL accepts.
  const r = random()
  return r < 0.02 ? `'${word}\\'s ${n}'` : r < 0.04 ? `'${word}''s ${n}'` : `'${word}-${n}'`
}
const num = (random: Random) => String(int(random, 1, 9_999_999))
const list = (random: Random, min: number, max: number, item: (random: Random) => string) =>
  Array.from({ length: int(random, min, max) }, () => item(random)).join(", ")

const TABLES = [
  "users", "orders", "order_items", "products", "carts", "sessions", "payments", "invoices", "shipments", "reviews",
  "categories", "inventory", "suppliers", "coupons", "wishlists", "addresses", "audit_log", "events", "messages",
  "notifications", "accounts", "ledger", "refunds", "returns", "tickets", "comments", "tags", "post_tags", "posts",
  "media", "settings", "feature_flags", "jobs", "job_runs", "api_keys", "webhooks", "subscriptions", "plans",
  "usage_daily", "metrics_hourly"
] as const
const COLUMNS = ["id", "user_id", "status", "created_at", "updated_at", "amount", "name", "email", "kind", "score"]

/** A statement template: its text with fresh literals for table `t`. */
type Template = (random: Random, t: string, c: string, d: string) => string

const TEMPLATES: ReadonlyArray<Template> = [
  (r, t) => `SELECT * FROM ${t} WHERE id = ${num(r)}`,
  (r, t, c) => `SELECT id, ${c} FROM ${t} WHERE ${c} = ${str(r)} LIMIT ${int(r, 1, 100)}`,
  (r, t) => `SELECT COUNT(*) FROM ${t} WHERE created_at > '2024-0${int(r, 1, 9)}-1${int(r, 0, 9)} 00:00:00'`,
  (r, t, c) => `SELECT * FROM ${t} WHERE id IN (${list(r, 1, 30, num)}) ORDER BY ${c} ASC`,
  (r, t, c, d) => `SELECT a.id, b.${c} FROM ${t} a JOIN ${d} b ON b.id = a.id WHERE a.status = ${int(r, 0, 5)}`,
  (r, t, c) => `UPDATE ${t} SET ${c} = ${str(r)}, updated_at = NOW() WHERE id = ${num(r)}`,
  (r, t) => `DELETE FROM ${t} WHERE id = ${num(r)} LIMIT 1`,
  (r, t, c) => `INSERT INTO ${t} (id, ${c}) VALUES (${num(r)}, ${str(r)})`,
  (r, t, c) => `INSERT INTO ${t} (id, ${c}, score) VALUES ${list(r, 1, 8, (q) => `(${num(q)}, ${str(q)}, ${num(q)})`)}`,
  (r, t, c) =>
    `SELECT ${c}, SUM(amount) AS total\nFROM ${t}\nWHERE user_id = ${num(r)}\n  AND created_at BETWEEN '2024-01-01' AND '2024-12-31'\nGROUP BY ${c}\nORDER BY total DESC`,
  (r, t, c) => `SELECT /* app:web ctrl:${c} */ * FROM \`${t}\` WHERE \`${c}\` LIKE ${str(r)} LIMIT ${int(r, 0, 500)}, 20`,
  (r, t, c, d) =>
    `SELECT * FROM ${t} WHERE ${c} = ${num(r)} AND id NOT IN (SELECT id FROM ${d} WHERE score < ${int(r, -100, 100)})`,
  (r, t) => `REPLACE INTO ${t} (id, name) VALUES (${num(r)}, ${str(r)})`,
  (r, t, c) => `SELECT * FROM ${t} WHERE ${c} IS NULL OR ${c} = ${num(r)}.${int(r, 0, 99)}`
]

/** `count` distinct statement makers: template × table × column choices, in a seed-determined order. */
const makeShapes = (random: Random, count: number): Array<(random: Random) => string> => {
  const shapes: Array<(random: Random) => string> = []
  const seen = new Set<string>()
  while (shapes.length < count) {
    const template = int(random, 0, TEMPLATES.length - 1)
    const table = pick(random, TABLES)
    const column = pick(random, COLUMNS)
    const other = pick(random, TABLES)
    const key = `${template}:${table}:${column}:${other}`
    if (seen.has(key)) continue
    seen.add(key)
    const make = TEMPLATES[template]!
    shapes.push((r) => make(r, table, column, other))
  }
  return shapes
}

/** Index sampler for Zipf(s) over n items: cumulative weights and a binary search. */
const zipf = (n: number, s: number) => {
  const cumulative = new Float64Array(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    total += 1 / (i + 1) ** s
    cumulative[i] = total
  }
  return (random: Random): number => {
    const x = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cumulative[mid]! < x) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

export type Flavour = "mariadb" | "mysql" | "mysql_extra" | "percona"

export interface GenerateOptions {
  readonly events: number
  readonly seed: number
  /** Distinct statement shapes; default 500. */
  readonly shapes?: number
  /** Header variants to mix, each entry picks one; default all. */
  readonly flavours?: ReadonlyArray<Flavour>
  /** Epoch seconds of the first entry; default 2024-01-15T00:00:00Z. */
  readonly startEpochSeconds?: number
  /** Write a server start-up banner half way through; default true. */
  readonly banner?: boolean
  /** Mean time between two entries, µs (each gap uniform in [0, 2·mean]); default 2000, a busy server's rate. */
  readonly meanGapUs?: number
}

const pad2 = (n: number) => String(n).padStart(2, "0")
const isoTime = (epochUs: number) => {
  const d = new Date(Math.floor(epochUs / 1000))
  const micros = String(epochUs % 1_000_000).padStart(6, "0")
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${micros}Z`
}
// MariaDB's `# Time: 240115  9:05:01` (local time; UTC here), hours padded with a space.
const mariaTime = (epochSeconds: number) => {
  const d = new Date(epochSeconds * 1000)
  return `${String(d.getUTCFullYear() % 100).padStart(2, "0")}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())} ${String(d.getUTCHours()).padStart(2, " ")}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`
}
const seconds = (value: number) => value.toFixed(6)

const USERS = ["app", "app", "app", "report", "batch", "admin"]
const HOSTS = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "web-1.internal", "localhost"]
const DATABASES = ["shop", "shop", "shop", "analytics", "billing"]

/** Entries of a generated slow log, as text chunks of about 64 KiB. */
export function* generateSlowLog(options: GenerateOptions): Generator<string> {
  const random = makeRandom(options.seed)
  const shapes = makeShapes(random, options.shapes ?? 500)
  const draw = zipf(shapes.length, 1.1)
  // Each shape has a typical time (log-normal around 1-50 ms, a few much slower) and row counts.
  const typical = shapes.map(() => Math.exp(Math.log(0.004) + 1.5 * (random() + random() + random() - 1.5)))
  const flavours = options.flavours ?? ["mariadb", "mysql", "mysql_extra", "percona"]
  let nowUs = (options.startEpochSeconds ?? 1_705_276_800) * 1_000_000
  let lastMariaSecond = -1
  let out = ""
  const bannerAt = options.banner === false ? -1 : Math.floor(options.events / 2)

  for (let i = 0; i < options.events; i++) {
    if (i === bannerAt) {
      // pt-query-digest recognises the banner of a binary named mysqld only (not mariadbd), so this one keeps the
      // comparison fair; the parser's own tests cover MariaDB's.
      out +=
        "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n" +
        "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n" +
        "Time                 Id Command    Argument\n"
      lastMariaSecond = -1
    }
    nowUs += int(random, 0, 2 * (options.meanGapUs ?? 2000))
    const shape = draw(random)
    const queryTime = Math.min(typical[shape]! * Math.exp(0.6 * (random() + random() - 1)), 120)
    const lockTime = random() < 0.7 ? random() * 0.0002 : 0
    const rowsSent = int(random, 0, 200)
    const rowsExamined = rowsSent + int(random, 0, 20_000)
    const startUs = nowUs - Math.round(queryTime * 1e6)
    const startSeconds = Math.floor(startUs / 1e6)
    const user = pick(random, USERS)
    const host = pick(random, HOSTS)
    const ip = host.startsWith("10.") ? host : ""
    const db = pick(random, DATABASES)
    const thread = int(random, 5, 400)
    const admin = random() < 0.002
    const sql = admin ? "# administrator command: Quit" : shapes[shape]!(random)
    const use = random() < 0.05 ? `use ${db};\n` : ""
    const flavour = pick(random, flavours)
    const userHost = `${user}[${user}] @ ${ip === "" ? host : ""} [${ip}]`
    switch (flavour) {
      case "mariadb": {
        const second = Math.floor(nowUs / 1e6)
        if (second !== lastMariaSecond) out += `# Time: ${mariaTime(second)}\n`
        lastMariaSecond = second
        out +=
          `# User@Host: ${userHost}\n` +
          `# Thread_id: ${thread}  Schema: ${db}  QC_hit: No\n` +
          `# Query_time: ${seconds(queryTime)}  Lock_time: ${seconds(lockTime)}  Rows_sent: ${rowsSent}  Rows_examined: ${rowsExamined}\n` +
          `# Rows_affected: ${sql.startsWith("SELECT") ? 0 : int(random, 0, 3)}  Bytes_sent: ${int(random, 11, 9000)}\n`
        break
      }
      case "mysql":
        out +=
          `# Time: ${isoTime(nowUs)}\n` +
          `# User@Host: ${userHost}  Id: ${String(thread).padStart(5, " ")}\n` +
          `# Query_time: ${seconds(queryTime)}  Lock_time: ${seconds(lockTime)} Rows_sent: ${rowsSent}  Rows_examined: ${rowsExamined}\n`
        break
      case "mysql_extra":
        out +=
          `# Time: ${isoTime(nowUs)}\n` +
          `# User@Host: ${userHost}  Id: ${String(thread).padStart(5, " ")}\n` +
          `# Query_time: ${seconds(queryTime)}  Lock_time: ${seconds(lockTime)} Rows_sent: ${rowsSent}  Rows_examined: ${rowsExamined} Thread_id: ${thread} Errno: 0 Killed: 0 Bytes_received: ${sql.length} Bytes_sent: ${int(random, 11, 9000)} Read_first: 0 Read_last: 0 Read_key: ${int(random, 0, 9)} Read_next: 0 Read_prev: 0 Read_rnd: 0 Read_rnd_next: ${rowsExamined} Sort_merge_passes: 0 Sort_range_count: 0 Sort_rows: 0 Sort_scan_count: 0 Created_tmp_disk_tables: 0 Created_tmp_tables: 0 Start: ${isoTime(startUs)} End: ${isoTime(nowUs)}\n`
        break
      case "percona":
        out +=
          `# Time: ${isoTime(nowUs)}\n` +
          `# User@Host: ${userHost}  Id: ${String(thread).padStart(5, " ")}\n` +
          `# Schema: ${db}  Last_errno: 0  Killed: 0\n` +
          `# Query_time: ${seconds(queryTime)}  Lock_time: ${seconds(lockTime)}  Rows_sent: ${rowsSent}  Rows_examined: ${rowsExamined}  Rows_affected: 0  Bytes_sent: ${int(random, 11, 9000)}\n` +
          `# Tmp_tables: 0  Tmp_disk_tables: 0  Tmp_table_sizes: 0\n` +
          `# InnoDB_trx_id: 0\n` +
          `# Full_scan: ${random() < 0.3 ? "Yes" : "No"}  Full_join: No  Tmp_table: No  Tmp_table_on_disk: No\n` +
          `# Filesort: No  Filesort_on_disk: No  Merge_passes: 0\n` +
          `#   InnoDB_IO_r_ops: 0  InnoDB_IO_r_bytes: 0  InnoDB_IO_r_wait: 0.000000\n` +
          `#   InnoDB_rec_lock_wait: 0.000000  InnoDB_queue_wait: 0.000000\n` +
          `#   InnoDB_pages_distinct: ${int(random, 1, 64)}\n`
        break
    }
    out += `${use}SET timestamp=${startSeconds};\n${sql};\n`
    if (out.length >= 65536) {
      yield out
      out = ""
    }
  }
  if (out !== "") yield out
}

/** Writes a generated slow log to `path`; resolves with its size in bytes. */
export const writeSlowLog = (path: string, options: GenerateOptions): Promise<number> =>
  new Promise((resolve, reject) => {
    const stream = createWriteStream(path)
    let bytes = 0
    const chunks = generateSlowLog(options)
    stream.on("error", reject)
    const pump = (): void => {
      for (;;) {
        const next = chunks.next()
        if (next.done === true) {
          stream.end(() => resolve(bytes))
          return
        }
        const buffer = Buffer.from(next.value, "utf8")
        bytes += buffer.length
        if (!stream.write(buffer)) {
          stream.once("drain", pump)
          return
        }
      }
    }
    pump()
  })
