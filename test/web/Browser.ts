import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { projectRoot } from "../support/Cli.js"
import { eventually } from "../support/Poll.js"
import { type HttpDaemon, request } from "../http/HttpDaemon.js"

// What the browser tests of the dashboard share: Debian's Chromium (installed by .ci/prepare-services) driven by
// playwright-core, pages that record every request leaving 127.0.0.1 and every console error, screenshots into
// test-artifacts/web/.

export const artifacts = join(projectRoot, "test-artifacts", "web")

export const launchBrowser = Effect.acquireRelease(
  Effect.sync(() => mkdirSync(artifacts, { recursive: true })).pipe(
    Effect.zipRight(
      Effect.promise(() => chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--disable-gpu", "--no-first-run"] }))
    )
  ),
  (browser) => Effect.promise(() => browser.close())
)

export const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/**
 * A page of a fresh browser context that records every request leaving 127.0.0.1 (and refuses it) and every console
 * error or uncaught exception; `problems()` lists them.
 */
export const openPage = (browser: Browser, width: number, height: number) =>
  Effect.gen(function* () {
    const context: BrowserContext = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ viewport: { width, height }, serviceWorkers: "block" })),
      (context) => Effect.promise(() => context.close())
    )
    const outside: Array<string> = []
    const errors: Array<string> = []
    yield* Effect.promise(() =>
      context.route("**/*", (route) => {
        const url = new URL(route.request().url())
        if (url.hostname === "127.0.0.1") return route.continue()
        outside.push(url.href)
        return route.abort()
      })
    )
    const page = yield* Effect.promise(() => context.newPage())
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(`console: ${message.text()} (${message.location().url})`)
    })
    page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`))
    // A read the page aborts (it asked something else since) is not a failure.
    page.on("requestfailed", (failed) => {
      const reason = failed.failure()?.errorText ?? ""
      if (!outside.includes(failed.url()) && reason !== "net::ERR_ABORTED") errors.push(`request failed: ${failed.url()} ${reason}`)
    })
    // Every API answer, for the story a failed wait tells (`waitVisible`).
    const answers: Array<string> = []
    const started = Date.now()
    page.on("response", (response) => {
      const url = new URL(response.url())
      if (url.pathname.startsWith("/api/")) answers.push(`${Date.now() - started} ms ${response.status()} ${url.pathname}${url.search}`)
    })
    page.on("requestfailed", (failed) => {
      const url = new URL(failed.url())
      if (url.pathname.startsWith("/api/")) answers.push(`${Date.now() - started} ms failed (${failed.failure()?.errorText}) ${url.pathname}${url.search}`)
    })
    return {
      page,
      problems: () => [...outside.map((url) => `outside request: ${url}`), ...errors],
      answers: () => [...answers]
    }
  })

/**
 * Waits for `selector` to show on `page`; if it does not within 30 s, fails saying where the page is, what it shows
 * and every API answer it had, rather than with the locator's timeout alone.
 */
export const waitVisible = (page: Page, selector: string, answers: () => ReadonlyArray<string>) =>
  Effect.tryPromise(() => page.locator(selector).first().waitFor({ timeout: 30_000 })).pipe(
    Effect.catchAll((cause) =>
      Effect.promise(() => page.locator("main, body").first().textContent().catch(() => "(no text)")).pipe(
        Effect.flatMap((text) =>
          Effect.die(
            new Error(
              `${selector} not shown on ${page.url()}: ${String(cause)}\npage text: ${(text ?? "").slice(0, 600)}\nAPI answers:\n${answers().join("\n")}`
            )
          )
        )
      )
    )
  )

/** The whole page at desktop widths, the viewport at a phone's; `view` takes the viewport only (the README's pictures). */
export const screenshot = (page: Page, name: string, view: "page" | "viewport" = "page") =>
  promise(() =>
    page.screenshot({
      path: join(artifacts, `${name}.png`),
      fullPage: view === "page" && (page.viewportSize()?.width ?? 0) > 800
    })
  )

/** The pipeline has finished a run since the daemon started and none is in flight. */
export const settled = (daemon: HttpDaemon, pipeline: string, token?: string) =>
  eventually(
    `pipeline ${pipeline}'s first run`,
    request(daemon, "GET", `/api/v1/pipelines/${pipeline}`, token === undefined ? {} : { token }).pipe(
      Effect.map((answer) => {
        if (answer.status !== 200) return false
        const body: { running: unknown; totals: { runs: number } } = JSON.parse(answer.text)
        return body.running === null && body.totals.runs >= 1
      })
    ),
    "90 seconds"
  )
