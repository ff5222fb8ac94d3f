import { Options } from "@effect/cli"

/**
 * `--pipelines`, shared by `run` and `once`. In a file of its own so that `once`, loaded alone, does not load
 * `run`'s HTTP API with it.
 */
export const pipelinesOption = Options.directory("pipelines").pipe(
  Options.withDescription("Folder of pipeline YAML files."),
  Options.withDefault("pipelines")
)
