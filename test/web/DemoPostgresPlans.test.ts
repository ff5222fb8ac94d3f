// test group: other
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import type { Browser } from "playwright-core"
import { planNodes } from "../../plugins/analyze/rules/PostgresPlan.js"
import { projectRoot } from "../support/Cli.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { type HttpDaemon, request, startHttpDaemon } from "../http/HttpDaemon.js"
import { launchBrowser, openPage, promise, screenshot, settled } from "./Browser.js"

// The demo as `npm start` runs it (both pipelines of pipelines/demo) in Chromium: a PostgreSQL query of the demo's
// server log (pipelines/demo/sample-postgresql.log) has the plan auto_explain logged with it, drawn in its Plan tab
// with the auto_explain badge and in its Plan history. Beside test/web/Dashboard.test.ts, which runs the MySQL demo
// pipeline alone and asserts its rankings.

const demo = (file: string) => readFileSync(join(projectRoot, "pipelines", "demo", file), "utf8")
const pipeline = "demo_postgres_log"
/** The demo shop's best-sellers report: a join, an aggregate and a sort over every order item. */
const bestSellers =
  "SELECT p.id, p.title, sum(i.qty) AS sold FROM order_items i JOIN products p ON p.id = i.product_id GROUP BY p.id, p.title ORDER BY sold DESC LIMIT $1"

interface Fixture {
  readonly daemon: HttpDaemon
  readonly browser: Browser
}
class Demo extends Context.Tag("test/web/DemoPostgresPlans")<Demo, Fixture>() {}

const fixture = Effect.gen(function* () {
  const store = yield* freshStoreDatabase
  const daemon = yield* startHttpDaemon(
    { "demo_slow_log.yaml": demo("demo_slow_log.yaml"), "demo_postgres_log.yaml": demo("demo_postgres_log.yaml") },
    { SLOWQ_STORE_URL: store.url }
  )
  yield* settled(daemon, pipeline)
  const browser = yield* launchBrowser
  return { daemon, browser }
})

interface Detail {
  readonly plans: ReadonlyArray<{ readonly pipeline: string; readonly method: string; readonly hash: string; readonly plan: unknown }>
}

layer(Layer.scoped(Demo, fixture), { timeout: "180 seconds", excludeTestServices: true })(
  "the demo's PostgreSQL log in Chromium",
  (it) => {
    it.scoped("a query's Plan tab draws the plan auto_explain logged, node by node, with its badge", () =>
      Effect.gen(function* () {
        const { daemon, browser } = yield* Demo
        const list = yield* request(daemon, "GET", `/api/v1/queries?pipeline=${pipeline}&limit=100`)
        const queries: ReadonlyArray<{ readonly id: string; readonly fingerprint: string; readonly plan_known: boolean }> =
          JSON.parse(list.text).queries
        const query = queries.find((q) => q.fingerprint === bestSellers)
        expect(query?.plan_known).toBe(true)
        const id = query!.id
        const detail: Detail = JSON.parse((yield* request(daemon, "GET", `/api/v1/queries/${id}?pipeline=${pipeline}`)).text)
        expect(detail.plans.map((p) => [p.pipeline, p.method])).toEqual([[pipeline, "logged"]])
        const labels = planNodes(detail.plans[0]!.plan).map((n) => n.label)
        // The plan as the log has it (sample-postgresql.log), in the analyzer's words.
        expect(labels).toEqual([
          "Limit",
          "Sort",
          "HashAggregate",
          "Hash Join",
          "Seq Scan on order_items i",
          "Hash",
          "Seq Scan on products p"
        ])

        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(`${daemon.base}/queries/${id}?pipeline=${pipeline}&tab=plan`))
        const tree = page.locator(".plan-outcome .plan-tree")
        yield* promise(() => tree.waitFor())
        const shown = yield* promise(() =>
          tree.locator(".plan-node").evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-label")))
        )
        expect(shown).toEqual(labels)
        const badge = page.locator(".plan-outcome .method")
        expect(yield* promise(() => badge.getAttribute("data-method"))).toBe("logged")
        expect(yield* promise(() => badge.textContent())).toBe("auto_explain")
        yield* screenshot(page, "demo-postgres-plan-1280")

        // The Plan history lists the same plan, with its badge.
        yield* promise(() => page.goto(`${daemon.base}/queries/${id}?pipeline=${pipeline}&tab=plan-history`))
        yield* promise(() => page.locator(".method").first().waitFor())
        expect(
          yield* promise(() => page.locator(".method").evaluateAll((nodes) => nodes.map((node) => node.textContent)))
        ).toContain("auto_explain")
        expect(problems()).toEqual([])
      })
    )
  }
)
