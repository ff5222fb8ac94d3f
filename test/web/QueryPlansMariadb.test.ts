import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import type { Browser } from "playwright-core"
import { readMysqlPlan } from "../../plugins/analyze/rules/MysqlPlan.js"
import { mariadbDatabase } from "../support/explain/Harness.js"
import { newMarker } from "../support/Marker.js"
import { runMariadb, truncateSlowLog } from "../support/Mariadb.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { type HttpDaemon, startHttpDaemon } from "../http/HttpDaemon.js"
import { launchBrowser, openPage, promise, screenshot, settled } from "./Browser.js"

// A query's Plan tab in Chromium on a MariaDB plan, against `slowq run` whose first run reads the local MariaDB's
// mysql.slow_log → explain → analyze (this file runs in the MariaDB group: it empties the shared slow log, and only
// statements carrying its marker are looked at). The expected table nodes, sorts and temporary tables are the
// analyzer's reading of the stored plan (plugins/analyze/rules/MysqlPlan.ts).

const pipelineName = "plans_my"

interface Fixture {
  readonly daemon: HttpDaemon
  readonly storeUrl: string
  readonly browser: Browser
  readonly marker: string
}
class Plans extends Context.Tag("test/web/PlansMariadb")<Plans, Fixture>() {}

const fixture = Effect.gen(function* () {
  const marker = newMarker("webplan")
  const db = yield* mariadbDatabase(`
    CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL);
    INSERT INTO customers SELECT seq, CONCAT('customer ', seq) FROM seq_1_to_5000;
    CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, total INT NOT NULL);
    INSERT INTO orders SELECT seq, 1 + seq % 5000, seq % 97 FROM seq_1_to_20000;
    ANALYZE TABLE customers, orders;`)
  // The pipeline reads the whole shared slow log: only this test's statement and what follows.
  yield* truncateSlowLog
  yield* runMariadb(
    `USE ${db.name};\nSELECT /* ${marker} */ c.name, count(*) FROM orders o JOIN customers c ON c.id = o.customer WHERE o.total = 5 GROUP BY c.name ORDER BY count(*) DESC;`
  )
  yield* Effect.addFinalizer(() => Effect.orDie(truncateSlowLog))
  const store = yield* freshStoreDatabase
  const pipeline = [
    `name: ${pipelineName}`,
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: mysql_slow_log_table",
    "  url: mysql://root@127.0.0.1:3306/test",
    "stages:",
    "  - type: explain",
    "  - type: analyze",
    ""
  ].join("\n")
  const daemon = yield* startHttpDaemon({ "plans.yaml": pipeline }, { SLOWQ_STORE_URL: store.url })
  yield* settled(daemon, pipelineName)
  const browser = yield* launchBrowser
  return { daemon, storeUrl: store.url, browser, marker }
})

layer(Layer.scoped(Plans, fixture), { timeout: "180 seconds", excludeTestServices: true })(
  "a query's MariaDB plan in Chromium, from mysql.slow_log → explain → analyze",
  (it) => {
    it.scoped("the plan tab draws the stored plan's tables, sort and temporary table, marks the full scan and the most rows read", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser, marker } = yield* Plans
        const [stored] = yield* Effect.scoped(
          Effect.flatMap(storeClient(storeUrl), (sql) =>
            sql.unsafe<{ query_id: string; method: string; plan: unknown }>(
              `SELECT q.query_id, p.method, p.plan FROM slowq_queries q
               JOIN slowq_explains e USING (pipeline, query_id)
               JOIN slowq_plans p ON p.pipeline = e.pipeline AND p.query_id = e.query_id AND p.hash = e.plan_hash
               WHERE q.pipeline = $1 AND q.sample LIKE $2`,
              [pipelineName, `%${marker}%`]
            )
          )
        ).pipe(Effect.orDie)
        expect(stored?.method).toBe("direct")
        const view = readMysqlPlan(stored!.plan)!
        expect(view.format).toBe("mariadb")
        // The statement groups and orders by a count: a sort and a temporary table, or the checks below prove little.
        expect([view.tables.length, view.sorts.length, view.temporaryTables.length]).toEqual([2, 1, 1])
        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(`${daemon.base}/queries/${stored!.query_id}?pipeline=${pipelineName}&tab=plan`))
        const tree = page.locator(".plan-outcome .plan-tree")
        yield* promise(() => tree.waitFor())
        expect(yield* promise(() => tree.getAttribute("data-format"))).toBe("mariadb")
        const shown = (selector: string) =>
          promise(() => tree.locator(selector).evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-label"))))
        expect(yield* shown('.plan-node[data-label^="table "]')).toEqual(view.tables.map((t) => `table ${t.table}`))
        expect(yield* shown(".plan-node.flag-full_scan")).toEqual(view.tables.filter((t) => t.scan === "full").map((t) => `table ${t.table}`))
        expect((yield* shown(".plan-node.flag-filesort")).length).toBe(view.sorts.length)
        expect((yield* shown(".plan-node.flag-temporary")).length).toBe(view.temporaryTables.length)
        const most = view.tables.reduce((best, t) => ((t.rows ?? 0) > (best.rows ?? 0) ? t : best))
        expect(yield* shown(".plan-node.costliest")).toEqual([`table ${most.table}`])
        yield* screenshot(page, "query-plan-mariadb-1280")
        yield* promise(() => page.getByRole("button", { name: "Raw JSON" }).click())
        expect(JSON.parse((yield* promise(() => page.locator(".plan-json").textContent()))!)).toEqual(stored!.plan)
        expect(problems()).toEqual([])
      })
    )
  }
)
