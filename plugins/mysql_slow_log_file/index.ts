import { defineSource } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"
import { digestCommand } from "./digest/DigestCommand.js"
import { layer } from "./SlowLogFileSource.js"

export const plugin = defineSource({
  type: "mysql_slow_log_file",
  dialect: "mysql",
  description:
    "Tails MySQL 5.7/8.x, MariaDB 10.x/11.x and Percona Server slow query log files (one file or a glob), surviving rename and copytruncate rotation; each batch is stored with the file offsets it reaches.",
  config: Config,
  layer
})

/** Commands this plugin adds to the CLI; `plugins/commands.ts` loads them lazily. */
export const commands = [digestCommand]
