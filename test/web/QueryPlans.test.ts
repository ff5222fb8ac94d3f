// test group: other
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import type { Browser } from "playwright-core"
import { planNodes } from "../../plugins/analyze/rules/PostgresPlan.js"
import { formatCount, formatMs } from "../../web/src/format.js"
import { runCli } from "../support/Cli.js"
import { pgDatabase } from "../support/explain/Harness.js"
import { pipelinesDir } from "../support/Pipelines.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { storeClient } from "../support/StoreQueries.js"
import { type HttpDaemon, request, startHttpDaemon } from "../http/HttpDaemon.js"
import { launchBrowser, openPage, promise, screenshot, settled } from "./Browser.js"

// The query detail's Plan, Plan history, Tables and Findings tabs in Chromium, against `slowq run` on a store filled by
// a real pipeline on the local PostgreSQL: pg_stat_statements → explain → analyze (with HypoPG), on a database of this
// test's own (include_databases). A first collection (`slowq once`) stores a sequential scan of `orders` by customer;
// then the index is created and the daemon's first run stores the new plan, a plan change. The expected node labels
// are the analyzer's (plugins/analyze/rules/PostgresPlan.ts), read from the plans in the store.

const pipelineName = "plans_pg"
const byCustomer = "SELECT id, total FROM orders WHERE customer = $1"
const byRef = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer WHERE o.ref = $1 ORDER BY o.id"
const refDdl = "CREATE INDEX CONCURRENTLY ON public.orders (ref);"

interface Fixture {
  readonly daemon: HttpDaemon
  readonly storeUrl: string
  readonly browser: Browser
}
class Plans extends Context.Tag("test/web/Plans")<Plans, Fixture>() {}

const fixture = Effect.gen(function* () {
  const db = yield* pgDatabase(`
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    CREATE EXTENSION IF NOT EXISTS hypopg;
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 5000) g;
    CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL, ref int NOT NULL)
      WITH (autovacuum_enabled = off);
    INSERT INTO orders SELECT g, 1 + g % 5000, g % 97, g % 10000 FROM generate_series(1, 200000) g;
    SELECT pg_stat_force_next_flush();`)
  // One plan shape whatever the machine: no parallel workers (the explain stage's connections are new ones).
  yield* db.sql.unsafe(`ALTER DATABASE ${db.name} SET max_parallel_workers_per_gather = 0`)
  // After the INSERT's counters reached pg_stat_user_tables, or pg_stale_statistics would fire now and then.
  yield* db.sql.unsafe("ANALYZE orders")
  yield* db.sql.unsafe("ANALYZE customers")
  yield* db.sql.unsafe("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
  yield* db.sql.unsafe(byCustomer, [42])
  yield* db.sql.unsafe(byRef, [7])
  const store = yield* freshStoreDatabase
  const pipeline = [
    `name: ${pipelineName}`,
    "schedule:",
    "  every: 1h",
    "source:",
    "  type: postgres_pg_stat_statements",
    `  url: ${db.url}`,
    `  include_databases: [${db.name}]`,
    "stages:",
    "  - type: explain",
    // Short, so that the daemon's run explains byCustomer again and sees the plan the new index gives.
    "    explain_ttl: 100ms",
    "  - type: analyze",
    ""
  ].join("\n")
  const env = { SLOWQ_STORE_URL: store.url }
  const dir = yield* pipelinesDir({ "plans.yaml": pipeline })
  const first = yield* runCli(["once", pipelineName, "--pipelines", dir], env)
  expect([first.code, first.stderr.includes("level=ERROR")]).toEqual([0, false])
  yield* db.sql.unsafe("CREATE INDEX orders_customer ON orders (customer)")
  yield* db.sql.unsafe("ANALYZE orders")
  yield* db.sql.unsafe(byCustomer, [43])
  const daemon = yield* startHttpDaemon({ "plans.yaml": pipeline }, env)
  yield* settled(daemon, pipelineName)
  const browser = yield* launchBrowser
  return { daemon, storeUrl: store.url, browser }
})

interface StoredPlan {
  readonly hash: string
  readonly method: string
  readonly plan: unknown
  readonly current: boolean
}

/** The query id of a statement in the store, and its plans oldest first. */
const stored = (url: string, sample: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      const [query] = yield* sql.unsafe<{ query_id: string; tables: ReadonlyArray<string> }>(
        "SELECT query_id, tables FROM slowq_queries WHERE pipeline = $1 AND sample = $2",
        [pipelineName, sample]
      )
      const plans = yield* sql.unsafe<StoredPlan>(
        `SELECT p.hash, p.method, p.plan, e.plan_hash IS NOT NULL AS current FROM slowq_plans p
         LEFT JOIN slowq_explains e ON e.pipeline = p.pipeline AND e.query_id = p.query_id AND e.plan_hash = p.hash
         WHERE p.pipeline = $1 AND p.query_id = $2 ORDER BY p.first_captured, p.hash`,
        [pipelineName, query!.query_id]
      )
      const findings = yield* sql.unsafe<{ rule: string; suggestion: { ddl: string } | null; verified: { cost_before: number; cost_after: number } | null }>(
        "SELECT rule, suggestion, verified FROM slowq_findings WHERE pipeline = $1 AND query_id = $2 ORDER BY rule",
        [pipelineName, query!.query_id]
      )
      return { id: query!.query_id, tables: query!.tables, plans, findings }
    })
  ).pipe(Effect.orDie)

