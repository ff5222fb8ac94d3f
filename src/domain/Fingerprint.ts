import { Schema } from "effect"
import { STATEMENT_TYPES } from "./StatementTypes.js"

export const StatementType = Schema.Literal(...STATEMENT_TYPES)
export type StatementType = typeof StatementType.Type

/** What the fingerprint stage learns about a statement's text. */
export const Fingerprinted = Schema.Struct({
  fingerprint: Schema.String.annotations({ description: "The normalized text every statement of the class shares." }),
  queryId: Schema.String.annotations({
    description: "Stable id of the fingerprint: pt-query-digest's Query ID for MySQL, libpg_query's for PostgreSQL."
  }),
  statementType: StatementType,
  readOnly: Schema.Boolean,
  tables: Schema.Array(Schema.String),
  multiStatement: Schema.Boolean,
  truncated: Schema.Boolean,
  tags: Schema.Record({ key: Schema.String, value: Schema.String }).annotations({
    description: "sqlcommenter / marginalia key-value pairs found in comments."
  }),
  parser: Schema.String.annotations({
    description:
      "What produced the fingerprint: the SQL engine's tokenizer, libpg_query or tokenizer_fallback; a source's own fingerprinter names itself."
  })
})
export interface Fingerprinted extends Schema.Schema.Type<typeof Fingerprinted> {}
