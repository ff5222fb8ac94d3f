import { lazyLayer } from "../../src/plugin/LazyLayer.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"

export const plugin = defineSource({
  type: "mysql_slow_log_file",
  dialect: "mysql",
  description:
    "Tails MySQL 5.7/8.x, MariaDB 10.x/11.x and Percona Server slow query log files (one file or a glob), surviving rename and copytruncate rotation; each batch is stored with the file offsets it reaches.",
  config: Config,
  layer: (config) => lazyLayer(() => import("./SlowLogFileSource.js").then((module) => module.layer(config)))
})
