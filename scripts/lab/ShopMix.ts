/**
 * The lab's web shop: its schema, its seeded data and its traffic, for MySQL/MariaDB and PostgreSQL alike.
 *
 * The tables are large enough that a missing index matters (60,000 orders, 150,000 order items, 20,000 customers,
 * 10,000 products), and three of the shop's frequent reads filter on a column nothing indexes (a customer by e-mail, a
 * product's sales, a day's orders): the explain stage plans them as scans, and the analyze stage finds them and
 * proves the index each needs (HypoPG on PostgreSQL). The rest is what a shop does: lookups by primary key, an
 * account page through the (customer_id, created_at) index, a prefix search, a report that joins and sorts, and
 * writes (a checkout transaction, an order shipped).
 *
 * Everything is a pure function of the seed: the data does not depend on it at all (computed from the row number),
 * and the traffic is drawn in decks of 100 requests holding every kind of request exactly its weight in times,
 * shuffled by a seeded generator. So every statement shape of the mix has run once the first deck is through
 * (`requestsPerDeck` requests), which is what lets the lab test expect an exact set of fingerprints.
 *
 * Self-contained (no import from src/ or test/): the slowq image runs it as the compose lab's workload service.
 */
import { generator } from "./Random.js"

export type Dialect = "mysql" | "postgres"

/** One statement: its text with `?` (MySQL) or `$n` (PostgreSQL) placeholders and their values. */
export interface Statement {
  readonly sql: string
  readonly params: ReadonlyArray<string | number>
}

export const CUSTOMERS = 20_000
export const PRODUCTS = 10_000
export const ORDERS = 60_000
/** Order items per order: 1 to 4 by the order's number, 150,000 in all. */
export const ORDER_ITEMS = 150_000
/** The seeded orders are 8 minutes apart from this day on, 333 days of them. */
const FIRST_DAY = "2025-01-01"
const SEEDED_DAYS = Math.floor((ORDERS * 8) / (24 * 60))

/**
 * The tables, created when missing. The indexes are the ones a shop would have; the missing ones are deliberate:
 * customers(email), order_items(product_id), orders(created_at) alone (the composite index leads with customer_id).
 */
export const schemaStatements = (dialect: Dialect): ReadonlyArray<string> =>
  dialect === "mysql"
    ? [
        "CREATE TABLE IF NOT EXISTS customers (id INT PRIMARY KEY, email VARCHAR(120) NOT NULL, name VARCHAR(100) NOT NULL, country CHAR(2) NOT NULL, created_at DATETIME NOT NULL)",
        "CREATE TABLE IF NOT EXISTS products (id INT PRIMARY KEY, sku VARCHAR(32) NOT NULL UNIQUE, title VARCHAR(200) NOT NULL, price DECIMAL(10,2) NOT NULL, stock INT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, status VARCHAR(16) NOT NULL, total DECIMAL(10,2) NOT NULL, created_at DATETIME NOT NULL, KEY orders_customer_created (customer_id, created_at))",
        "CREATE TABLE IF NOT EXISTS order_items (order_id INT NOT NULL, product_id INT NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, PRIMARY KEY (order_id, product_id))"
      ]
    : [
        "CREATE TABLE IF NOT EXISTS customers (id int PRIMARY KEY, email text NOT NULL, name text NOT NULL, country char(2) NOT NULL, created_at timestamp NOT NULL)",
        "CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, sku text NOT NULL UNIQUE, title text NOT NULL, price numeric(10,2) NOT NULL, stock int NOT NULL)",
        "CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total numeric(10,2) NOT NULL, created_at timestamp NOT NULL)",
        "CREATE INDEX IF NOT EXISTS orders_customer_created ON orders (customer_id, created_at)",
        "CREATE TABLE IF NOT EXISTS order_items (order_id int NOT NULL, product_id int NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, product_id))"
      ]

/** Seeding runs when this finds no order item (the seed is one transaction, so none means none of it). */
export const seededCheck = "SELECT count(*) AS n FROM order_items"

