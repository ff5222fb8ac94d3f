import { Option } from "effect"
import { lazyLayer } from "../../src/plugin/LazyLayer.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"

export const plugin = defineSource({
  type: "mysql_slow_log_table",
  dialect: "mysql",
  description:
    "Reads the slow query log of MySQL 8.x / MariaDB 10.11+ from the table mysql.slow_log (log_output must include TABLE), incrementally by statement end time.",
  config: Config,
  layer: (config) => lazyLayer(() => import("./MysqlSlowLogTableSource.js").then((module) => module.layer(config))),
  // The explain stage reaches the same server with these unless it is given its own explain_url.
  connection: (config) => ({ url: config.url, password: Option.fromNullable(config.password) })
})
