// test group: other
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { get as httpGet } from "node:http"
import { join } from "node:path"
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import type { Browser, Page } from "playwright-core"
import { bucketOf, bucketValueMs, RELATIVE_ERROR } from "../../src/domain/LatencyHistogram.js"
import { webContentSecurityPolicy } from "../../src/http/WebAssets.js"
import { formatMs, formatShare } from "../../web/src/format.js"
import { projectRoot } from "../support/Cli.js"
import { storeClient } from "../support/StoreQueries.js"
import { freshStoreDatabase } from "../support/StoreDatabase.js"
import { type HttpDaemon, request, startHttpDaemon } from "../http/HttpDaemon.js"
import { launchBrowser, openPage, promise, screenshot, settled, waitVisible } from "./Browser.js"

// The dashboard in Debian's Chromium (installed by .ci/prepare-services), driven by playwright-core (./Browser.ts),
// against `slowq run` on a fresh store filled by the demo pipeline (pipelines/demo). Every request the page makes must
// stay on 127.0.0.1 and no console error may appear; screenshots go to test-artifacts/web/. The dashboard is the one
// `npm run build` (or `npm ci`) put in dist/web.

const demoPipeline = readFileSync(join(projectRoot, "pipelines", "demo", "demo_slow_log.yaml"), "utf8")

interface Fixture {
  readonly daemon: HttpDaemon
  readonly storeUrl: string
  readonly browser: Browser
}
class Dashboard extends Context.Tag("test/web/Dashboard")<Dashboard, Fixture>() {}

const fixture = (env: Record<string, string>) =>
  Effect.gen(function* () {
    if (!existsSync(join(projectRoot, "dist", "web", "index.html"))) {
      return yield* Effect.die(new Error("dist/web/index.html is missing: run `npm run build` (npm ci runs it too)"))
    }
    const store = yield* freshStoreDatabase
    const daemon = yield* startHttpDaemon({ "demo_slow_log.yaml": demoPipeline }, { SLOWQ_STORE_URL: store.url, ...env })
    const browser = yield* launchBrowser
    return { daemon, storeUrl: store.url, browser }
  })

/** The ids of the ranked rows on the page, in order. */
const rowIds = (page: Page) =>
  promise(() => page.locator("table.queries tbody tr").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-query-id"))))

/**
 * What the store says of the top queries by total time: each one's share of the total time of every query, and the
 * severity of its most severe open finding (null without one), read from its tables.
 */
const storeTopFacts = (url: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      return yield* sql.unsafe<{ query_id: string; total_ms: number; all_ms: number; severity: string | null }>(
        `SELECT q.query_id, q.total_ms::float8 AS total_ms, (SELECT sum(total_ms) FROM slowq_queries)::float8 AS all_ms,
           (SELECT f.severity FROM slowq_findings f WHERE f.pipeline = q.pipeline AND f.query_id = q.query_id
              AND f.resolved_at IS NULL
            ORDER BY CASE f.severity WHEN 'crit' THEN 3 WHEN 'warn' THEN 2 ELSE 1 END DESC LIMIT 1) AS severity
         FROM slowq_queries q ORDER BY q.total_ms DESC, q.pipeline, q.query_id LIMIT 5`
      )
    })
  ).pipe(Effect.orDie)

/** The store's ranking, read from its tables, not through the API: ids by total time or calls (the API's ties). */
const storeRanking = (url: string, order: "total_ms" | "calls") =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      return yield* sql.unsafe<{ query_id: string; total_ms: number; calls: number }>(
        `SELECT query_id, total_ms::float8 AS total_ms, calls::float8 AS calls FROM slowq_queries
         ORDER BY ${order} DESC, pipeline, query_id LIMIT 50`
      )
    })
  ).pipe(Effect.orDie)

/**
 * The store's ranking by p95 computed from the raw events (not from the histograms): each query's nearest-rank p95 of
 * the time per call (percentile_disc), ranked as the histograms rank it, by the bucket that value falls in (the
 * histogram's p95 is that bucket's value), then pipeline and id.
 */
