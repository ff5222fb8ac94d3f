import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { eventStartMicros, parseLogTime } from "./EventTime.js"
import { type ParseOutput, parseSlowLog, SlowLogParser, parseUserHost } from "./SlowLogParser.js"

const testdata = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url))

/** Feeds `input` in pieces cut at `cuts`, as a file read in arbitrary chunks would be. */
const parseInPieces = (input: Uint8Array, cuts: ReadonlyArray<number>): ParseOutput => {
  const parser = new SlowLogParser()
  const events: ParseOutput["events"] = []
  const problems: ParseOutput["problems"] = []
  let from = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const out = parser.push(input.subarray(from, cut))
    events.push(...out.events)
    problems.push(...out.problems)
    from = cut
  }
  const out = parser.push(input.subarray(from))
  const last = parser.finish()
  return { events: [...events, ...out.events, ...last.events], problems: [...problems, ...out.problems, ...last.problems] }
}

describe("SlowLogParser golden files", () => {
  it("MySQL 5.7: banner, ISO # Time, Id on User@Host, use, multi-line statement, administrator command", () => {
    const { events, problems } = parseSlowLog(testdata("mysql-5.7.log"))
    expect(problems).toEqual([])
    expect(events).toEqual([
      {
        offset: 185,
        end: 415,
        time: "2024-01-15T10:00:00.123456Z",
        lastTime: "2024-01-15T10:00:00.123456Z",
        timestamp: 1705312800,
        userHost: "app[app] @ localhost []",
        user: "app",
        host: "localhost",
        ip: undefined,
        threadId: 8,
        db: "shop",
        useDb: "shop",
        queryTime: 0.000223,
        lockTime: 0.000101,
        rowsSent: 1,
        rowsExamined: 1,
        rowsAffected: undefined,
        attributes: {},
        sql: "SELECT * FROM users WHERE id = 42",
        admin: false,
        truncatedBytes: 0
      },
      {
        offset: 415,
        end: 679,
        time: "2024-01-15T10:00:01.500000Z",
        lastTime: "2024-01-15T10:00:01.500000Z",
        timestamp: 1705312800,
        userHost: "app[app] @ web-1 [10.0.0.7]",
        user: "app",
        host: "web-1",
        ip: "10.0.0.7",
        threadId: 9,
        // MySQL wrote no `use`: the database has not changed since the entry before.
        db: "shop",
        useDb: undefined,
        queryTime: 1.25,
        lockTime: 0.00005,
        rowsSent: 0,
        rowsExamined: 120000,
        rowsAffected: undefined,
        attributes: {},
        sql: "UPDATE orders\nSET status = 'shipped'\nWHERE created_at < '2024-01-01'",
        admin: false,
        truncatedBytes: 0
      },
      {
        offset: 679,
        end: 895,
        time: "2024-01-15T10:00:02.000010Z",
        lastTime: "2024-01-15T10:00:02.000010Z",
        timestamp: 1705312802,
        userHost: "app[app] @ localhost []",
        user: "app",
        host: "localhost",
        ip: undefined,
        threadId: 8,
        db: "shop",
        useDb: undefined,
        queryTime: 0.00001,
        lockTime: 0,
        rowsSent: 0,
        rowsExamined: 0,
        rowsAffected: undefined,
        attributes: {},
        sql: "administrator command: Quit",
        admin: true,
        truncatedBytes: 0
      }
    ])
    // The ISO # Time is the statement's end: minus Query_time it is the start, to the microsecond.
    expect(events.map((e) => eventStartMicros(e, 0))).toEqual([1705312800123233, 1705312800250000, 1705312802000000])
  })

  it("MySQL 8.0 with log_slow_extra: every extra counter kept, Start used as the start time, zoned # Time", () => {
    const { events, problems } = parseSlowLog(testdata("mysql-8.0-extra.log"))
    expect(problems).toEqual([])
    expect(events.length).toBe(2)
    const [extra, initDb] = events
    expect(extra).toMatchObject({ offset: 181, end: 744, threadId: 12, queryTime: 0.000244, lockTime: 0.000003, sql: "select * from t" })
    expect(extra!.attributes).toEqual({
      Errno: 0,
      Killed: 0,
      Bytes_received: 22,
      Bytes_sent: 56,
      Read_first: 1,
      Read_last: 0,
      Read_key: 1,
      Read_next: 0,
      Read_prev: 0,
      Read_rnd: 0,
      Read_rnd_next: 1,
      Sort_merge_passes: 0,
      Sort_range_count: 0,
      Sort_rows: 0,
      Sort_scan_count: 0,
      Created_tmp_disk_tables: 0,
      Created_tmp_tables: 0,
      Start: "2024-05-10T17:45:09.474744Z",
      End: "2024-05-10T17:45:09.474988Z"
    })
    expect(eventStartMicros(extra!, 0)).toBe(1715363109474744)
    expect(initDb).toMatchObject({
      db: "test_jfg2",
      useDb: "test_jfg2",
      sql: "administrator command: Init DB",
      admin: true,
      rowsSent: 2
    })
    // 19:45:10.000100+02:00 is 17:45:10.000100Z; minus 300 µs it falls in the second SET timestamp names.
    expect(eventStartMicros(initDb!, 0)).toBe(1715363109999800)
  })

  it("MariaDB 10.11: Thread_id/Schema/QC_hit, Rows_affected, query_plan and explain lines, empty Schema, SQL_SLAVE", () => {
    const { events, problems } = parseSlowLog(testdata("mariadb-10.11.log"))
    expect(problems).toEqual([])
    expect(events.map((e) => [e.offset, e.end])).toEqual([
      [169, 762],
      [762, 1027],
      [1027, 1297]
    ])
    const [plan, insert, replica] = events
    expect(plan).toMatchObject({
      time: "240115 10:00:00",
      threadId: 31,
      db: "shop",
      useDb: "shop",
      rowsAffected: 0,
      sql: "SELECT * FROM t"
    })
    expect(plan!.attributes).toEqual({
      QC_hit: false,
      Bytes_sent: 250,
      Full_scan: true,
      Full_join: false,
      Tmp_table: false,
      Tmp_table_on_disk: false,
      Filesort: false,
      Filesort_on_disk: false,
      Merge_passes: 0,
      Priority_queue: false,
      explain:
        "id\tselect_type\ttable\ttype\tpossible_keys\tkey\tkey_len\tref\trows\tr_rows\tfiltered\tr_filtered\tExtra\n1\tSIMPLE\tt\tALL\tNULL\tNULL\tNULL\tNULL\t3\t3.00\t100.00\t100.00"
    })
    // No # Time line of its own: the entry was logged in the same second as the one before.
    expect(insert).toMatchObject({
      time: undefined,
      lastTime: "240115 10:00:00",
      db: undefined,
      user: "app",
      host: "10.0.0.5",
      ip: "10.0.0.5",
      rowsAffected: 1,
      sql: "INSERT INTO log (msg) VALUES ('multi\nline'), ('two')"
    })
    expect(replica).toMatchObject({ user: "[SQL_SLAVE]", host: undefined, userHost: "[SQL_SLAVE] @  []", time: "240115  9:59:59" })
    expect(events.map((e) => eventStartMicros(e, 0))).toEqual([1705312800000000, 1705312800000000, 1705312799000000])
  })

  it("MariaDB 11.4", () => {
    const { events, problems } = parseSlowLog(testdata("mariadb-11.4.log"))
    expect(problems).toEqual([])
    expect(events).toMatchObject([
      { offset: 188, end: 453, threadId: 11, db: undefined, queryTime: 0.000074, sql: "select database()", timestamp: 1717443437 }
    ])
  })

  it("Percona Server 8.0: Schema line, InnoDB lines, free-text lines; unknown attributes kept", () => {
    const { events, problems } = parseSlowLog(testdata("percona-8.0.log"))
    expect(problems).toEqual([])
    const [full, short] = events
    expect(full).toMatchObject({ offset: 0, end: 749, db: "test_jfg", threadId: 13, rowsAffected: 0 })
    expect(full!.attributes).toEqual({
      Last_errno: 0,
      Killed: 0,
      Bytes_sent: 56,
      Tmp_tables: 0,
      Tmp_disk_tables: 0,
      Tmp_table_sizes: 0,
      InnoDB_trx_id: 0,
      Full_scan: true,
      Full_join: false,
      Tmp_table: false,
      Tmp_table_on_disk: false,
      Filesort: false,
      Filesort_on_disk: false,
      Merge_passes: 0,
      InnoDB_IO_r_ops: 0,
      InnoDB_IO_r_bytes: 0,
      InnoDB_IO_r_wait: 0,
      InnoDB_rec_lock_wait: 0,
      InnoDB_queue_wait: 0,
      InnoDB_pages_distinct: 1,
      Log_slow_rate_type: "query",
      Log_slow_rate_limit: 10,
      Future_thing: 42,
      Another: "some-text"
    })
    expect(short).toMatchObject({ db: undefined, timestamp: 1715363547, sql: "select database()" })
    expect(short!.attributes).toEqual({ Last_errno: 1062, Killed: 0, Bytes_sent: 57, insert_id: 34484549 })
  })

  it("a server restart mid-file: the entry cut by the banner is reported, the entries around it are kept", () => {
    const { events, problems } = parseSlowLog(testdata("restart-and-truncated.log"))
    expect(events.map((e) => [e.offset, e.end, e.sql])).toEqual([
      [0, 262, "SELECT SLEEP(0.5)"],
      [612, 863, "SELECT 1"],
      // At the end of the input the last entry is taken as it is, cut or not.
      [863, 1135, "SELECT * FROM orders WHERE id ="]
    ])
    expect(problems).toEqual([
      {
        kind: "incomplete_event",
        offset: 262,
        length: 181,
        message: "skipped an incomplete entry at byte 262 (181 bytes): it has no statement"
      }
    ])
  })

  it("a truncated last entry stays pending until the input is complete", () => {
    const input = testdata("restart-and-truncated.log")
    const parser = new SlowLogParser()
    const out = parser.push(input)
    expect(out.events.map((e) => e.sql)).toEqual(["SELECT SLEEP(0.5)", "SELECT 1"])
    expect(parser.hasPendingEvent).toBe(true)
    expect(parser.resumeOffset).toBe(863)
    expect(parser.bytesSeen).toBe(1135)
    // Resuming at the pending entry's offset with the rest of the file gives the same entry.
    const resumed = new SlowLogParser({ startOffset: 863 })
    resumed.push(input.subarray(863))
    expect(resumed.finish().events.map((e) => [e.offset, e.sql])).toEqual([[863, "SELECT * FROM orders WHERE id ="]])
  })
})

