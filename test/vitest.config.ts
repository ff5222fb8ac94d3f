import { defineConfig } from "vitest/config"

// Integration suites share the local MariaDB's mysql.slow_log, so test files run one at a time.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "plugins/**/*.test.ts", "test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