const storeRawP95 = (url: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      const rows = yield* sql.unsafe<{ pipeline: string; query_id: string; p95: number }>(
        `SELECT pipeline, query_id,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY query_time_ms / greatest(calls, 1))::float8 AS p95
         FROM slowq_events_all WHERE calls > 0 GROUP BY pipeline, query_id`
      )
      return [...rows]
        .sort((a, b) => bucketOf(b.p95) - bucketOf(a.p95) || (a.pipeline < b.pipeline ? -1 : a.pipeline > b.pipeline ? 1 : 0) || (a.query_id < b.query_id ? -1 : 1))
        .slice(0, 50)
    })
  ).pipe(Effect.orDie)

/**
 * The store's ranking of the queries some of whose stored events came with database `db` (and, when given, some with
 * user `user`: the name before `[` of the slow log's `user[priv] @ host`; each filter is on the query, not on one
 * execution), read from the events, not from the sets the filters use.
 */
const storeFiltered = (url: string, order: "total_ms" | "rows_examined", db: string, user?: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      return yield* sql.unsafe<{ query_id: string }>(
        `SELECT query_id FROM slowq_queries q
         WHERE EXISTS (SELECT 1 FROM slowq_events e WHERE e.pipeline = q.pipeline AND e.query_id = q.query_id AND e.db = $1)
           AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM slowq_events e WHERE e.pipeline = q.pipeline
             AND e.query_id = q.query_id AND split_part(e.user_host, '[', 1) = $2))
         ORDER BY ${order} DESC, pipeline, query_id LIMIT 50`,
        [db, user ?? null]
      )
    })
  ).pipe(Effect.orDie)

/** Each database of the store's events with how many queries (per pipeline) came with it, by name. */
const storeDatabases = (url: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      return yield* sql.unsafe<{ name: string; queries: number }>(
        `SELECT db AS name, count(DISTINCT (pipeline, query_id))::int AS queries FROM slowq_events
         WHERE db IS NOT NULL AND db <> '' GROUP BY db ORDER BY db COLLATE "C"`
      )
    })
  ).pipe(Effect.orDie)

/**
 * Waits (10 s at most) until the page's ranked rows are `ids`, in order, then checks they are. Polled from here: the
 * page's Content-Security-Policy refuses the string a waitForFunction would evaluate.
 */
const rowsBecome = (page: Page, ids: ReadonlyArray<string>) =>
  rowIds(page).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (shown) => JSON.stringify(shown) === JSON.stringify(ids) }),
    Effect.timeout("10 seconds"),
    Effect.catchTag("TimeoutException", () => Effect.void),
    Effect.zipRight(rowIds(page)),
    Effect.map((shown) => expect(shown).toEqual(ids))
  )

