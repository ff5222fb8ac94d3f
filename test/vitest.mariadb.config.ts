import { defineConfig } from "vitest/config"
import { mariadbGroup } from "./vitest.groups.js"

// The files that touch the local MariaDB, one at a time (see vitest.groups.ts).
export default defineConfig({
  test: { include: mariadbGroup, fileParallelism: false, testTimeout: 60_000, hookTimeout: 60_000 }
})
