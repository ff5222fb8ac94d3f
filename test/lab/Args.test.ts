// test group: other
import { describe, expect, it } from "vitest"
import { ArgsError, parseArgs } from "../../scripts/lab/Args.js"
import { allStatements, generator, requestKinds, requests, requestsPerDeck, statementsPerDeck } from "../../scripts/lab/ShopMix.js"

const problem = (argv: ReadonlyArray<string>) => {
  try {
    parseArgs(argv)
    return "no problem"
  } catch (error) {
    return error instanceof ArgsError ? error.message : `not an ArgsError: ${String(error)}`
  }
}

describe("npm run lab:workload's arguments", () => {
  it("reads both URLs, the rate, the duration, the seed and the status file, in either form", () => {
    expect(
      parseArgs([
        "--mysql",
        "mysql://root:pw@db:3306/lab",
        "--postgres=postgresql://u@pg/lab",
        "--rate",
        "2.5",
        "--seconds=60",
        "--seed",
        "42",
        "--status-file",
        "/tmp/s"
      ])
    ).toEqual({
      mysql: "mysql://root:pw@db:3306/lab",
      postgres: "postgresql://u@pg/lab",
      rate: 2.5,
      seconds: 60,
      seed: 42,
      statusFile: "/tmp/s"
    })
    expect(parseArgs(["--postgres", "postgres://u@pg/lab", "--rate", "10"])).toEqual({
      mysql: undefined,
      postgres: "postgres://u@pg/lab",
      rate: 10,
      seconds: undefined,
      seed: 1,
      statusFile: undefined
    })
  })

  it("names what is wrong, never echoing a URL (it may hold a password)", () => {
    expect(problem(["--rate", "5"])).toBe("give --mysql URL, --postgres URL or both")
    expect(problem(["--mysql", "mysql://u@h/db"])).toBe("--rate N is required")
    expect(problem(["--mysql", "mysql://u@h/db", "--rate", "0"])).toBe('--rate: expected a number from 0.1 to 10000, got "0"')
    expect(problem(["--mysql", "mysql://u@h/db", "--rate", "fast"])).toBe('--rate: expected a number from 0.1 to 10000, got "fast"')
    expect(problem(["--mysql", "mysql://u@h/db", "--rate", "5", "--seed", "1.5"])).toBe(
      '--seed: expected an integer from 0 to 4294967295, got "1.5"'
    )
    expect(problem(["--mysql", "mysql://u@h/db", "--rate", "5", "--seconds", "0"])).toBe(
      '--seconds: expected a number from 1 to 31536000, got "0"'
    )
    expect(problem(["--mysql", "postgres://u:secret@h/db", "--rate", "5"])).toBe("--mysql: expected a mysql: URL, got postgres:")
    expect(problem(["--postgres", "//u:secret@h/db", "--rate", "5"])).toBe("--postgres: not a URL (expected postgres://user@host:port/database)")
    expect(problem(["--mysql", "mysql://u:secret@h", "--rate", "5"])).toBe("--mysql: the URL names no database")
    expect(problem(["--mysql", "mysql://u@h/db", "--rate", "5", "--rate", "6"])).toBe("--rate is given twice")
    expect(problem(["--mysql", "mysql://u@h/db", "--rate"])).toBe("--rate needs a value")
    expect(problem(["--mysql", "mysql://u@h/db", "--rate", "5", "--verbose"])).toBe('unknown argument "--verbose"')
  })
})

describe("the shop's mix", () => {
  it("holds every kind its weight in times per deck of 100, and the same seed sends the same statements", () => {
    expect(requestsPerDeck).toBe(100)
    expect(requestKinds.map((kind) => [kind.name, kind.weight])).toEqual([
      ["product page", 26],
      ["account page", 12],
      ["order page", 10],
      ["login", 8],
      ["product sales", 6],
      ["orders of a day", 4],
      ["search", 6],
      ["best sellers", 2],
      ["status report", 2],
      ["checkout", 16],
      ["order shipped", 8]
    ])
    expect(statementsPerDeck("mysql")).toBe(202)
    expect(statementsPerDeck("postgres")).toBe(202)
    const take = (seed: number, n: number, dialect: "mysql" | "postgres" = "postgres") => {
      const stream = requests(dialect, seed)
      return Array.from({ length: n }, () => stream.next().value)
    }
    const deck = take(7, 100)
    const counts = new Map<string, number>()
    for (const request of deck) counts.set(request.kind, (counts.get(request.kind) ?? 0) + 1)
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(requestKinds.map((kind) => [kind.name, kind.weight])))
    // Every distinct text of the mix is in the first deck.
    const texts = new Set(deck.flatMap((request) => request.statements.map((s) => s.sql)))
    expect([...new Set(allStatements("postgres").map((s) => s.sql))].filter((sql) => !texts.has(sql))).toEqual([])
    expect(take(7, 300)).toEqual(take(7, 300))
    expect(take(7, 20)).not.toEqual(take(8, 20))
    // Both databases get the same requests, in their own dialect.
    expect(take(7, 100, "mysql").map((r) => r.kind)).toEqual(deck.map((r) => r.kind))
    expect(deck.find((r) => r.kind === "checkout")!.statements.map((s) => s.sql)).toEqual([
      "BEGIN",
      "SELECT stock, price FROM products WHERE id = $1 FOR UPDATE",
      "UPDATE products SET stock = stock - $1 WHERE id = $2",
      "INSERT INTO orders (customer_id, status, total, created_at) VALUES ($1, 'pending', $2, NOW())",
      "INSERT INTO order_items (order_id, product_id, qty, price) VALUES (currval('orders_id_seq'), $1, $2, $3)",
      "COMMIT"
    ])
    expect(generator(1)()).toBe(generator(1)())
  })
})