layer(Layer.scoped(Dashboard, fixture({})), { timeout: "120 seconds", excludeTestServices: true })(
  "the dashboard in Chromium, reads open (loopback, no token)",
  (it) => {
    it.effect("the daemon serves the page, its hashed assets and client routes; API paths keep the API's answers", () =>
      Effect.gen(function* () {
        const { daemon } = yield* Dashboard
        const page = yield* request(daemon, "GET", "/")
        expect([page.status, page.headers.get("content-type"), page.headers.get("cache-control")]).toEqual([
          200,
          "text/html; charset=utf-8",
          "no-cache"
        ])
        expect(page.headers.get("content-security-policy")).toBe(webContentSecurityPolicy)
        expect(page.text).toContain('<div id="root"></div>')
        // No inline script: every <script> names its file.
        expect(page.text.match(/<script\b[^>]*>/g)?.every((tag) => /\ssrc="\/assets\//.test(tag))).toBe(true)
        const client = yield* request(daemon, "GET", "/queries/ABC123?order=calls")
        expect([client.status, client.text]).toEqual([200, page.text])
        const script = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)![1]!
        const asset = yield* request(daemon, "GET", script, { headers: { "accept-encoding": "gzip" } })
        expect([asset.status, asset.headers.get("content-type"), asset.headers.get("cache-control")]).toEqual([
          200,
          "text/javascript; charset=utf-8",
          "public, max-age=31536000, immutable"
        ])
        for (const path of ["/assets/nothing-0000.js", "/favicon.ico", "/api/v1/nothing", "/api", "/docs/x"]) {
          const answer = yield* request(daemon, "GET", path)
          expect([path, answer.status, JSON.parse(answer.text)]).toEqual([
            path,
            404,
            { _tag: "NotFoundError", message: `no route GET ${path}` }
          ])
        }
        // The API's Host check covers the page (DNS rebinding). fetch cannot set Host: node:http can.
        const rebound = yield* Effect.async<number | undefined>((resume) => {
          httpGet(`${daemon.base}/`, { headers: { host: "attacker.example" } }, (answer) => {
            answer.resume()
            resume(Effect.succeed(answer.statusCode))
          }).on("error", (error) => resume(Effect.die(error)))
        })
        expect(rebound).toBe(421)
      })
    )

    it.scoped(
      "the queries page ranks the store's fingerprints; sorting changes the rows and the URL; a query's overview and samples",
      () =>
        Effect.gen(function* () {
          const { daemon, storeUrl, browser } = yield* Dashboard
          yield* settled(daemon, "demo_slow_log")
          const byTotal = yield* storeRanking(storeUrl, "total_ms")
          const byCalls = yield* storeRanking(storeUrl, "calls")
          // The data must tell the two orders apart, or the sorting check below proves nothing.
          expect(byCalls.map((r) => r.query_id)).not.toEqual(byTotal.map((r) => r.query_id))
          const top = byTotal[0]!

          const { page, problems } = yield* openPage(browser, 1280, 900)
          yield* promise(() => page.goto(`${daemon.base}/`))
          yield* promise(() => page.locator("table.queries tbody tr").first().waitFor())
          const firstRowsMs = yield* promise(() => page.evaluate(() => performance.now()))
          console.log(`queries page: first rows after ${Math.round(firstRowsMs)} ms (since navigation start)`)
          expect(yield* rowIds(page)).toEqual(byTotal.map((r) => r.query_id))
          const firstTotal = page.locator("table.queries tbody tr").first().locator('td[data-label="Total"]')
          expect(Number(yield* promise(() => firstTotal.getAttribute("data-ms")))).toBe(top.total_ms)
          expect(yield* promise(() => firstTotal.textContent())).toBe(formatMs(top.total_ms))
          // The top rows' share of the store's total time, their most severe open finding, and a sparkline each (a
          // uPlot canvas, drawn once the page's series arrive); all time, no query is "new".
          const facts = yield* storeTopFacts(storeUrl)
          const topRows = page.locator("table.queries tbody tr")
          for (let i = 0; i < facts.length; i++) yield* promise(() => topRows.nth(i).locator("td.spark canvas").waitFor())
          const shown = yield* promise(() =>
            topRows.evaluateAll((rows) =>
              rows.slice(0, 5).map((row) => ({
                query_id: row.getAttribute("data-query-id"),
                share: row.querySelector('td[data-label="% of total"]')?.textContent,
                severity: row.querySelector(".meta .severity")?.textContent ?? null,
                sparklines: row.querySelectorAll("td.spark canvas").length,
                new: row.querySelectorAll(".badge-new").length
              }))
            )
          )
          expect(shown).toEqual(
            facts.map((fact) => ({
              query_id: fact.query_id,
              share: formatShare(fact.total_ms, fact.all_ms),
              severity: fact.severity,
              sparklines: 1,
              new: 0
            }))
          )
          // The demo's analyzer finds something in the top rows, or the severity check proves little.
          expect(facts.some((fact) => fact.severity !== null)).toBe(true)
          yield* screenshot(page, "queries-1280")
          yield* screenshot(page, "queries-top-1280", "viewport")

          // Sorting: by calls, in the URL, and the rows are the store's ranking by calls.
          yield* promise(() => page.getByRole("button", { name: "Calls" }).click())
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("order") === "calls"))
          yield* promise(() => page.locator(`table.queries tbody tr[data-query-id="${byCalls[0]!.query_id}"]`).first().waitFor())
          expect(yield* rowIds(page)).toEqual(byCalls.map((r) => r.query_id))
          expect(yield* promise(() => page.locator("select[name=order]").inputValue())).toBe("calls")
          // Back: the URL and the rows return to the ranking by total time.
          yield* promise(() => page.goBack())
          yield* promise(() => page.waitForURL((url) => !url.searchParams.has("order")))
          yield* promise(() => page.locator(`table.queries tbody tr[data-query-id="${top.query_id}"]`).first().waitFor())
          expect(yield* rowIds(page)).toEqual(byTotal.map((r) => r.query_id))

          // By p95: it ranks a range (no all-time histogram), so choosing it all time ranks the last 24 hours, in the
          // URL; the demo log is older: nothing there. Over a range holding the log, the rows are the store's ranking
          // by the p95 of its raw events, each p95 within the histogram's 2% of the raw one.
          yield* promise(() => page.getByRole("button", { name: "p95" }).click())
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("order") === "p95_ms" && url.searchParams.get("since") === "24h"))
          expect(yield* promise(() => page.locator("select[name=order]").inputValue())).toBe("p95_ms")
          expect(yield* promise(() => page.locator("select[name=range]").inputValue())).toBe("24h")
          yield* promise(() => page.locator('[data-note="p95-range"]').waitFor())
          yield* promise(() => page.getByText("Nothing was stored for these filters").waitFor())
          const byP95 = yield* storeRawP95(storeUrl)
          expect(byP95.map((r) => r.query_id)).not.toEqual(byTotal.map((r) => r.query_id))
          yield* promise(() => page.goto(`${daemon.base}/?order=p95_ms&since=36500d`))
          yield* rowsBecome(page, byP95.map((r) => r.query_id))
          const p95Shown = yield* promise(() =>
            page.locator('table.queries tbody td[data-label="p95"]').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute("data-ms"))))
          )
          expect(p95Shown.map((ms, i) => Math.abs(ms - bucketValueMs(bucketOf(byP95[i]!.p95))) < 1e-9 * ms)).toEqual(p95Shown.map(() => true))
          expect(p95Shown.map((ms, i) => Math.abs(ms - byP95[i]!.p95) <= RELATIVE_ERROR * byP95[i]!.p95)).toEqual(p95Shown.map(() => true))
          expect(yield* promise(() => page.locator("table.queries tbody tr").first().locator('td[data-label="p95"]').textContent())).toBe(
            formatMs(p95Shown[0]!)
          )
          expect(yield* promise(() => page.locator("button.sorted").textContent())).toBe("p95 ↓")
          yield* screenshot(page, "queries-p95-1280")
          yield* promise(() => page.goto(`${daemon.base}/`))
          yield* promise(() => page.locator(`table.queries tbody tr[data-query-id="${top.query_id}"]`).first().waitFor())

          // Filtering by database: the choices are the databases of the store's events, each with its queries'
          // count; choosing one keeps only the queries seen in it, in the URL; then a user too; then ranked by rows
          // examined. The demo log has three databases (analytics, billing, shop) and four users.
          const databases = yield* storeDatabases(storeUrl)
          expect(databases.map((d) => d.name)).toEqual(["analytics", "billing", "shop"])
          yield* promise(() => page.locator('select[name=database] option[value="billing"]').waitFor({ state: "attached" }))
          expect(
            yield* promise(() => page.locator("select[name=database] option").evaluateAll((options) => options.map((o) => o.textContent)))
          ).toEqual(["All", ...databases.map((d) => `${d.name} (${d.queries})`)])
          const billing = (yield* storeFiltered(storeUrl, "total_ms", "billing")).map((r) => r.query_id)
          // The filter must leave some queries out, or the check proves nothing.
          expect(billing.length).toBeGreaterThan(0)
          expect(billing).not.toEqual(byTotal.map((r) => r.query_id))
          yield* promise(() => page.locator("select[name=database]").selectOption("billing"))
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("database") === "billing"))
          yield* rowsBecome(page, billing)
          const billingBatch = (yield* storeFiltered(storeUrl, "total_ms", "billing", "batch")).map((r) => r.query_id)
          expect(billingBatch.length).toBeGreaterThan(0)
          expect(billingBatch).not.toEqual(billing)
          yield* promise(() => page.locator("select[name=user]").selectOption("batch"))
          yield* promise(() =>
            page.waitForURL((url) => url.searchParams.get("database") === "billing" && url.searchParams.get("user") === "batch")
          )
          yield* rowsBecome(page, billingBatch)
          const byRows = (yield* storeFiltered(storeUrl, "rows_examined", "billing", "batch")).map((r) => r.query_id)
          yield* promise(() => page.getByRole("button", { name: "Rows examined" }).click())
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("order") === "rows_examined"))
          yield* rowsBecome(page, byRows)
          expect(yield* promise(() => page.locator("select[name=order]").inputValue())).toBe("rows_examined")
          // Each row's sparkline draws the metric ranked by.
          yield* promise(() => page.locator("table.queries tbody td.spark canvas").first().waitFor())
          expect(
            yield* promise(() =>
              page.locator("table.queries tbody td.spark .sparkline[role=img]").evaluateAll((spans) => [...new Set(spans.map((s) => s.getAttribute("aria-label")))])
            )
          ).toEqual(["rows examined per step"])
          yield* screenshot(page, "queries-filtered-1280")
          // Back twice: the user, then the database filter is gone again, and so are their rows.
          yield* promise(() => page.goBack())
          yield* promise(() => page.goBack())
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("database") === "billing" && !url.searchParams.has("user")))
          yield* rowsBecome(page, billing)

          // A time range with nothing in it (the demo log is from 2024): the empty state says what to do.
          yield* promise(() => page.locator("select[name=range]").selectOption("1h"))
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("since") === "1h"))
          yield* promise(() => page.getByRole("heading", { name: "No queries here" }).waitFor())

          // The top query's detail: overview with its totals and charts, then its samples.
          yield* promise(() => page.goto(`${daemon.base}/`))
          yield* promise(() => page.locator("table.queries tbody tr a").first().click())
          yield* promise(() => page.waitForURL((url) => url.pathname === `/queries/${top.query_id}`))
          yield* promise(() => page.locator(".chart canvas").nth(1).waitFor())
          const calls = page.locator(".figures div", { hasText: /^Calls/ }).locator("dd")
          expect(yield* promise(() => calls.textContent())).toBe(new Intl.NumberFormat("en-US").format(top.calls))
          yield* screenshot(page, "query-overview-1280")
          yield* promise(() => page.getByRole("link", { name: "Samples" }).click())
          yield* promise(() => page.waitForURL((url) => url.searchParams.get("tab") === "samples"))
          yield* promise(() => page.locator(".samples pre").first().waitFor())
          expect(yield* promise(() => page.locator(".samples li").count())).toBeGreaterThan(0)
          yield* screenshot(page, "query-samples-1280")
          // A slow log file has no database to EXPLAIN on (the demo has no explain stage): the plan tab says so.
          yield* promise(() => page.getByRole("link", { name: "Plan", exact: true }).click())
          yield* promise(() => page.getByRole("heading", { name: "No plan" }).waitFor())

          expect(problems()).toEqual([])
        })
    )

    it.scoped("the findings page ranks the analyzer's findings as the API does; the severity filter is in the URL; a query's findings tab", () =>
      Effect.gen(function* () {
        const { daemon, browser } = yield* Dashboard
        yield* settled(daemon, "demo_slow_log")
        type Listed = { findings: ReadonlyArray<{ rule: string; query_id: string; severity: string }> }
        const api = (path: string) => request(daemon, "GET", path).pipe(Effect.map((answer): Listed => JSON.parse(answer.text)))
        const keys = (listed: Listed) => listed.findings.map((f) => `${f.query_id} ${f.rule}`)
        const all = yield* api("/api/v1/findings?limit=100")
        const warn = yield* api("/api/v1/findings?limit=100&severity=warn")
        // The demo's analyze stage finds both kinds, or the filter below proves nothing.
        expect([all.findings.length > warn.findings.length, warn.findings.length > 0]).toEqual([true, true])
        const { page, problems, answers } = yield* openPage(browser, 1280, 900)
        const shownFindings = () =>
          promise(() =>
            page.locator("li.finding").evaluateAll((items) =>
              items.map((item) => `${item.querySelector("a.finding-query")?.getAttribute("href")?.split("/")[2]?.split("?")[0]} ${item.getAttribute("data-rule")}`)
            )
          )
        yield* promise(() => page.goto(`${daemon.base}/`))
        yield* promise(() => page.getByRole("link", { name: "Findings" }).click())
        yield* promise(() => page.waitForURL((url) => url.pathname === "/findings"))
        yield* waitVisible(page, "li.finding", answers)
        expect(yield* shownFindings()).toEqual(keys(all))
        yield* screenshot(page, "findings-1280")
        yield* screenshot(page, "findings-top-1280", "viewport")
        yield* promise(() => page.locator("select[name=severity]").selectOption("warn"))
        yield* promise(() => page.waitForURL((url) => url.searchParams.get("severity") === "warn"))
        // (The page's CSP forbids waitForFunction's eval: locators only.) The info findings go, the list comes back.
        yield* promise(() => page.locator('li.finding[data-severity="info"]').first().waitFor({ state: "detached" }))
        yield* promise(() => page.locator("li.finding").first().waitFor())
        expect(yield* shownFindings()).toEqual(keys(warn))
        // The top warning's query, on its findings tab: the query's findings as the API lists them.
        const top = warn.findings[0]!
        yield* promise(() => page.locator("li.finding a.finding-query").first().click())
        yield* promise(() => page.waitForURL((url) => url.pathname === `/queries/${top.query_id}` && url.searchParams.get("tab") === "findings"))
        yield* promise(() => page.locator("li.finding").first().waitFor())
        const ofQuery = yield* api(`/api/v1/queries/${top.query_id}/findings?pipeline=demo_slow_log`)
        expect(yield* promise(() => page.locator("li.finding").evaluateAll((items) => items.map((item) => item.getAttribute("data-rule"))))).toEqual(
          ofQuery.findings.map((f) => f.rule)
        )
        yield* screenshot(page, "query-findings-1280")
        expect(problems()).toEqual([])
      })
    )

    it.scoped("the pipelines page shows the demo pipeline; without the token its controls are disabled and say why", () =>
      Effect.gen(function* () {
        const { daemon, browser } = yield* Dashboard
        yield* settled(daemon, "demo_slow_log")
        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(`${daemon.base}/`))
        yield* promise(() => page.getByRole("link", { name: "Pipelines" }).click())
        yield* promise(() => page.waitForURL((url) => url.pathname === "/pipelines"))
        const card = page.locator('li[data-pipeline="demo_slow_log"]')
        yield* promise(() => card.waitFor())
        expect(yield* promise(() => card.locator("h2").textContent())).toMatch(/^demo_slow_log (scheduled|running)$/)
        expect(yield* promise(() => card.locator(".meta").textContent())).toContain("mysql_slow_log_file · every 10s")
        for (const name of ["Run now", "Pause"]) {
          expect([name, yield* promise(() => card.getByRole("button", { name }).isDisabled())]).toEqual([name, true])
        }
        expect(yield* promise(() => page.getByRole("button", { name: "Pause all" }).isDisabled())).toBe(true)
        expect(yield* promise(() => page.locator("form.note").textContent())).toContain("Run now, pause and resume need the API token")
        yield* screenshot(page, "pipelines-no-token-1280")
        expect(problems()).toEqual([])
      })
    )

    it.scoped("at 390 px wide the ranking is readable, and the detail and pipelines pages fit", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser } = yield* Dashboard
        yield* settled(daemon, "demo_slow_log")
        const top = (yield* storeRanking(storeUrl, "total_ms"))[0]!
        const { page, problems } = yield* openPage(browser, 390, 844)
        yield* promise(() => page.goto(`${daemon.base}/?order=calls&database=shop&user=app`))
        yield* promise(() => page.locator("table.queries tbody tr").first().waitFor())
        yield* promise(() => page.locator('select[name=user] option[value="report"]').waitFor({ state: "attached" }))
        // Each row's trend is drawn on a phone too.
        yield* promise(() => page.locator("table.queries tbody td.spark canvas").first().waitFor())
        // Nothing wider than the screen: no sideways scrolling.
        expect(yield* promise(() => page.evaluate("document.documentElement.scrollWidth"))).toBe(390)
        yield* screenshot(page, "queries-390")
        yield* promise(() => page.goto(`${daemon.base}/queries/${top.query_id}?pipeline=demo_slow_log`))
        yield* promise(() => page.locator(".chart canvas").nth(1).waitFor())
        expect(yield* promise(() => page.evaluate("document.documentElement.scrollWidth"))).toBe(390)
        yield* screenshot(page, "query-overview-390")
        yield* promise(() => page.goto(`${daemon.base}/pipelines`))
        yield* promise(() => page.locator('li[data-pipeline="demo_slow_log"]').waitFor())
        expect(yield* promise(() => page.evaluate("document.documentElement.scrollWidth"))).toBe(390)
        yield* screenshot(page, "pipelines-390")
        expect(problems()).toEqual([])
      })
    )
  }
)

