import { hash } from "node:crypto"
import { Context, Effect, Layer, Ref } from "effect"
import type { Fingerprinted } from "../domain/Fingerprint.js"
import type { SqlDialect } from "./SqlDialect.js"
import { classifyTokens } from "./Classify.js"
import { fingerprintMysqlWithId } from "./MysqlFingerprint.js"
import { fingerprintPostgres, loadPostgresParser } from "./PostgresFingerprint.js"

export interface FingerprintOptions {
  /** MySQL only: keep numbers inside identifiers (`users_2009`), like pt-query-digest --preserve-embedded-numbers. */
  readonly matchEmbeddedNumbers?: boolean
}

/**
 * A MySQL / MariaDB statement's fingerprint and Query ID exactly as pt-query-digest 3.2.1 computes them, with
 * its classification from one tokenizer pass. Pure and synchronous; never throws.
 */
export const fingerprintMysql = (sql: string, options?: FingerprintOptions): Fingerprinted => {
  try {
    const { fingerprint, queryId } = fingerprintMysqlWithId(
      sql,
      options?.matchEmbeddedNumbers === true ? { matchEmbeddedNumbers: true } : undefined
    )
    const c = classifyTokens(sql, "mysql")
    return {
      fingerprint,
      queryId,
      statementType: c.statementType,
      readOnly: c.readOnly,
      tables: c.tables,
      multiStatement: c.multiStatement,
      truncated: c.truncated,
      tags: c.tags,
      parser: "tokenizer"
    }
  } catch (cause) {
    return lastResort(sql, cause)
  }
}

export { fingerprintPostgres }

/**
 * Reached only through a bug (both paths are written not to throw): the statement still gets a stable id,
 * of its full text, and is marked so that it can be found.
 */
const lastResort = (sql: string, cause: unknown): Fingerprinted => ({
  fingerprint: sql.length > 4096 ? sql.slice(0, 4096) : sql,
  queryId: hash("md5", sql, "hex").slice(0, 16),
  statementType: "other",
  readOnly: false,
  tables: [],
  multiStatement: false,
  truncated: false,
  tags: { "slowq.fingerprint_error": cause instanceof Error ? cause.message : String(cause) },
  parser: "tokenizer_fallback"
})

const fingerprint = (sql: string, dialect: SqlDialect, options?: FingerprintOptions): Fingerprinted => {
  if (dialect === "mysql") return fingerprintMysql(sql, options)
  try {
    return fingerprintPostgres(sql)
  } catch (cause) {
    return lastResort(sql, cause)
  }
}

const make = Effect.gen(function* () {
  const warned = yield* Ref.make(false)
  const prepare = (dialect: SqlDialect): Effect.Effect<void> =>
    dialect === "mysql"
      ? Effect.void
      : Effect.gen(function* () {
          if (yield* Effect.promise(() => loadPostgresParser())) return
          if (yield* Ref.getAndSet(warned, true)) return
          yield* Effect.logWarning(
            "the PostgreSQL parser (libpg_query WASM) could not be loaded; PostgreSQL statements are fingerprinted by the tokenizer"
          )
        })
  return { fingerprint, prepare } as const
})

/** Fingerprints and classifies statement text for both dialects. */
export class Fingerprinter extends Context.Tag("slowq/fingerprint/Fingerprinter")<
  Fingerprinter,
  {
    /** Synchronous: `prepare` the dialect first, or a PostgreSQL statement gets the tokenizer's fingerprint. */
    readonly fingerprint: (sql: string, dialect: SqlDialect, options?: FingerprintOptions) => Fingerprinted
    /**
     * Loads what `dialect` needs, once per process: PostgreSQL's parser (libpg_query WASM, about 26 MB of RSS), which
     * MySQL statements never use. If it cannot be loaded, says so once and PostgreSQL statements take the tokenizer.
     */
    readonly prepare: (dialect: SqlDialect) => Effect.Effect<void>
  }
>() {
  /** Loads nothing yet: each user prepares the dialects it fingerprints. */
  static readonly layer: Layer.Layer<Fingerprinter> = Layer.effect(Fingerprinter, make)
}