/** The facts of a PostgreSQL node the page lists as its conditions (web/src/plan/normalize.ts), in that order. */
const conditionKeys = ["Parent Relationship", "Subplan Name", "Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter", "Filter", "Sort Key", "Group Key", "One-Time Filter"]

/** The calls of query `id` in the rollups over each period [since, until), summed from the minute rollups. */
const rollupsOver = (url: string, id: string, periods: ReadonlyArray<{ readonly since: string; readonly until: string }>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      const calls: Array<number> = []
      for (const period of periods) {
        const [row] = yield* sql.unsafe<{ calls: number }>(
          `SELECT coalesce(sum(calls), 0)::float8 AS calls FROM slowq_rollups_minute
           WHERE pipeline = $1 AND query_id = $2 AND minute >= $3 AND minute < $4`,
          [pipelineName, id, period.since, period.until]
        )
        calls.push(row!.calls)
      }
      return calls
    })
  ).pipe(Effect.orDie)

const labels = (plan: unknown) => planNodes(plan).map((n) => n.label)

/** The label of the node with the largest cost of its own (its Total Cost minus its children's). */
const costliestLabel = (plan: unknown) => {
  const own = planNodes(plan).map((n) => {
    const total = n.node["Total Cost"] as number
    const kids = Array.isArray(n.node.Plans) ? (n.node.Plans as ReadonlyArray<Record<string, number>>) : []
    return { label: n.label, own: total - kids.reduce((sum, kid) => sum + kid["Total Cost"]!, 0) }
  })
  return own.reduce((best, n) => (n.own > best.own ? n : best)).label
}

const detailUrl = (daemon: HttpDaemon, id: string, tab: string) => `${daemon.base}/queries/${id}?pipeline=${pipelineName}&tab=${tab}`