const token = randomBytes(16).toString("hex")

layer(Layer.scoped(Dashboard, fixture({ SLOWQ_API_TOKEN: token })), { timeout: "120 seconds", excludeTestServices: true })(
  "the dashboard in Chromium, reads need the token",
  (it) => {
    it.scoped("the page loads without the token, says it is missing, and shows the queries once it is entered", () =>
      Effect.gen(function* () {
        const { daemon, storeUrl, browser } = yield* Dashboard
        yield* settled(daemon, "demo_slow_log", token)
        const top = (yield* storeRanking(storeUrl, "total_ms"))[0]!
        // The page itself loads without the token; the reads do not.
        expect((yield* request(daemon, "GET", "/")).status).toBe(200)
        expect((yield* request(daemon, "GET", "/api/v1/queries")).status).toBe(401)
        const { page, problems } = yield* openPage(browser, 1280, 900)
        yield* promise(() => page.goto(`${daemon.base}/`))
        yield* promise(() => page.getByRole("heading", { name: "The API token is missing" }).waitFor())
        yield* screenshot(page, "token-missing-1280")
        yield* promise(() => page.locator("input[name=token]").fill(token))
        yield* promise(() => page.getByRole("button", { name: "Use this token" }).click())
        yield* promise(() => page.locator(`table.queries tbody tr[data-query-id="${top.query_id}"]`).first().waitFor())
        // Kept for the tab: a reload needs no second entry.
        yield* promise(() => page.reload())
        yield* promise(() => page.locator(`table.queries tbody tr[data-query-id="${top.query_id}"]`).first().waitFor())
        // With the token: pause, run now (a manual run, while paused), resume.
        yield* promise(() => page.getByRole("link", { name: "Pipelines" }).click())
        const card = page.locator('li[data-pipeline="demo_slow_log"]')
        yield* promise(() => card.getByRole("button", { name: "Pause" }).click())
        yield* promise(() => card.locator(".state-paused").waitFor())
        // A scheduled run started before the pause finishes first; a run asked for meanwhile would be refused (409).
        yield* settled(daemon, "demo_slow_log", token)
        yield* promise(() => card.getByRole("button", { name: "Run now" }).click())
        yield* promise(() => page.getByText("demo_slow_log: a run started.").waitFor())
        yield* promise(() => card.getByText("(manual)").waitFor({ timeout: 15_000 }))
        const detail: { state: string; recent_runs: ReadonlyArray<{ trigger: string }> } = JSON.parse(
          (yield* request(daemon, "GET", "/api/v1/pipelines/demo_slow_log", { token })).text
        )
        expect([detail.state, detail.recent_runs.some((run) => run.trigger === "manual")]).toEqual(["paused", true])
        yield* screenshot(page, "pipelines-token-1280")
        yield* promise(() => card.getByRole("button", { name: "Resume" }).click())
        yield* promise(() => card.getByRole("button", { name: "Pause" }).waitFor())
        // The only console errors are Chromium's own lines for the reads answered 401 before the token was entered.
        expect(problems().filter((p) => !p.includes("status of 401 (Unauthorized)"))).toEqual([])
        expect(problems().length).toBeGreaterThan(0)
      })
    )
  }
)
