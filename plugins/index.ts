import type { PluginRegistry } from "../src/plugin/Plugin.js"
import { plugin as analyze } from "./analyze/index.js"
import { plugin as explain } from "./explain/index.js"
import { plugin as mysqlSlowLogFile } from "./mysql_slow_log_file/index.js"
import { plugin as mysqlSlowLogTable } from "./mysql_slow_log_table/index.js"
import { plugin as postgresLogFile } from "./postgres_log_file/index.js"
import { plugin as postgresPgStatStatements } from "./postgres_pg_stat_statements/index.js"

/** Every plugin slowq knows, listed explicitly: adding a plugin is a folder plus one line here. */
export const plugins: PluginRegistry = {
  sources: [mysqlSlowLogTable, mysqlSlowLogFile, postgresPgStatStatements, postgresLogFile],
  stages: [explain, analyze]
}