describe("SlowLogParser robustness", () => {
  const files = [
    "mysql-5.7.log",
    "mysql-8.0-extra.log",
    "mariadb-10.11.log",
    "mariadb-11.4.log",
    "percona-8.0.log",
    "restart-and-truncated.log",
    "blank-line-at-end.log",
    "percona-user-without-host.log"
  ]

  it("gives the same events and problems however the input is cut into chunks", () => {
    const inputs = files.map(testdata)
    const whole = inputs.map((input) => parseSlowLog(input))
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: inputs.length - 1 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (index, fractions) => {
          const input = inputs[index]!
          const cuts = fractions.map((f) => Math.floor(f * input.length))
          expect(parseInPieces(input, cuts)).toEqual(whole[index])
        }
      ),
      { numRuns: 300 }
    )
    // And byte by byte.
    expect(parseInPieces(inputs[2]!, Array.from({ length: inputs[2]!.length }, (_, i) => i))).toEqual(whole[2])
  })

  it("light mode (the digest's) reads the same entries and figures, without attributes", () => {
    const project = (out: ParseOutput) =>
      out.events.map(({ attributes: _, userHost: __, time: ___, lastTime: ____, ...rest }) => rest)
    for (const file of files) {
      const full = parseSlowLog(testdata(file))
      const light = parseSlowLog(testdata(file), { light: true })
      expect(project(light)).toEqual(project(full))
      expect(light.problems).toEqual(full.problems)
      expect(light.events.every((e) => Object.keys(e.attributes).length === 0 && e.userHost === undefined)).toBe(true)
    }
    // Percona Server with log_slow_extra puts Schema at the end of the Query_time line; empty without a database.
    const extra = (schema: string) =>
      `# User@Host: u[u] @ h []  Id: 3\n# Query_time: 0.2  Lock_time: 0 Rows_sent: 0  Rows_examined: 0 Thread_id: 3 Errno: 0 Schema: ${schema} Rows_affected: 4\nSELECT 1;\n`
    for (const options of [{}, { light: true }]) {
      expect(parseSlowLog(`${extra("shop")}${extra("")}`, options).events.map((e) => [e.db, e.rowsAffected, e.threadId])).toEqual([
        ["shop", 4, 3],
        [undefined, 4, 3]
      ])
    }
    // Without SET timestamp the # Time text is still there.
    const noTimestamp = "# Time: 240115 10:00:00\n# User@Host: u[u] @ h []\n# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 1;\n"
    expect(parseSlowLog(noTimestamp, { light: true }).events.map((e) => e.time)).toEqual(["240115 10:00:00"])
  })

  it("onEntry hands out every entry as a view of its bytes, with the fields of the event", () => {
    const views = (input: Uint8Array, options: { light?: boolean; maxStatementBytes?: number }) => {
      const seen: Array<Record<string, unknown>> = []
      const parser = new SlowLogParser({
        ...options,
        onEntry: (view) => {
          const { bytes, sqlStart, sqlEnd, ...fields } = view
          seen.push({ ...fields, sql: view.sql(), rawSql: Buffer.from(bytes.subarray(sqlStart, sqlEnd)).toString("latin1") })
        }
      })
      // In pieces, so that entries straddle chunks and the parser's buffer moves.
      const problems = []
      for (let at = 0; at < input.length; at += 97) problems.push(...parser.push(input.subarray(at, at + 97)).problems)
      const last = parser.finish()
      expect(last.events).toEqual([])
      return { seen, problems: [...problems, ...last.problems] }
    }
    for (const file of files) {
      for (const light of [false, true]) {
        const expected = parseSlowLog(testdata(file), { light })
        const { seen, problems } = views(testdata(file), { light })
        expect(seen.map(({ rawSql: _, ...fields }) => fields)).toEqual(expected.events.map((e) => ({ ...e })))
        expect(problems).toEqual(expected.problems)
      }
    }
    // The bytes are the server's, not UTF-8 repaired; a statement cut at the limit is its kept beginning.
    const raw = Buffer.concat([
      Buffer.from("# User@Host: u[u] @ h []\n# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT '"),
      Buffer.from([0xff, 0xfe]),
      Buffer.from("';\n# User@Host: u[u] @ h []\n# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n# administrator command: Quit;\n")
    ])
    expect(views(raw, { light: true }).seen.map((v) => [v.rawSql, v.sql, v.admin])).toEqual([
      ["SELECT '\xff\xfe'", "SELECT '\ufffd\ufffd'", false],
      ["administrator command: Quit", "administrator command: Quit", true]
    ])
    const long = `# User@Host: u[u] @ h []\n# Query_time: 1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT ${"x".repeat(300)};\n`
    const cut = views(Buffer.from(long), { light: true, maxStatementBytes: 20 })
    expect(cut.seen.map((v) => [v.rawSql, v.truncatedBytes])).toEqual([[`SELECT ${"x".repeat(13)}`, 289]])
    expect(cut.problems.map((p) => p.kind)).toEqual(["statement_truncated"])
  })

  it("decodes bytes that are not UTF-8 as U+FFFD and goes on", () => {
    const head = Buffer.from(
      "# Time: 240115 10:00:00\n# User@Host: root[root] @ localhost []\n# Query_time: 0.1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSET timestamp=1705312800;\nSELECT '",
      "latin1"
    )
    const input = Buffer.concat([
      head,
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from("';\n# User@Host: u[u] @ h []\n# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 2;\n")
    ])
    const { events, problems } = parseSlowLog(input)
    expect(problems).toEqual([])
    expect(events.map((e) => e.sql)).toEqual(["SELECT '\uFFFD\uFFFD\uFFFD'", "SELECT 2"])
  })

  it("reports binary garbage with its offsets and never throws on it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), (bytes) => {
        const out = parseSlowLog(bytes)
        for (const problem of out.problems) {
          expect(problem.offset).toBeGreaterThanOrEqual(0)
          expect(problem.offset + problem.length).toBeLessThanOrEqual(bytes.length)
        }
      }),
      { numRuns: 500 }
    )
    const garbage = Buffer.alloc(3 * 1024 * 1024, 0x41)
    garbage[100] = 0x0a
    const out = parseSlowLog(garbage)
    expect(out.events).toEqual([])
    expect(out.problems.reduce((sum, p) => sum + p.length, 0)).toBe(garbage.length)
    expect(out.problems[0]).toMatchObject({ kind: "not_an_event", offset: 0 })
  })

  it("finds the entries after garbage, and reports the garbage once with its offset", () => {
    const text = `${"this is not a slow log\n".repeat(3)}# User@Host: u[u] @ h []\n# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 2;\n`
    const { events, problems } = parseSlowLog(text)
    expect(events.map((e) => [e.offset, e.sql])).toEqual([[69, "SELECT 2"]])
    expect(problems).toEqual([
      { kind: "not_an_event", offset: 0, length: 69, message: "skipped 69 bytes at byte 0 that are not slow log entries" }
    ])
  })

  it("cuts a statement longer than maxStatementBytes, keeps the event, and keeps memory bounded", () => {
    const header = "# User@Host: u[u] @ h []\n# Query_time: 1.5  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n"
    const statement = `INSERT INTO t VALUES ${"(1),".repeat(250_000)}(1)`
    const input = Buffer.from(`${header}${statement};\n${header}SELECT 2;\n`)
    const parser = new SlowLogParser({ maxStatementBytes: 4096 })
    const events = []
    const problems = []
    for (let i = 0; i < input.length; i += 10_000) {
      const out = parser.push(input.subarray(i, i + 10_000))
      events.push(...out.events)
      problems.push(...out.problems)
    }
    const last = parser.finish()
    events.push(...last.events)
    problems.push(...last.problems)
    expect(events.map((e) => [e.sql.length, e.truncatedBytes])).toEqual([
      [4096, statement.length + 2 - 4096],
      [8, 0]
    ])
    expect(events[0]!.sql).toBe(statement.slice(0, 4096))
    expect(events[1]!.offset).toBe(header.length + statement.length + 2)
    expect(problems).toEqual([
      {
        kind: "statement_truncated",
        offset: 0,
        length: header.length + statement.length + 2,
        message: `the statement of the entry at byte 0 is ${statement.length + 2} bytes long; kept its first 4096 bytes`
      }
    ])
  })

  it("reports an entry without # Query_time and goes on", () => {
    const text =
      "# Time: 240115 10:00:00\n# User@Host: u[u] @ h []\nSELECT 1;\n# User@Host: u[u] @ h []\n# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 2;\n"
    const { events, problems } = parseSlowLog(text)
    expect(events.map((e) => e.sql)).toEqual(["SELECT 2"])
    expect(problems).toMatchObject([{ kind: "incomplete_event", offset: 0, length: 59 }])
  })

  it("keeps # lines inside a statement that are not entry headers", () => {
    const text =
      "# User@Host: u[u] @ h []\n# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 1;\n# a comment\nSELECT 2;\n"
    expect(parseSlowLog(text).events.map((e) => e.sql)).toEqual(["SELECT 1;\n# a comment\nSELECT 2"])
  })

  it("carries MySQL's database to the entries after `use`, not past a restart nor over an empty Schema", () => {
    const entry = (extra: string, sql: string) =>
      `# User@Host: u[u] @ h []\n${extra}# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\n${sql};\n`
    const text = [
      entry("", "use shop;\nSELECT 1"),
      entry("", "SELECT 2"),
      "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n",
      entry("", "SELECT 3"),
      entry("", "use billing;\nSELECT 4"),
      entry("# Thread_id: 4  Schema:   QC_hit: No\n", "SELECT 5"),
      entry("", "SELECT 6")
    ].join("")
    expect(parseSlowLog(text).events.map((e) => [e.sql, e.db])).toEqual([
      ["SELECT 1", "shop"],
      ["SELECT 2", "shop"],
      ["SELECT 3", undefined],
      ["SELECT 4", "billing"],
      ["SELECT 5", undefined],
      ["SELECT 6", undefined]
    ])
    // A parser resuming mid-file is told the database in effect there.
    const resumed = new SlowLogParser({ initialDb: "shop" })
    resumed.push(Buffer.from(entry("", "SELECT 2")))
    expect(resumed.finish().events.map((e) => e.db)).toEqual(["shop"])
    expect(resumed.currentDb).toBe("shop")
  })

  it("a blank line after the last statement is no part of it: no `;` left (issue 17)", () => {
    const input = testdata("blank-line-at-end.log")
    for (const light of [false, true]) {
      const { events, problems } = parseSlowLog(input, { light })
      expect(problems).toEqual([])
      expect(events.map((e) => [e.offset, e.end, e.sql, e.db, e.threadId, e.queryTime])).toEqual([
        [0, 223, "SELECT a FROM t1", "shop", 7, 0.1],
        [223, input.length, "SELECT a FROM t1", "shop", 7, 0.3]
      ])
    }
    // Nor between entries, nor blank space that is not a newline; a statement without `;` keeps its other lines.
    const entry = (tail: string) => `# User@Host: u[u] @ h []\n# Query_time: 0.2  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nSELECT 1${tail}`
    const text = [entry(";\n\n\n"), entry("; \t\r\n \n"), entry(" ;\n"), entry("\n\n"), entry(";;\n\n"), entry(";")].join("")
    expect(parseSlowLog(text).events.map((e) => e.sql)).toEqual(["SELECT 1", "SELECT 1", "SELECT 1 ", "SELECT 1\n", "SELECT 1;", "SELECT 1;"])
  })

  it("headers without @Host or # Time: each entry with its own user, thread and schema (issue 17)", () => {
    const input = testdata("percona-user-without-host.log")
    const expected = (offset: number, end: number, n: number) => ({
      offset,
      end,
      time: undefined,
      lastTime: undefined,
      timestamp: undefined,
      userHost: "u[u] @ [1.2.3.4]",
      user: "u",
      host: "1.2.3.4",
      ip: "1.2.3.4",
      threadId: n,
      db: "db",
      useDb: undefined,
      queryTime: n / 10,
      lockTime: 0,
      rowsSent: 0,
      rowsExamined: 0,
      rowsAffected: undefined,
      attributes: {},
      sql: `SELECT ${n} FROM foo`,
      admin: false,
      truncatedBytes: 0
    })
    expect(parseSlowLog(input)).toEqual({ events: [expected(0, 133, 1), expected(133, input.length, 2)], problems: [] })
    // Byte by byte: the same.
    expect(parseInPieces(input, Array.from({ length: input.length }, (_, i) => i))).toEqual(parseSlowLog(input))
  })

  it("splits at `;` + a header line as pt-query-digest does, and reads such a line between entries as a header", () => {
    const queryTime = (n: number) => `# Query_time: 0.${n}  Lock_time: 0  Rows_sent: 0  Rows_examined: ${n}\n`
    // No user line at all: the Thread_id line after the statement begins the next entry, and the first one too.
    const text = `# Thread_id: 1  Schema: a\n${queryTime(1)}SELECT 1;\n# Thread_id: 2  Schema: b\n${queryTime(2)}SELECT 2;\n# administrator command: Quit;\n# Thread_id: 3  Schema: c\n${queryTime(3)}SELECT 3;\n`
    for (const light of [false, true]) {
      const { events, problems } = parseSlowLog(text, { light })
      expect(problems).toEqual([])
      expect(events.map((e) => [e.sql, e.threadId, e.db, e.rowsExamined])).toEqual([
        ["SELECT 1", 1, "a", 1],
        ["SELECT 2;\n# administrator command: Quit", 2, "b", 2],
        ["SELECT 3", 3, "c", 3]
      ])
    }
    // Not after a line without `;`, nor a `#` line that is no header by pt's test: both stay in the statement.
    const comments = `# User@Host: u[u] @ h []\n${queryTime(1)}SELECT 1 -- x\n# Thread_id: 9\n, 2;\n# note: lower case\n#Thread_id: 9\n# Thread_id:\nFROM t;\n`
    expect(parseSlowLog(comments).events.map((e) => [e.sql, e.threadId])).toEqual([
      ["SELECT 1 -- x\n# Thread_id: 9\n, 2;\n# note: lower case\n#Thread_id: 9\n# Thread_id:\nFROM t", undefined]
    ])
    // A statement line past maxStatementBytes is not kept, but whether it ended with `;` still counts.
    const long = `# User@Host: u[u] @ h []\n${queryTime(1)}SELECT '${"x".repeat(20_000)}';\n# Thread_id: 2  Schema: b\n${queryTime(2)}SELECT 2;\n`
    const parser = new SlowLogParser({ maxStatementBytes: 100 })
    const events = []
    for (let at = 0; at < long.length; at += 4096) events.push(...parser.push(Buffer.from(long.slice(at, at + 4096))).events)
    events.push(...parser.finish().events)
    expect(events.map((e) => [e.sql.length, e.threadId, e.db])).toEqual([
      [100, undefined, undefined],
      [8, 2, "b"]
    ])
  })

  it("reads MySQL 5.0's # Time and # User@Host on one line", () => {
    const text =
      "# Time: 071218 11:48:27 # User@Host: [SQL_SLAVE] @  []\n# Thread_id: 10\n# Query_time: 0.000012  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0\nBEGIN;\n"
    expect(parseSlowLog(text).events).toMatchObject([{ time: "071218 11:48:27", user: "[SQL_SLAVE]", threadId: 10, sql: "BEGIN" }])
  })
})

