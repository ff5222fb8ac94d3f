import { gzipSync } from "node:zlib"
import { FileSystem, HttpApiBuilder, HttpServerError, HttpServerRequest, HttpServerResponse, Path } from "@effect/platform"
import { Effect, Option } from "effect"

// The dashboard (web/, built by Vite into dist/web by `npm run build` and `npm ci`) served at / beside the API. It
// goes through the API's middleware (HttpApiServer.ts), so the Host check is the API's; the files themselves hold no
// data and load without the token: the page asks for it when a read answers 401, and sends it as the API expects.

/**
 * The page may load its own scripts, styles, images and fonts and talk to this server only: nothing inline (Vite emits
 * none: no module preload polyfill, see web/vite.config.ts), nothing from elsewhere, no frames, no plugins.
 */
export const webContentSecurityPolicy =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** Vite names the files under /assets/ by their content's hash: a browser may keep them for good. */
const immutable = "public, max-age=31536000, immutable"
/** index.html and the unhashed files (favicon) name the current build: revalidated on each load. */
const revalidate = "no-cache"

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8"
}

interface WebFile {
  readonly body: Uint8Array
  /** Present when gzip saves something: text files, compressed once at start. */
  readonly gzipped: Option.Option<Uint8Array>
  readonly contentType: string
  readonly cacheControl: string
}

/** Paths the dashboard never answers with its page: the API's own (an unknown one is the API's 404). */
const isServerPath = (path: string) =>
  path === "/api" ||
  path.startsWith("/api/") ||
  ["/docs", "/openapi.json", "/healthz", "/readyz", "/metrics"].some((p) => path === p || path.startsWith(`${p}/`))

/**
 * A path the client's router may own: not the server's, and not a file name (a missing /favicon.ico or asset is a 404,
 * not a page whose scripts then fail to parse HTML).
 */
export const isClientRoute = (path: string) => !isServerPath(path) && !(path.split("/").pop() ?? "").includes(".")

/** The project's root: the nearest folder above this module (src/http or dist/chunks) holding package.json. */
const projectRoot = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  let dir = path.dirname(yield* path.fromFileUrl(new URL(import.meta.url)))
  while (true) {
    if (yield* fs.exists(path.join(dir, "package.json"))) return Option.some(dir)
    const parent = path.dirname(dir)
    if (parent === dir) return Option.none<string>()
    dir = parent
  }
})

const readWebFiles = (root: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = yield* fs.readDirectory(root, { recursive: true })
    const files = new Map<string, WebFile>()
    for (const name of names) {
      const full = path.join(root, name)
      if ((yield* fs.stat(full)).type !== "File") continue
      const body = yield* fs.readFile(full)
      const extension = path.extname(name)
      const contentType = contentTypes[extension] ?? "application/octet-stream"
      const compressible = /^(text\/|image\/svg|application\/json)/.test(contentType)
      const gzipped = compressible ? gzipSync(body, { level: 9 }) : undefined
      const urlPath = `/${name.split(path.sep).join("/")}`
      files.set(urlPath, {
        body,
        gzipped: gzipped !== undefined && gzipped.length < body.length ? Option.some(gzipped) : Option.none(),
        contentType,
        cacheControl: urlPath.startsWith("/assets/") ? immutable : revalidate
      })
    }
    return files
  })

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>slowq</title></head>
<body><h1>slowq</h1><p>The dashboard is not built: run <code>npm run build</code> (it needs the devDependencies,
<code>npm ci</code> without <code>--omit=dev</code>), then restart slowq. The API answers under
<a href="/api/v1/queries">/api/v1</a>; its documentation is at <a href="/docs">/docs</a>.</p></body></html>`

const respond = (request: HttpServerRequest.HttpServerRequest, file: WebFile) => {
  const gzip = Option.isSome(file.gzipped) && /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")
  const headers: Record<string, string> = {
    "cache-control": file.cacheControl,
    "content-security-policy": webContentSecurityPolicy,
    "referrer-policy": "no-referrer",
    vary: "accept-encoding"
  }
  if (gzip) headers["content-encoding"] = "gzip"
  return HttpServerResponse.uint8Array(gzip && Option.isSome(file.gzipped) ? file.gzipped.value : file.body, {
    contentType: file.contentType,
    headers
  })
}

/**
 * Mounts the dashboard on the API's router: its files by name, and index.html for / and for every client route.
 * The files are read once, when the server starts; without a build, / says how to make one.
 */
export const webAssetsLayer = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    // A build that cannot be read is logged and / says so: the API is served all the same.
    const files = yield* Effect.gen(function* () {
      const root = Option.map(yield* projectRoot, (dir) => path.join(dir, "dist", "web"))
      if (Option.isNone(root) || !(yield* fs.exists(path.join(root.value, "index.html")))) {
        yield* Effect.logWarning("the dashboard is not built (dist/web): / says how to build it; the API is served as usual")
        return new Map<string, WebFile>()
      }
      return yield* readWebFiles(root.value)
    }).pipe(
      Effect.catchTags({
        SystemError: (error) => Effect.as(Effect.logError("cannot read the dashboard's files (dist/web)", error), new Map<string, WebFile>()),
        BadArgument: (error) => Effect.as(Effect.logError("cannot read the dashboard's files (dist/web)", error), new Map<string, WebFile>())
      })
    )
    const index: WebFile = files.get("/index.html") ?? {
      body: new TextEncoder().encode(notBuilt),
      gzipped: Option.none(),
      contentType: contentTypes[".html"]!,
      cacheControl: revalidate
    }
    const serve = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const urlPath = request.url.split("?")[0] ?? "/"
      const file = files.get(urlPath)
      if (file !== undefined && urlPath !== "/index.html") return respond(request, file)
      if (isClientRoute(urlPath)) return respond(request, index)
      return yield* Effect.fail(new HttpServerError.RouteNotFound({ request }))
    })
    yield* router.get("/", serve)
    // find-my-way tries static and parametric routes first: the API's routes keep their paths.
    yield* router.get("*", serve)
  })
)
