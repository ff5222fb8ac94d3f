#!/usr/bin/env node
// Compiles the CLI into ESM under dist/: the entry dist/slowq.mjs and the chunks it imports on demand, so that
// commands start without tsx transpiling and resolving hundreds of modules. The dynamic imports of src/main.ts
// become separate chunks: `slowq digest` loads Effect, the CLI parser and the digest code only, not the store,
// the HTTP API (whose Swagger UI alone is 2 MB of source) or the database drivers, which halves its start-up
// time and takes 40 MB off its memory. Packages with WASM or native parts stay external and load from
// node_modules. Runs on `npm ci` / `npm install` (the `prepare` script) and with `npm run build`;
// src/bin/slowq.js uses the bundle only while it is newer than every source file, and tsx otherwise.
import { build } from "esbuild"
import { rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { register } from "tsx/esm/api"

// The plugin command list says which worker scripts to bundle; it is TypeScript, read through tsx like the sources.
register()
const { pluginWorkerScripts } = await import("../plugins/commands.ts")

/**
 * @effect/cli imports yaml, toml and ini statically for options that read a config file, which slowq does not
 * use: bundled, they were 416 KB of the 2.2 MB every command parses (`slowq digest --help` peaked at 91 MB of RSS,
 * 73 MB without them). For @effect/cli alone they become a parse function that loads the package from
 * node_modules when first called; the copy of yaml that slowq's own code imports stays bundled.
 */
const lazyCliFileParsers = {
  name: "lazy-cli-file-parsers",
  setup(build) {
    build.onResolve({ filter: /^(yaml|toml|ini)$/ }, (args) =>
      /[\\/]@effect[\\/]cli[\\/]/.test(args.importer) ? { path: args.path, namespace: "lazy-cli-file-parser" } : undefined
    )
    build.onLoad({ filter: /.*/, namespace: "lazy-cli-file-parser" }, (args) => ({
      contents: `import { createRequire } from "node:module"
const load = createRequire(import.meta.url)
export const parse = (text) => load(${JSON.stringify(args.path)}).parse(text)`,
      loader: "js"
    }))
  }
}

/**
 * The entry dist/slowq.mjs: sets what must be set before anything else loads, then imports src/main.ts (a chunk).
 * The young generation of the main thread keeps the size it starts with, for every command: V8 doubles it (up to 16 MB
 * per semi-space) when much of what it allocates survives, as Effect's start-up does, while a digest leaves little
 * alive (about 200 bytes of garbage per entry). On 1M entries that space was 12 MB of the main thread's peak RSS
 * (--threads 1: 93 → 81 MB; 2 threads: 115 → 106 MB) at the same CPU time. The flag only caps growth: V8 reads it when
 * it is about to grow the space, so setting it at run time is safe.
 * --optimize-for-size, for a plugin's command too, makes V8 collect the old generation before it grows much (its
 * memory-reducing heuristics): each digest thread's heap climbs with promoted garbage otherwise, and worker threads,
 * whose isolates read the flag when they start, hold it too. 1M entries, peak RSS --threads 1/2/4: 64.5/97/131 →
 * 62/91/120 MiB (means of 11, 3 and 3 runs); CPU time with one thread 8.4 → 8.9 s (means of 11 runs on a shared
 * machine, where single runs spread by ±1.3 s).
 * `slowq digest` with plain arguments runs without Effect (plugins/commands.ts: runPlainPluginCommand): its chunks are
 * the digest's own, and main.ts with Effect and @effect/cli loads only for what the plain path leaves to the full CLI
 * (--help, an unusual argument).
 * Not for the daemon (\`slowq run\`): serving the HTTP API, a young generation held at its first size is collected
 * so often that what a request allocates (its rows decoded, its answer encoded) is promoted and collected again:
 * under \`npm run bench:http\` the collector took 32% of the daemon's CPU time (17.9 of 56 s), and the reads' p50/p99
 * were 20–40% longer than with V8's default growth.
 * The runtime's commands (run, once, …) let the old generation grow by 100% of what a full collection leaves alive
 * (--heap-growing-percent=100). Ingesting, a batch lives from its read until its store statement returns (with one
 * batch read ahead, Runner.ts), so most of what it allocates is promoted before it dies, and V8 on a machine of more
 * than a few GB lets the old generation grow to 4 times what is live before it collects it: `slowq once` of 100k events
 * peaked at 212 MB in batches of 1000 (265 MB in batches of 5000) with only ~30 MB live. Medians of 3 on a loaded
 * 2-core machine, peak RSS / node CPU seconds, batches of 1000 and 5000: V8's defaults 212 MB 4.19 s / 265 MB 3.90 s;
 * growth 100% 193 MB / 4.31 s (5000); growth 50% 149 MB 4.63 s / 174 MB 4.67 s; growth 30% 140 MB 4.83 s; young
 * generation kept 221 MB (5000); both, growth 100% (this) 124 MB 4.86 s / 161 MB 4.74 s; both, growth 50% 113 MB 5.70 s
 * / 145 MB 5.45 s; --optimize-for-size 108 MB at 45% more CPU. --max-old-space-size would cap the heap (and crash a
 * process whose live data exceeds it), and neither it nor --max-semi-space-size can be set once V8 has started.
 */
const entry = {
  name: "slowq-entry",
  setup(build) {
    build.onResolve({ filter: /^slowq-entry$/ }, () => ({ path: "slowq-entry", namespace: "slowq-entry" }))
    build.onLoad({ filter: /.*/, namespace: "slowq-entry" }, () => ({
      contents: `import { setFlagsFromString } from "node:v8"
import { isPluginCommand, runPlainPluginCommand } from "../plugins/commands.ts"
if (process.argv[2] !== "run") setFlagsFromString("--semi-space-growth-factor=1")
if (isPluginCommand(process.argv[2])) setFlagsFromString("--optimize-for-size")
else setFlagsFromString("--heap-growing-percent=100")
if (!(await runPlainPluginCommand(process.argv[2], process.argv.slice(3)))) await import("./main.ts")`,
      resolveDir: join(root, "src"),
      loader: "js"
    }))
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const out = join(root, "dist")

// Chunk names carry content hashes: chunks of an earlier build would pile up.
rmSync(out, { recursive: true, force: true })
await build({
  entryPoints: {
    slowq: "slowq-entry",
    // A plugin command's worker threads (`slowq digest` reads a large file on several) each load their script alone.
    ...Object.fromEntries(Object.entries(pluginWorkerScripts).map(([name, path]) => [name, join(root, "plugins", path)]))
  },
  outdir: out,
  outExtension: { ".js": ".mjs" },
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["@electric-sql/*", "@libpg-query/*", "pg", "pg-*", "mysql2"],
  // Bundled CommonJS packages (yaml, …) call require(); ESM output has none of its own.
  banner: { js: "import { createRequire as __slowqCreateRequire } from 'node:module'; const require = __slowqCreateRequire(import.meta.url);" },
  plugins: [entry, lazyCliFileParsers],
  logLevel: "warning"
})

/**
 * The dashboard (web/): Vite builds it into dist/web, which the daemon serves at / (src/http/WebAssets.ts). Vite,
 * React and uPlot are devDependencies: an install without them (`npm ci --omit=dev`, as the Dockerfile does)
 * builds the daemon alone, whose / then says how to build the dashboard.
 */
const vite = await import("vite").catch((error) => {
  if (error?.code === "ERR_MODULE_NOT_FOUND") return undefined
  throw error
})
if (vite === undefined) {
  console.warn("build: vite is not installed (devDependencies omitted): the dashboard (dist/web) is not built")
} else {
  await vite.build({ configFile: join(root, "web", "vite.config.ts"), logLevel: "warn" })
}
