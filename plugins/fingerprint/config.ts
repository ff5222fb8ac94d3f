import { Schema } from "effect"

export const Config = Schema.Struct({
  type: Schema.Literal("fingerprint").annotations({
    description:
      "Groups statements: adds each one's fingerprint, query id and classification (statement type, read-only, tables, tags)."
  }),
  // The description goes on the inner schema: on the optional wrapper it would not reach the JSON schema.
  match_embedded_numbers: Schema.optionalWith(
    Schema.Boolean.annotations({
      description:
        "MySQL/MariaDB only: keep numbers inside identifiers, so that users_2009 and users_2010 stay two groups (pt-query-digest's --preserve-embedded-numbers). Off by default, like pt-query-digest, whose Query IDs slowq's ids then equal."
    }),
    { exact: true, default: () => false }
  )
})
export type Config = typeof Config.Type
