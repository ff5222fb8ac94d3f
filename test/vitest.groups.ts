import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The test files in two groups that can run side by side. Every file that touches the local MariaDB runs in the
 * `mariadb` group, one at a time: they share mysql.slow_log, which some truncate and some read whole, and MariaDB
 * logs every statement any of them sends. The others (PostgreSQL databases of their own, PGlite, no server) run in
 * the `other` group, also one at a time, beside them. A file is put in a group by what it contains, so a new test
 * that starts using MariaDB moves to the serial group by itself. A file that only names MySQL or MariaDB (a slow log
 * flavour, an invalid URL, a config that is parsed and never connected) says so with the line
 * `// test group: other`, which keeps it out of the serial group.
 */
const root = fileURLToPath(new URL("..", import.meta.url))

const touchesMariadb = /mariadb|mysql:\/\/|runMariadb|MysqlClient|mysql2|:3306|slow_log|WebShopMix/i
const declaredOther = /^\/\/ test group: other$/m

const testFiles = (dir: string): Array<string> =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "node_modules" || entry.name === "testdata" ? [] : testFiles(path)
    return entry.name.endsWith(".test.ts") ? [relative(".", path)] : []
  })

const all = ["src", "plugins", "test"].flatMap(testFiles)

export const mariadbGroup = all.filter((file) => {
  const text = readFileSync(join(root, file), "utf8")
  return touchesMariadb.test(text) && !declaredOther.test(text)
})
export const otherGroup = all.filter((file) => !mariadbGroup.includes(file))
