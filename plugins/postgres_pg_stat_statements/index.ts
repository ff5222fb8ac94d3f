import { Option } from "effect"
import { defineSource } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"
import { layer } from "./PgStatStatementsSource.js"

export const plugin = defineSource({
  type: "postgres_pg_stat_statements",
  dialect: "postgres",
  description:
    "Reads PostgreSQL 13–17's pg_stat_statements and stores one event per statement and interval with the difference since the previous poll (calls, times, rows, blocks, WAL), surviving resets, evictions, failovers and restarts.",
  config: Config,
  layer,
  connection: (config) => ({ url: config.url, password: Option.fromNullable(config.password) })
})
