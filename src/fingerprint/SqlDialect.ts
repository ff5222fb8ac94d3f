import { Schema } from "effect"

/**
 * The dialects slowq's SQL engine has rules for (tokenizer, pt-query-digest's fingerprint, libpg_query). Closed on
 * purpose: a source of any other dialect brings its own fingerprinter (see `defineSource`).
 */
export const SqlDialect = Schema.Literal("mysql", "postgres")
export type SqlDialect = typeof SqlDialect.Type

export const isSqlDialect = Schema.is(SqlDialect)
