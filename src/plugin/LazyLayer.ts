import { Effect, Layer } from "effect"

/**
 * A layer whose module is imported only when the layer is built. A plugin's `index.ts` registers its config schema
 * and description, which every command reads (`slowq validate`, the pipeline loader), and hands its implementation
 * over like this, so that a database driver or a WASM module loads only in a process that runs that plugin:
 *
 *   layer: (config) => lazyLayer(() => import("./SlowLogFileSource.js").then((module) => module.layer(config)))
 *
 * A module that cannot be imported is a broken installation, not a failed run: it is a defect.
 */
export const lazyLayer = <A, E, R>(load: () => Promise<Layer.Layer<A, E, R>>): Layer.Layer<A, E, R> =>
  Layer.unwrapEffect(Effect.promise(load))
