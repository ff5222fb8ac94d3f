import { Layer } from "effect"
import { Fingerprinter } from "../fingerprint/Fingerprinter.js"
import { PipelineLoader } from "../pipeline/Loader.js"

/**
 * The runtime's own commands, each loaded only when it is the one invoked: `slowq validate` must not load the
 * store, the HTTP API or the database drivers that `run` needs (an idle command held 135 MB of RSS when they all
 * loaded). The order is the order of the full CLI's help.
 */
export const coreCommands = {
  run: () => import("./RunCommand.js").then((module) => module.runCommand),
  once: () => import("./OnceCommand.js").then((module) => module.onceCommand),
  validate: () => import("./ValidateCommand.js").then((module) => module.validateCommand),
  report: () => import("./ReportCommand.js").then((module) => module.reportCommand),
  advise: () => import("./AdviseCommand.js").then((module) => module.adviseCommand),
  prune: () => import("./PruneCommand.js").then((module) => module.pruneCommand),
  fingerprint: () => import("./FingerprintCommand.js").then((module) => module.fingerprintCommand)
} as const

export type CoreCommandName = keyof typeof coreCommands

export type CoreCommand = Awaited<ReturnType<(typeof coreCommands)[CoreCommandName]>>

/** The one command `name` names. */
export const loadCoreCommand = (name: CoreCommandName): Promise<CoreCommand> => coreCommands[name]()

export const isCoreCommand = (name: string | undefined): name is CoreCommandName =>
  name !== undefined && Object.hasOwn(coreCommands, name)

/** Every core command, for the full CLI and its help. */
export const loadCoreCommands = () =>
  Promise.all([
    coreCommands.run(),
    coreCommands.once(),
    coreCommands.validate(),
    coreCommands.report(),
    coreCommands.advise(),
    coreCommands.prune(),
    coreCommands.fingerprint()
  ])

/**
 * What they need besides the plugin list (`Plugins`, provided by main from plugins/index.ts). Neither loads
 * anything heavy when built: the fingerprinter loads PostgreSQL's parser when a PostgreSQL statement is first due.
 */
export const CoreCommandsLive = Layer.mergeAll(PipelineLoader.layer, Fingerprinter.layer)
