import { Duration, Option, ParseResult, Schema } from "effect"
import { parseDuration } from "../../src/domain/Duration.js"
import { isForbiddenEntry } from "./Policy.js"

const DurationText = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (text, _, ast) =>
    Option.match(parseDuration(text), {
      onNone: () => ParseResult.fail(new ParseResult.Type(ast, text)),
      onSome: ParseResult.succeed
    }),
  encode: (duration) => ParseResult.succeed(`${Duration.toMillis(duration)}ms`)
}).annotations({
  message: (issue) => ({
    message: `Expected a positive duration such as 30s, 5m, 1h or 1d, actual ${JSON.stringify(issue.actual)}`,
    override: true
  })
})

const isExplainUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    return ["postgres:", "postgresql:", "mysql:", "mariadb:"].includes(url.protocol) && url.hostname !== ""
  } catch {
    return false
  }
}

// The message never repeats the value: the URL may hold a password.
const ExplainUrl = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter(isExplainUrl, {
    message: () =>
      "Expected a URL like postgres://user@host:5432/db or mysql://user@host:3306/db; the value is not shown because it may hold a password"
  })
)

const ForbiddenEntry = Schema.String.pipe(
  Schema.filter(isForbiddenEntry, {
    message: (issue) =>
      `Expected a word or words separated by spaces such as dblink or INTO OUTFILE, actual ${JSON.stringify(issue.actual)}`
  })
)

export const Config = Schema.Struct({
  type: Schema.Literal("explain").annotations({
    description:
      "Adds the execution plan of each collected statement (EXPLAIN FORMAT=JSON), read-only, with timeouts, never ANALYZE."
  }),
  // The description goes on the Redacted schema itself: on the optional wrapper it would not reach the JSON schema.
  explain_url: Schema.optionalWith(
    Schema.Redacted(ExplainUrl).annotations({
      description:
        "Database to EXPLAIN on, as postgres://user@host:5432/db or mysql://user@host:3306/db. Defaults to the source's own connection. Point it at a least-privilege user (see README.md) or at a replica. Needed when the source reads no database (a log file)."
    }),
    { exact: true }
  ),
  explain_password: Schema.optionalWith(
    Schema.Redacted(Schema.String).annotations({
      description:
        "Password of the explain user; overrides one given in the URL (and the source's). Fill it from an environment variable."
    }),
    { exact: true }
  ),
  max_per_run: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 10_000)), { exact: true, default: () => 50 })
    .annotations({
      description:
        "At most this many EXPLAINs per pipeline run (one run per schedule interval), slowest queries first; the rest wait for the next run. 0 turns explaining off."
    }),
  explain_ttl: Schema.optionalWith(DurationText, { exact: true, default: () => parseDurationOrThrow("1h") })
    .annotations({
      description:
        "A query that got a plan is explained again only after this long (remembered in the store, so restarts do not re-explain)."
    }),
  error_ttl: Schema.optionalWith(DurationText, { exact: true, default: () => parseDurationOrThrow("1h") })
    .annotations({
      description:
        "A query whose EXPLAIN failed (lock timeout, statement timeout, server error) is tried again only after this long; the reason is stored."
    }),
  statement_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(10, 600_000)), {
    exact: true,
    default: () => 2000
  }).annotations({
    description:
      "Longest one EXPLAIN may run: PostgreSQL statement_timeout, MariaDB max_statement_time, MySQL max_execution_time."
  }),
  lock_timeout_ms: Schema.optionalWith(Schema.Int.pipe(Schema.between(10, 600_000)), {
    exact: true,
    default: () => 2000
  }).annotations({
    description:
      "Longest one EXPLAIN waits for a lock (e.g. behind an ALTER TABLE): PostgreSQL lock_timeout, MySQL/MariaDB lock_wait_timeout (whole seconds, rounded up)."
  }),
  forbidden: Schema.optionalWith(Schema.Array(ForbiddenEntry), { exact: true, default: () => [] }).annotations({
    description:
      "Words or word sequences (e.g. my_audit_fn, INTO OUTFILE) that make a statement unexplainable, in addition to the built-in list of the source's dialect (see README.md). Matched case-insensitively in code, never in strings or comments."
  }),
  max_connections: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 4)), { exact: true, default: () => 1 })
    .annotations({
      description:
        "Connections the stage opens to the explained database (per database on PostgreSQL); EXPLAINs run this many at a time."
    })
})
export type Config = typeof Config.Type

function parseDurationOrThrow(text: string): Duration.Duration {
  return Option.getOrThrow(parseDuration(text))
}
