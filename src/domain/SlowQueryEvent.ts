import { Schema } from "effect"

/**
 * What a source's statements are written in: an open, named id such as `mysql`, `postgres` or `redis`. It picks the
 * fingerprinter (slowq's SQL engine knows `mysql` and `postgres`; a source of another dialect supplies its own) and
 * the stages that apply (a stage lists the dialects it understands).
 */
export const Dialect = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]*$/),
  Schema.annotations({
    identifier: "Dialect",
    description: "A lowercase id: a-z first, then a-z, 0-9 or _ (mysql, postgres, redis)."
  })
)
export type Dialect = typeof Dialect.Type

/**
 * One observation of a statement, as a source reports it.
 *
 * A log source emits one event per executed statement (`calls` = 1); an aggregate source such as
 * pg_stat_statements emits one event per query pattern per interval, with `calls` and the time and row
 * figures summed over the interval. Either way every figure is a delta that may be added up.
 */
export const SlowQueryEvent = Schema.Struct({
  key: Schema.NonEmptyString.annotations({
    description: "Unique within the pipeline and stable across re-reads: storing an event twice is a no-op."
  }),
  startTimeUs: Schema.Int.annotations({
    description: "Epoch microseconds: the statement's start, or the end of the interval for aggregates."
  }),
  intervalStartUs: Schema.NullOr(Schema.Int).annotations({
    description: "Epoch microseconds of the interval's start for aggregate sources; null for single statements."
  }),
  calls: Schema.Int.pipe(Schema.nonNegative()),
  queryTimeMs: Schema.Number.pipe(Schema.nonNegative()).annotations({ description: "Total over `calls`." }),
  lockTimeMs: Schema.Number.pipe(Schema.nonNegative()),
  rowsSent: Schema.Number.pipe(Schema.nonNegative()),
  rowsExamined: Schema.Number.pipe(Schema.nonNegative()),
  rowsAffected: Schema.Number.pipe(Schema.nonNegative()),
  db: Schema.NullOr(Schema.String),
  user: Schema.NullOr(Schema.String).annotations({ description: "user@host as the server reports it." }),
  threadId: Schema.NullOr(Schema.Number),
  sqlText: Schema.String,
  metrics: Schema.Record({ key: Schema.String, value: Schema.Number }).annotations({
    description: "Further source-specific counters (e.g. shared_blks_hit), summable like the fields above."
  }),
  attributes: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) })
    .annotations({ description: "Further source-specific facts that are not summable (e.g. server_id)." }),
  plan: Schema.optional(Schema.Unknown).annotations({
    description:
      "The plan the database itself logged for this execution (a log source's, e.g. PostgreSQL's auto_explain), in the JSON its EXPLAIN gives; stages may keep it, the event's row does not."
  })
})
export interface SlowQueryEvent extends Schema.Schema.Type<typeof SlowQueryEvent> {}

/** Builds an event with the fields most sources leave empty filled with neutral values. */
export const makeEvent = (
  fields: Pick<SlowQueryEvent, "key" | "startTimeUs" | "queryTimeMs" | "sqlText"> & Partial<SlowQueryEvent>
): SlowQueryEvent => ({
  intervalStartUs: null,
  calls: 1,
  lockTimeMs: 0,
  rowsSent: 0,
  rowsExamined: 0,
  rowsAffected: 0,
  db: null,
  user: null,
  threadId: null,
  metrics: {},
  attributes: {},
  ...fields
})
