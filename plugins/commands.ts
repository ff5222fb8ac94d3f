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

/**
 * Plugin commands that run without Effect and @effect/cli when their arguments are plain (`slowq digest FILE …`):
 * each resolves to a runner that answers false to hand the arguments to the full CLI (--help, anything unusual).
 */
const plainPluginCommands: Partial<Record<PluginCommandName, () => Promise<(args: ReadonlyArray<string>) => Promise<boolean>>>> = {
  digest: () => import("./mysql_slow_log_file/digest/DigestCli.js").then((module) => module.runPlainDigest)
}

/** Runs `name` on its plain path when it has one and `args` suit it; false when the full CLI must run instead. */
export const runPlainPluginCommand = async (name: string | undefined, args: ReadonlyArray<string>): Promise<boolean> => {
  const load = isPluginCommand(name) ? plainPluginCommands[name] : undefined
  return load === undefined ? false : (await load())(args)
}

/** Scripts plugin commands run on worker threads, each bundled on its own: output name → path under plugins/. */
export const pluginWorkerScripts = { "digest-worker": "mysql_slow_log_file/digest/DigestWorker.ts" } as const

/** Every plugin command, for the full CLI and its help. */
export const loadPluginCommands = () => Promise.all([pluginCommands.digest()])