/**
 * The numbers 1..`max` as a derived table `s(n)`. MySQL has no generate_series, and a recursive CTE stops at
 * MySQL's cte_max_recursion_depth (1000) while MariaDB has no such variable: digits cross-joined work on both.
 */
const mysqlNumbers = (max: number) => {
  const digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
  const places = Math.ceil(Math.log10(max + 1))
  const names = Array.from({ length: places }, (_, i) => `d${i}`)
  const sum = names.map((name, i) => (i === 0 ? `${name}.d` : `${10 ** i} * ${name}.d`)).join(" + ")
  return `(SELECT 1 + ${sum} AS n FROM ${names.map((name) => `${digits} ${name}`).join(" CROSS JOIN ")}) s WHERE s.n <= ${max}`
}

/**
 * The seed, in one transaction: every value computed from the row's number, so two lab databases hold the same rows.
 * Order items: order n has 1 + n % 4 of them, products 131 apart so that (order, product) never repeats.
 * No literal here is a table or column name, nor part of one: under a pipeline's normalized sample policy every
 * string literal of a batch's statements is scrubbed from the plans and findings stored with it (a seed with the
 * literal 'customer' shows the table customers as ?s).
 */
export const seedStatements = (dialect: Dialect): ReadonlyArray<string> =>
  dialect === "mysql"
    ? [
        `INSERT INTO customers (id, email, name, country, created_at) SELECT n, CONCAT('c', n, '@example.com'), CONCAT('Customer ', n), ELT(1 + n % 5, 'DE', 'FR', 'US', 'GB', 'ES'), TIMESTAMP('2024-01-01') + INTERVAL n * 20 MINUTE FROM ${mysqlNumbers(CUSTOMERS)}`,
        `INSERT INTO products (id, sku, title, price, stock) SELECT n, CONCAT('SKU-', LPAD(n, 6, '0')), CONCAT('Product ', n), 1 + (n * 37 % 20000) / 100, 100 + n % 900 FROM ${mysqlNumbers(PRODUCTS)}`,
        `INSERT INTO orders (id, customer_id, status, total, created_at) SELECT n, 1 + (n * 7919) % ${CUSTOMERS}, ELT(1 + n % 4, 'pending', 'paid', 'shipped', 'delivered'), 5 + (n * 53 % 30000) / 100, TIMESTAMP('${FIRST_DAY}') + INTERVAL n * 8 MINUTE FROM ${mysqlNumbers(ORDERS)}`,
        `INSERT INTO order_items (order_id, product_id, qty, price) SELECT o.id, 1 + (o.id * 7 + k.k * 131) % ${PRODUCTS}, 1 + (o.id + k.k) % 3, 1 + (o.id * 37 % 20000) / 100 FROM orders o JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) k ON k.k <= o.id % 4`
      ]
    : [
        `INSERT INTO customers (id, email, name, country, created_at) SELECT n, 'c' || n || '@example.com', 'Customer ' || n, (ARRAY['DE', 'FR', 'US', 'GB', 'ES'])[1 + n % 5], timestamp '2024-01-01' + n * interval '20 minutes' FROM generate_series(1, ${CUSTOMERS}) n`,
        `INSERT INTO products (id, sku, title, price, stock) SELECT n, 'SKU-' || lpad(n::text, 6, '0'), 'Product ' || n, 1 + (n * 37 % 20000) / 100.0, 100 + n % 900 FROM generate_series(1, ${PRODUCTS}) n`,
        `INSERT INTO orders (id, customer_id, status, total, created_at) SELECT n, 1 + (n * 7919) % ${CUSTOMERS}, (ARRAY['pending', 'paid', 'shipped', 'delivered'])[1 + n % 4], 5 + (n * 53 % 30000) / 100.0, timestamp '${FIRST_DAY}' + n * interval '8 minutes' FROM generate_series(1, ${ORDERS}) n`,
        // The rows were given their ids: the sequence must start after them, as AUTO_INCREMENT does by itself.
        `SELECT setval('orders_id_seq', ${ORDERS})`,
        `INSERT INTO order_items (order_id, product_id, qty, price) SELECT o.id, 1 + (o.id * 7 + k * 131) % ${PRODUCTS}, 1 + (o.id + k) % 3, 1 + (o.id * 37 % 20000) / 100.0 FROM orders o JOIN generate_series(0, 3) k ON k <= o.id % 4`
      ]

