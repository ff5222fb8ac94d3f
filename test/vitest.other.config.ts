import { defineConfig } from "vitest/config"
import { otherGroup } from "./vitest.groups.js"

// The files that do not touch MariaDB, one at a time, beside the MariaDB group (see vitest.groups.ts).
export default defineConfig({
  test: { include: otherGroup, fileParallelism: false, testTimeout: 60_000, hookTimeout: 60_000 }
})
