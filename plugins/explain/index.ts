import { lazyLayer } from "../../src/plugin/LazyLayer.js"
import { defineStage } from "../../src/plugin/Plugin.js"
import { Config } from "./config.js"
import { explainEnrichment } from "./PlanStore.js"

export const plugin = defineStage({
  type: "explain",
  description:
    "Adds each collected statement's execution plan (EXPLAIN FORMAT=JSON) on MySQL/MariaDB and PostgreSQL: single read statements only, exact SELECT rewrites of MySQL DML, generic plans for PostgreSQL $n statements, always in a rolled-back read-only transaction with statement and lock timeouts, never ANALYZE.",
  // EXPLAIN is SQL: a pipeline of any other dialect passes its events past this stage, counted.
  dialects: ["mysql", "postgres"],
  config: Config,
  layer: (config, context) => lazyLayer(() => import("./ExplainStage.js").then((module) => module.layer(config, context))),
  enrichments: [explainEnrichment]
})
