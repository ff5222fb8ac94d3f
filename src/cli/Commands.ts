import { Layer } from "effect"
import { Fingerprinter } from "../fingerprint/Fingerprinter.js"
import { PipelineLoader } from "../pipeline/Loader.js"
import { adviseCommand } from "./AdviseCommand.js"
import { fingerprintCommand } from "./FingerprintCommand.js"
import { onceCommand } from "./OnceCommand.js"
import { reportCommand } from "./ReportCommand.js"
import { runCommand } from "./RunCommand.js"
import { validateCommand } from "./ValidateCommand.js"

/** The runtime's own commands. */
export const coreCommands = [runCommand, onceCommand, validateCommand, reportCommand, adviseCommand, fingerprintCommand] as const

/** What they need besides the plugin list (`Plugins`, provided by main from plugins/index.ts). */
export const CoreCommandsLive = Layer.mergeAll(PipelineLoader.layer, Fingerprinter.layer)
