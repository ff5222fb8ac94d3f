#!/usr/bin/env node
// The `slowq` command. Runs the compiled bundle (dist/slowq.mjs, see scripts/build.js) when it is up to date, else the
// TypeScript sources through tsx registered in this process, so that `npx slowq …` always runs the code of the
// checkout and signals reach the daemon directly.
import { readdirSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const bundle = join(root, "dist", "slowq.mjs")

const newestSource = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

const bundleIsFresh = () => {
  try {
    const built = statSync(bundle).mtimeMs
    return built >= newestSource(join(root, "src")) && built >= newestSource(join(root, "plugins"))
  } catch {
    return false
  }
}

if (process.env.SLOWQ_FROM_SOURCE !== "1" && bundleIsFresh()) {
  await import(pathToFileURL(bundle).href)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  // As the bundle's entry does (scripts/build.js): `slowq digest` runs without Effect when its arguments are plain.
  const { runPlainPluginCommand } = await import("../../plugins/commands.ts")
  if (!(await runPlainPluginCommand(process.argv[2], process.argv.slice(3)))) await import("../main.ts")
}