layer(Layer.scoped(Plans, fixture), { timeout: "180 seconds", excludeTestServices: true })(
  "a query's plans in Chromium, from pg_stat_statements → explain → analyze on the local PostgreSQL",
  (it) => {
    it.scoped("the plan tab draws the stored plan's nodes, marks the costliest and the full scans, and shows the raw JSON", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser } = yield* Plans
        const query = yield* stored(storeUrl, byRef)
        const current = query.plans.filter((p) => p.current)
        expect(current.length).toBe(1)
        const plan = current[0]!
        // A join: the tree has more than one level, or the drawing proves little.
        expect(labels(plan.plan).length).toBeGreaterThan(2)
        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(detailUrl(daemon, query.id, "plan")))
        const tree = page.locator(".plan-outcome .plan-tree")
        yield* promise(() => tree.waitFor())
        const shown = (selector: string) =>
          promise(() => tree.locator(selector).evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-label"))))
        expect(yield* shown(".plan-node")).toEqual(labels(plan.plan))
        expect(yield* shown(".plan-node.costliest")).toEqual([costliestLabel(plan.plan)])
        expect(yield* shown(".plan-node.flag-full_scan")).toEqual(
          planNodes(plan.plan).filter((n) => n.node["Node Type"] === "Seq Scan").map((n) => n.label)
        )
        expect(yield* promise(() => page.locator(".plan-outcome .method").getAttribute("data-method"))).toBe(plan.method)
        expect(yield* promise(() => page.locator(".plan-json").count())).toBe(0)
        yield* screenshot(page, "query-plan-1280")
        yield* promise(() => page.getByRole("button", { name: "Raw JSON" }).click())
        const raw = yield* promise(() => page.locator(".plan-json").textContent())
        expect(JSON.parse(raw!)).toEqual(plan.plan)
        yield* screenshot(page, "query-plan-raw-1280")
        expect(problems()).toEqual([])
      })
    )

    it.scoped("the plan history lists each distinct plan oldest first and compares the two, their differences marked", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser } = yield* Plans
        const query = yield* stored(storeUrl, byCustomer)
        // The index made a second plan: a sequential scan before, a read through orders_customer after.
        expect(query.plans.map((p) => p.current)).toEqual([false, true])
        const [before, after] = query.plans as [StoredPlan, StoredPlan]
        expect(labels(before.plan)).toEqual(["Seq Scan on orders"])
        expect(labels(after.plan).join(" ")).toContain("orders_customer")
        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(detailUrl(daemon, query.id, "plan-history")))
        yield* promise(() => page.locator("[data-side=b] .plan-tree").waitFor())
        const rows = page.locator("table.plan-history tbody tr")
        expect(yield* promise(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-hash"))))).toEqual(
          query.plans.map((p) => p.hash)
        )
        expect(yield* promise(() => rows.nth(1).locator(".mark-current").count())).toBe(1)
        expect(yield* promise(() => rows.nth(0).locator(".mark-current").count())).toBe(0)
        const side = (name: "a" | "b", selector: string) =>
          promise(() =>
            page.locator(`[data-side=${name}] ${selector}`).evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-label")))
          )
        expect(yield* side("a", ".plan-node")).toEqual(labels(before.plan))
        expect(yield* side("b", ".plan-node")).toEqual(labels(after.plan))
        // orders is read both times, another way; what the new plan reads it through is in it only.
        expect(yield* side("a", ".plan-node.change-access")).toEqual(["Seq Scan on orders"])
        expect(yield* side("b", ".plan-node.change-access")).toEqual([labels(after.plan)[0]])
        expect(yield* side("b", ".plan-node.change-only")).toEqual(labels(after.plan).slice(1))
        expect(yield* side("a", ".plan-node.change-only")).toEqual([])
        // The latency under each plan, as the API serves it, which is the store's rollups summed over each plan's
        // period; on the table and in the comparison's captions.
        const detail = JSON.parse((yield* request(daemon, "GET", `/api/v1/queries/${query.id}?pipeline=${pipelineName}`)).text) as {
          plans: ReadonlyArray<{ hash: string; latency: { since: string; until: string; calls: number; mean_ms: number | null; p95_ms: number | null } }>
        }
        const periods = yield* rollupsOver(storeUrl, query.id, detail.plans.map((p) => p.latency))
        expect(detail.plans.map((p) => p.latency.calls)).toEqual(periods)
        // byCustomer ran under the plans (before the index: the first collection; after it: the daemon's run). Both
        // collections are seconds apart, so the first plan's period (to the minute the second was captured) is
        // usually empty: slowq knows no plan per call, only which plan was captured when.
        expect(periods.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
        const under = yield* promise(() =>
          rows.evaluateAll((trs) =>
            trs.map((tr) => ["Calls", "Mean", "p95"].map((label) => tr.querySelector(`td[data-label="${label}"]`)?.textContent ?? null))
          )
        )
        const text = (ms: number | null) => (ms === null ? "–" : formatMs(ms))
        // A plan replaced within its first minute has no minute of its own: "< 1 min", not a count of 0.
        const withinAMinute = (p: (typeof detail.plans)[number]) => p.latency.since === p.latency.until
        expect(under).toEqual(
          detail.plans.map((p) => [withinAMinute(p) ? "< 1 min" : formatCount(p.latency.calls), text(p.latency.mean_ms), text(p.latency.p95_ms)])
        )
        const first = detail.plans[0]!.latency
        const firstUnder = withinAMinute(detail.plans[0]!)
          ? "replaced within a minute; that minute's calls are counted under the next plan"
          : first.calls === 0
            ? "no calls"
            : `${formatCount(first.calls)} calls · mean ${text(first.mean_ms)} · p95 ${text(first.p95_ms)}`
        expect(yield* promise(() => page.locator("[data-side=a] .plan-under").textContent())).toBe(` · ${firstUnder}`)
        expect(yield* promise(() => page.locator("[data-side=b] .plan-under").getAttribute("data-calls"))).toBe(String(periods[1]))
        yield* screenshot(page, "query-plan-history-1280")
        expect(problems()).toEqual([])
      })
    )

    it.scoped("the findings tab shows the index advice's DDL and verified cost; the tables tab each table with its reads and findings", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser } = yield* Plans
        const query = yield* stored(storeUrl, byRef)
        const advice = query.findings.find((f) => f.rule === "pg_index_suggestion")
        expect(advice?.suggestion?.ddl).toBe(refDdl)
        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(detailUrl(daemon, query.id, "findings")))
        const card = page.locator('li.finding[data-rule="pg_index_suggestion"]')
        yield* promise(() => card.waitFor())
        expect(yield* promise(() => card.locator(".ddl pre").textContent())).toBe(refDdl)
        expect(yield* promise(() => card.locator(".ddl .meta").textContent())).toBe(
          `Verified on the planner: cost ${advice!.verified!.cost_before.toFixed(0)} → ${advice!.verified!.cost_after.toFixed(0)}`
        )
        yield* screenshot(page, "query-findings-ddl-1280")

        yield* promise(() => page.getByRole("link", { name: "Tables" }).click())
        yield* promise(() => page.waitForURL((url) => url.searchParams.get("tab") === "tables"))
        yield* promise(() => page.locator("li.table-card").first().waitFor())
        expect(
          yield* promise(() => page.locator("li.table-card").evaluateAll((cards) => cards.map((c) => c.getAttribute("data-table"))))
        ).toEqual(query.tables)
        const current = query.plans.find((p) => p.current)!
        const orders = page.locator("li.table-card").filter({ has: page.locator("h2 code", { hasText: /^(public\.)?orders$/ }) })
        expect(yield* promise(() => orders.locator(".table-reads:not(.table-history) tbody td:first-child").allTextContents())).toEqual(
          planNodes(current.plan).filter((n) => n.node["Relation Name"] === "orders").map((n) => n.label)
        )
        // How the latest plan reads it: its marks (a full scan) and conditions, as the stored plan says.
        const ordersNodes = planNodes(current.plan).filter((n) => n.node["Relation Name"] === "orders")
        expect(yield* promise(() => orders.locator(".table-reads:not(.table-history) tbody td.marks").allTextContents())).toEqual(
          ordersNodes.map((n) => (n.node["Node Type"] === "Seq Scan" ? "full scan" : "–"))
        )
        expect(yield* promise(() => orders.locator(".table-reads:not(.table-history) tbody td.conditions code").allTextContents())).toEqual(
          ordersNodes.flatMap((n) => conditionKeys.flatMap((key) => (typeof n.node[key] === "string" ? [`${key}: ${n.node[key]}`] : [])))
        )
        // Under each stored plan: how it read orders (one plan of byRef: a sequential scan).
        expect(yield* promise(() => orders.locator(".table-history tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-hash"))))).toEqual(
          query.plans.map((p) => p.hash)
        )
        expect(yield* promise(() => orders.locator(".table-history tbody td.read-as").allTextContents())).toEqual(["Seq Scan"])
        yield* promise(() => orders.locator('.table-findings li[data-rule="pg_index_suggestion"]').waitFor())
        expect(yield* promise(() => orders.locator('.table-findings li[data-rule="pg_index_suggestion"] .ddl-inline').textContent())).toBe(refDdl)
        expect(yield* promise(() => orders.locator('.table-findings li[data-rule="pg_index_suggestion"] .verified').textContent())).toBe(
          `Verified on the planner: cost ${advice!.verified!.cost_before.toFixed(0)} → ${advice!.verified!.cost_after.toFixed(0)}`
        )
        yield* screenshot(page, "query-tables-1280")
        expect(problems()).toEqual([])
      })
    )

    it.scoped("at 390 px wide the plan and its history fit the screen", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser } = yield* Plans
        const query = yield* stored(storeUrl, byCustomer)
        const { page, problems } = yield* openPage(browser, 390, 844)
        yield* promise(() => page.goto(detailUrl(daemon, query.id, "plan")))
        yield* promise(() => page.locator(".plan-outcome .plan-tree").waitFor())
        expect(yield* promise(() => page.evaluate("document.documentElement.scrollWidth"))).toBe(390)
        yield* screenshot(page, "query-plan-390")
        yield* promise(() => page.goto(detailUrl(daemon, query.id, "plan-history")))
        yield* promise(() => page.locator("[data-side=b] .plan-tree").waitFor())
        expect(yield* promise(() => page.evaluate("document.documentElement.scrollWidth"))).toBe(390)
        yield* screenshot(page, "query-plan-history-390")
        // The API answered the page's reads: nothing was refused.
        expect((yield* request(daemon, "GET", `/api/v1/queries/${query.id}`)).status).toBe(200)
        expect(problems()).toEqual([])
      })
    )
  }
)