describe("slow log helpers", () => {
  it("splits User@Host values as pt-query-digest does", () => {
    expect(parseUserHost(" root[root] @ localhost [127.0.0.1]  Id:    12")).toEqual({
      userHost: "root[root] @ localhost [127.0.0.1]",
      user: "root",
      host: "localhost",
      ip: "127.0.0.1",
      id: 12
    })
    expect(parseUserHost(" app[app] @  [10.0.0.5]")).toEqual({
      userHost: "app[app] @  [10.0.0.5]",
      user: "app",
      host: "10.0.0.5",
      ip: "10.0.0.5",
      id: undefined
    })
  })

  it("reads both # Time forms", () => {
    expect(parseLogTime("2024-05-10T17:45:09.474988Z", 0)).toEqual({ epochUs: 1715363109474988, zoned: true })
    expect(parseLogTime("2024-05-10T19:45:09.5+02:00", 0)).toEqual({ epochUs: 1715363109500000, zoned: true })
    expect(parseLogTime("240115  9:05:01", 0)).toEqual({ epochUs: 1705309501000000, zoned: false })
    expect(parseLogTime("240115 10:05:01", 60)).toEqual({ epochUs: 1705309501000000, zoned: false })
    expect(parseLogTime("yesterday", 0)).toBeUndefined()
  })
})
