import { lazyLayer } from "../../src/plugin/LazyLayer.js"
import { defineStage } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"

export const plugin = defineStage({
  type: "analyze",
  description:
    "Says what is wrong with each query and what to do: statement rules (SELECT *, DML without WHERE, leading-wildcard LIKE, large OFFSET…) on its slowest sample, and plan rules (full scans, filesorts, temporary tables, large sorts, mis-estimates, disk spills…) on the plan the explain stage got, for MySQL/MariaDB and PostgreSQL. Findings are stored with the batch and served ranked by impact.",
  // The rules read SQL and SQL plans.
  dialects: ["mysql", "postgres"],
  config: Config,
  layer: (config, context) => lazyLayer(() => import("./AnalyzeStage.js").then((module) => module.layer(config, context)))
})
