import type { Dialect } from "../../../src/domain/SlowQueryEvent.js"
import { generator } from "../../../scripts/lab/Random.js"

/**
 * A realistic statement mix for measuring how much of what slowq collects gets a plan: the traffic of a small
 * web shop (sessions, catalogue, orders, a checkout transaction), the chatter of a connection pool and an ORM
 * (SET, SHOW, pings, transaction control), housekeeping and a nightly report. Literals vary, driven by a seeded
 * generator, so the same run always produces the same statements.
 * It lives with the test support, not in the explain plugin: the daemon never runs it, and a workload command is a
 * lab tool like test/bench, which imports from here.
 */

export const mariadbSchema = `
CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(100) UNIQUE, name VARCHAR(100), created_at DATETIME, KEY (created_at));
CREATE TABLE products (id INT PRIMARY KEY, sku VARCHAR(32) UNIQUE, title VARCHAR(200), price DECIMAL(10,2), stock INT);
CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT, status VARCHAR(16), total DECIMAL(10,2),
  created_at DATETIME, KEY (customer_id, created_at), KEY (status));
CREATE TABLE order_items (order_id INT, product_id INT, qty INT, price DECIMAL(10,2), PRIMARY KEY (order_id, product_id));
CREATE TABLE sessions (token CHAR(32) PRIMARY KEY, customer_id INT, expires_at DATETIME, KEY (expires_at));
CREATE TABLE daily_sales (day DATE PRIMARY KEY, orders INT, revenue DECIMAL(12,2));
INSERT INTO customers SELECT seq, CONCAT('c', seq, '@example.com'), CONCAT('Customer ', seq), NOW() - INTERVAL seq MINUTE FROM seq_1_to_5000;
INSERT INTO products SELECT seq, CONCAT('SKU', seq), CONCAT('Product ', seq), seq % 100 + 0.99, 1000 FROM seq_1_to_2000;
INSERT INTO orders (customer_id, status, total, created_at) SELECT seq % 5000 + 1, ELT(seq % 3 + 1, 'pending', 'paid', 'shipped'), seq % 300, NOW() - INTERVAL seq MINUTE FROM seq_1_to_20000;
INSERT INTO order_items SELECT seq, seq % 2000 + 1, 1, 9.99 FROM seq_1_to_20000;
INSERT INTO sessions SELECT MD5(seq), seq, NOW() + INTERVAL 1 DAY FROM seq_1_to_5000;
ANALYZE TABLE customers, products, orders, order_items, sessions;
`

export const postgresSchema = `
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE, name text, created_at timestamptz);
CREATE INDEX ON customers (created_at);
CREATE TABLE products (id int PRIMARY KEY, sku text UNIQUE, title text, price numeric(10,2), stock int);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int, status text, total numeric(10,2), created_at timestamptz);
CREATE INDEX ON orders (customer_id, created_at);
CREATE INDEX ON orders (status);
CREATE TABLE order_items (order_id int, product_id int, qty int, price numeric(10,2), PRIMARY KEY (order_id, product_id));
CREATE TABLE sessions (token text PRIMARY KEY, customer_id int, expires_at timestamptz);
CREATE INDEX ON sessions (expires_at);
CREATE TABLE daily_sales (day date PRIMARY KEY, orders int, revenue numeric(12,2));
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'Customer ' || g, now() - g * interval '1 minute' FROM generate_series(1, 5000) g;
INSERT INTO products SELECT g, 'SKU' || g, 'Product ' || g, g % 100 + 0.99, 1000 FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, status, total, created_at) SELECT g % 5000 + 1, (ARRAY['pending','paid','shipped'])[g % 3 + 1], g % 300, now() - g * interval '1 minute' FROM generate_series(1, 20000) g;
INSERT INTO order_items SELECT g, g % 2000 + 1, 1, 9.99 FROM generate_series(1, 20000) g;
INSERT INTO sessions SELECT md5(g::text), g, now() + interval '1 day' FROM generate_series(1, 5000) g;
ANALYZE;
`


