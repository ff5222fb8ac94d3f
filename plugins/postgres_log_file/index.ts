import { lazyLayer } from "../../src/plugin/LazyLayer.js"
import { defineSource } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"

export const plugin = defineSource({
  type: "postgres_log_file",
  dialect: "postgres",
  description:
    "Tails PostgreSQL's server log (stderr format): the statements log_min_duration_statement logs, with the plans auto_explain logs in JSON paired to them, one event per execution; no connection to the database.",
  config: Config,
  logsPlans: true,
  layer: (config) => lazyLayer(() => import("./PostgresLogSource.js").then((module) => module.layer(config)))
})
