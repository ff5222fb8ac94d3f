import { Layer } from "effect"
import { Runner } from "./pipeline/Runner.js"
import { Supervisor } from "./pipeline/Supervisor.js"
import { StoreLive } from "./store/StoreLive.js"

/**
 * The store, the runner and the supervisor, composed once: the store's pool is built a single time and shared
 * by every pipeline; each pipeline gets only its own source and stage layers, per run.
 */
export const DaemonLive = Supervisor.layer.pipe(Layer.provideMerge(Runner.layer), Layer.provideMerge(StoreLive))

/** What `slowq once` and `slowq report` need: no supervisor. */
export const RunnerLive = Runner.layer.pipe(Layer.provideMerge(StoreLive))
