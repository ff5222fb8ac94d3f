import { defineStage } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"
import { layer } from "./FingerprintStage.js"

export const plugin = defineStage({
  type: "fingerprint",
  description:
    "Groups statements by fingerprint: pt-query-digest's fingerprint and Query ID for MySQL/MariaDB, libpg_query's for PostgreSQL (the same for a statement with literals and its pg_stat_statements form), plus statement type, read-only, tables, multi-statement, truncated and sqlcommenter/marginalia tags.",
  config: Config,
  layer
})
