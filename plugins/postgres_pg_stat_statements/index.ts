import { Option } from "effect"
import { lazyLayer } from "../../src/plugin/LazyLayer.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"

export const plugin = defineSource({
  type: "postgres_pg_stat_statements",
  dialect: "postgres",
  description:
    "Reads PostgreSQL 13–17's pg_stat_statements and stores one event per statement and interval with the difference since the previous poll (calls, times, rows, blocks, WAL), surviving resets, evictions, failovers and restarts.",
  config: Config,
  layer: (config) => lazyLayer(() => import("./PgStatStatementsSource.js").then((module) => module.layer(config))),
  connection: (config) => ({ url: config.url, password: Option.fromNullable(config.password) })
})