/** After the seed, so that the planners know the tables' sizes at once. */
export const analyzeStatement = (dialect: Dialect) =>
  dialect === "mysql"
    ? "ANALYZE TABLE customers, products, orders, order_items"
    : "ANALYZE customers, products, orders, order_items"

export const begin = (dialect: Dialect) => (dialect === "mysql" ? "START TRANSACTION" : "BEGIN")

export { generator }

type Random = () => number

/** `?` placeholders for MySQL, `$1…` for PostgreSQL: each request's texts are written once with `?`. */
const placeholders = (dialect: Dialect, sql: string) => {
  if (dialect === "mysql") return sql
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

const day = (offset: number) => {
  const d = new Date(`${FIRST_DAY}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() + offset)
  return `${d.toISOString().slice(0, 10)} 00:00:00`
}

interface RequestKind {
  readonly name: string
  /** Times per deck of 100 requests. */
  readonly weight: number
  readonly writes: boolean
  readonly statements: (dialect: Dialect, random: Random) => ReadonlyArray<Statement>
}

const int = (random: Random, max: number) => 1 + Math.floor(random() * max)

/** The shop's requests; the weights add up to 100. */
export const requestKinds: ReadonlyArray<RequestKind> = [
  {
    name: "product page",
    weight: 26,
    writes: false,
    statements: (_, random) => [
      { sql: "SELECT id, sku, title, price, stock FROM products WHERE id = ?", params: [int(random, PRODUCTS)] }
    ]
  },
  {
    name: "account page",
    weight: 12,
    writes: false,
    statements: (_, random) => {
      const customer = int(random, CUSTOMERS)
      return [
        { sql: "SELECT id, email, name, country FROM customers WHERE id = ?", params: [customer] },
        {
          sql: "SELECT id, status, total, created_at FROM orders WHERE customer_id = ? ORDER BY created_at DESC LIMIT 10",
          params: [customer]
        }
      ]
    }
  },
  {
    name: "order page",
    weight: 10,
    writes: false,
    statements: (_, random) => {
      const order = int(random, ORDERS)
      return [
        { sql: "SELECT id, customer_id, status, total, created_at FROM orders WHERE id = ?", params: [order] },
        {
          sql: "SELECT i.product_id, p.title, i.qty, i.price FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = ?",
          params: [order]
        }
      ]
    }
  },
  {
    // No index on customers.email: a scan of 20,000 rows per login.
    name: "login",
    weight: 8,
    writes: false,
    statements: (_, random) => [
      // One login in 20 is for an address nobody has.
      { sql: "SELECT id, name FROM customers WHERE email = ?", params: [`c${int(random, CUSTOMERS * 1.05)}@example.com`] }
    ]
  },
  {
    // No index leads with order_items.product_id: a scan of 150,000 rows.
    name: "product sales",
    weight: 6,
    writes: false,
    statements: (_, random) => [
      { sql: "SELECT count(*), sum(qty) FROM order_items WHERE product_id = ?", params: [int(random, PRODUCTS)] }
    ]
  },
  {
    // orders(customer_id, created_at) cannot serve a range on created_at alone: a scan of the orders.
    name: "orders of a day",
    weight: 4,
    writes: false,
    statements: (_, random) => {
      const offset = int(random, SEEDED_DAYS) - 1
      return [
        {
          sql: "SELECT id, customer_id, total FROM orders WHERE created_at >= ? AND created_at < ?",
          params: [day(offset), day(offset + 1)]
        }
      ]
    }
  },
  {
    name: "search",
    weight: 6,
    writes: false,
    statements: (_, random) => [
      { sql: "SELECT id, title, price FROM products WHERE title LIKE ? ORDER BY title LIMIT 20", params: [`Product ${int(random, 999)}%`] }
    ]
  },
  {
    // The back office's best sellers: every order item joined, grouped and sorted.
    name: "best sellers",
    weight: 2,
    writes: false,
    statements: () => [
      {
        sql: "SELECT p.id, p.title, sum(i.qty) AS sold FROM order_items i JOIN products p ON p.id = i.product_id GROUP BY p.id, p.title ORDER BY sold DESC LIMIT 10",
        params: []
      }
    ]
  },
  {
    name: "status report",
    weight: 2,
    writes: false,
    statements: () => [{ sql: "SELECT status, count(*), sum(total) FROM orders GROUP BY status", params: [] }]
  },
  {
    name: "checkout",
    weight: 16,
    writes: true,
    statements: (dialect, random) => {
      const product = int(random, PRODUCTS)
      const qty = int(random, 3)
      const price = (100 + Math.floor(random() * 19_900)) / 100
      return [
        { sql: begin(dialect), params: [] },
        { sql: "SELECT stock, price FROM products WHERE id = ? FOR UPDATE", params: [product] },
        { sql: "UPDATE products SET stock = stock - ? WHERE id = ?", params: [qty, product] },
        {
          sql: "INSERT INTO orders (customer_id, status, total, created_at) VALUES (?, 'pending', ?, NOW())",
          params: [int(random, CUSTOMERS), Math.round(qty * price * 100) / 100]
        },
        {
          sql:
            dialect === "mysql"
              ? "INSERT INTO order_items (order_id, product_id, qty, price) VALUES (LAST_INSERT_ID(), ?, ?, ?)"
              : "INSERT INTO order_items (order_id, product_id, qty, price) VALUES (currval('orders_id_seq'), ?, ?, ?)",
          params: [product, qty, price]
        },
        { sql: "COMMIT", params: [] }
      ]
    }
  },
  {
    name: "order shipped",
    weight: 8,
    writes: true,
    statements: (_, random) => [{ sql: "UPDATE orders SET status = 'shipped' WHERE id = ?", params: [int(random, ORDERS)] }]
  }
]

export const requestsPerDeck = requestKinds.reduce((sum, kind) => sum + kind.weight, 0)

/** Statements in a deck: once this many have run, every statement shape of the mix has. */
export const statementsPerDeck = (dialect: Dialect) =>
  requestKinds.reduce((sum, kind) => sum + kind.weight * kind.statements(dialect, generator(0)).length, 0)

/** Every distinct statement the mix sends, with values: what a database has seen once a deck has run. */
export const allStatements = (dialect: Dialect): ReadonlyArray<Statement> => {
  const random = generator(0)
  return requestKinds.flatMap((kind) =>
    kind.statements(dialect, random).map((s) => ({ sql: placeholders(dialect, s.sql), params: s.params }))
  )
}

export interface Request {
  readonly kind: string
  readonly writes: boolean
  readonly statements: ReadonlyArray<Statement>
}

/**
 * The endless stream of requests for one database: decks of `requestsPerDeck`, each holding every kind its weight in
 * times, in an order shuffled by the seed. The same seed gives both databases the same requests.
 */
export function* requests(dialect: Dialect, seed: number): Generator<Request, never> {
  const random = generator(seed)
  const deck = requestKinds.flatMap((kind) => Array.from({ length: kind.weight }, () => kind))
  while (true) {
    for (let i = deck.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      const swap = deck[i]!
      deck[i] = deck[j]!
      deck[j] = swap
    }
    for (const kind of deck) {
      yield {
        kind: kind.name,
        writes: kind.writes,
        statements: kind.statements(dialect, random).map((s) => ({ sql: placeholders(dialect, s.sql), params: s.params }))
      }
    }
  }
}
