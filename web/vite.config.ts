import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vite"

// The dashboard: built into dist/web (scripts/build.js runs this on `npm run build` and `npm ci`), served by the
// daemon at / (src/http/WebAssets.ts). `npm run dev:web` serves it with Vite and sends /api to the daemon.
const here = dirname(fileURLToPath(import.meta.url))

// HttpApiSettings.defaultAddress; SLOWQ_HTTP_ADDR when the daemon listens elsewhere.
const daemon = `http://${process.env.SLOWQ_HTTP_ADDR ?? "127.0.0.1:8080"}`

export default defineConfig({
  root: here,
  base: "/",
  publicDir: join(here, "public"),
  // React's automatic JSX through Vite's own esbuild: no Babel plugin (and no fast refresh; a reload is enough here).
  esbuild: { jsx: "automatic" },
  build: {
    outDir: join(here, "..", "dist", "web"),
    emptyOutDir: true,
    target: "es2022",
    // The polyfill is for browsers without modulepreload; every browser this targets has it, and leaving it out keeps
    // the page free of any script but its own files (the daemon's Content-Security-Policy allows no other).
    modulePreload: { polyfill: false },
    reportCompressedSize: false
  },
  server: {
    proxy: { "/api": { target: daemon, changeOrigin: false } }
  }
})
