#!/usr/bin/env node
// Compiles the CLI into one ESM file, dist/slowq.mjs, so that commands start without tsx transpiling and
// resolving hundreds of modules (about 0.6 s and 90 MB less per start; it is what lets `slowq digest` stay
// far ahead of pt-query-digest). Packages with WASM or native parts stay external and load from node_modules.
// Runs on `npm ci` / `npm install` (the `prepare` script) and with `npm run build`; src/bin/slowq.js uses the
// bundle only while it is newer than every source file, and tsx otherwise.
import { build } from "esbuild"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

await build({
  entryPoints: [join(root, "src", "main.ts")],
  outfile: join(root, "dist", "slowq.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["@electric-sql/*", "@libpg-query/*", "pg", "pg-*", "mysql2"],
  // Bundled CommonJS packages (yaml, …) call require(); ESM output has none of its own.
  banner: { js: "import { createRequire as __slowqCreateRequire } from 'node:module'; const require = __slowqCreateRequire(import.meta.url);" },
  logLevel: "warning"
})
