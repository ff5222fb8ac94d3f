/**
 * CLI commands that plugins add, loaded only when invoked: `slowq digest` must start fast and lean, without
 * loading every plugin and database driver.
 */
export const pluginCommands = {
  digest: () => import("./mysql_slow_log_file/digest/DigestCommand.js").then((module) => module.digestCommand)
} as const

export type PluginCommandName = keyof typeof pluginCommands

export const isPluginCommand = (name: string | undefined): name is PluginCommandName =>
  name !== undefined && Object.hasOwn(pluginCommands, name)

/** Every plugin command, for the full CLI and its help. */
export const loadPluginCommands = () => Promise.all([pluginCommands.digest()])