/** The statements of `requests` web requests plus housekeeping, each tagged with `marker` in a comment. */
export const mixWorkload = (dialect: Dialect, marker: string, requests: number): ReadonlyArray<string> => {
  const random = generator(20_261_128)
  const int = (max: number) => 1 + Math.floor(random() * max)
  const token = () => int(5000).toString(16).padStart(32, "0")
  const now = dialect === "mysql" ? "NOW()" : "now()"
  const tag = `/* ${marker} */`
  const out: Array<string> = []
  const emit = (sql: string) => out.push(`${sql} ${tag}`)
  for (let r = 0; r < requests; r++) {
    // Every request: the pool's check and session lookup.
    emit("SELECT 1")
    emit(`SELECT customer_id FROM sessions WHERE token = '${token()}' AND expires_at > ${now}`)
    const kind = random()
    if (kind < 0.35) {
      // Catalogue browsing.
      emit(`SELECT * FROM products WHERE id = ${int(2000)}`)
      emit(`SELECT id, title, price FROM products WHERE id IN (${[int(2000), int(2000), int(2000)].join(", ")})`)
      if (random() < 0.3) emit(`SELECT id, title FROM products WHERE title LIKE 'Product ${int(200)}%' ORDER BY title LIMIT 20`)
    } else if (kind < 0.6) {
      // Account pages.
      const customer = int(5000)
      emit(`SELECT * FROM customers WHERE id = ${customer}`)
      emit(
        `SELECT o.id, o.status, o.total, o.created_at FROM orders o WHERE o.customer_id = ${customer} ORDER BY o.created_at DESC LIMIT 10`
      )
      emit(
        `SELECT p.title, i.qty, i.price FROM order_items i JOIN products p ON p.id = i.product_id JOIN orders o ON o.id = i.order_id WHERE o.customer_id = ${customer}`
      )
    } else if (kind < 0.8) {
      // Checkout: a transaction.
      const product = int(2000)
      const customer = int(5000)
      emit(dialect === "mysql" ? "START TRANSACTION" : "BEGIN")
      emit(`SELECT stock, price FROM products WHERE id = ${product} FOR UPDATE`)
      emit(`UPDATE products SET stock = stock - 1 WHERE id = ${product}`)
      emit(
        `INSERT INTO orders (customer_id, status, total, created_at) VALUES (${customer}, 'pending', ${int(300)}.99, ${now})`
      )
      emit(
        dialect === "mysql"
          ? `INSERT INTO order_items (order_id, product_id, qty, price) VALUES (LAST_INSERT_ID(), ${product}, 1, 9.99)`
          : `INSERT INTO order_items (order_id, product_id, qty, price) VALUES (currval('orders_id_seq'), ${product}, 1, 9.99)`
      )
      emit("COMMIT")
    } else if (kind < 0.9) {
      // Session refresh and login.
      emit(
        dialect === "mysql"
          ? `INSERT INTO sessions (token, customer_id, expires_at) VALUES ('${token()}', ${int(5000)}, NOW() + INTERVAL 1 DAY) ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)`
          : `INSERT INTO sessions (token, customer_id, expires_at) VALUES ('${token()}', ${int(5000)}, now() + interval '1 day') ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at`
      )
      emit(`UPDATE customers SET name = 'Customer ${int(5000)}' WHERE id = ${int(5000)}`)
      emit(`SELECT id FROM customers WHERE email = 'c${int(5000)}@example.com'`)
    } else {
      // Back office.
      emit(
        dialect === "mysql"
          ? `SELECT status, count(*), sum(total) FROM orders WHERE created_at >= NOW() - INTERVAL ${int(30)} DAY GROUP BY status`
          : `SELECT status, count(*), sum(total) FROM orders WHERE created_at >= now() - interval '${int(30)} days' GROUP BY status`
      )
      emit(`SELECT count(*) FROM orders WHERE status = 'pending'`)
      emit(`UPDATE orders SET status = 'shipped' WHERE id = ${int(20_000)}`)
    }
    // The ORM's and the driver's chatter.
    if (r % 5 === 0) emit(dialect === "mysql" ? "SET autocommit = 1" : "SET application_name = 'shop'")
    if (r % 10 === 0) emit(dialect === "mysql" ? "SELECT @@session.tx_isolation" : "SHOW transaction_isolation")
    if (r % 25 === 0) emit(dialect === "mysql" ? "SHOW WARNINGS" : "SELECT version()")
  }
  // Housekeeping and the nightly report.
  emit(
    dialect === "mysql"
      ? "DELETE FROM sessions WHERE expires_at < NOW() LIMIT 1000"
      : "DELETE FROM sessions WHERE token IN (SELECT token FROM sessions WHERE expires_at < now() LIMIT 1000)"
  )
  emit(
    dialect === "mysql"
      ? "REPLACE INTO daily_sales SELECT DATE(created_at), COUNT(*), SUM(total) FROM orders GROUP BY DATE(created_at)"
      : "INSERT INTO daily_sales SELECT created_at::date, count(*), sum(total) FROM orders GROUP BY 1 ON CONFLICT (day) DO UPDATE SET orders = excluded.orders, revenue = excluded.revenue"
  )
  emit(dialect === "mysql" ? "ANALYZE TABLE orders" : "ANALYZE orders")
  emit(dialect === "mysql" ? "OPTIMIZE TABLE sessions" : "VACUUM sessions")
  return out
}
