import { SqlClient, SqlSchema } from "@effect/sql"
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { CollectedEvent } from "../domain/CollectedEvent.js"
import { bucketSql } from "../domain/LatencyHistogram.js"
import type { SamplePolicy } from "../domain/SamplePolicy.js"
import { attachedValues } from "../plugin/Enrichment.js"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import type { Finding, QueryFindings } from "../plugin/Finding.js"
import type { MemoryEntry } from "../plugin/PipelineStage.js"
import { booleanArray, numberArray, textArray } from "./ArrayLiteral.js"
import { keptAttributes } from "./KeptAttributes.js"
import { type SampleScrubber, sampleScrubber } from "./SampleScrubber.js"
import { storableJson, storableText, storableTextOrNull } from "./Storable.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

export interface WriteResult {
  /** Events stored by this write. */
  readonly inserted: number
  /** Events the store already had (a replay after a crash or an overlapping read): ignored. */
  readonly duplicates: number
  /** Query ids seen for the first time in this pipeline. */
  readonly newFingerprints: number
  /** Events the store refused, each on its own: left out, recorded in slowq_dropped_events. */
  readonly dropped: ReadonlyArray<DroppedEvent>
}

/** An event the store refused: no write can ever hold it, so it is left out rather than stop the pipeline. */
export interface DroppedEvent {
  readonly key: string
  /** Where the source read it, when the source can say (a file and byte offset). */
  readonly position: string | null
  /** The store's reason, with its SQLSTATE. */
  readonly reason: string
}

/** What one stage asked to remember from a batch. */
export interface StageRemember {
  readonly stage: string
  readonly entries: ReadonlyArray<MemoryEntry>
}

/** What one stage found in a batch (see StageOutput.findings). */
export interface StageFindings {
  readonly stage: string
  readonly queries: ReadonlyArray<QueryFindings>
}

export interface WriteOptions {
  /** Where the source read an event, for the record of a refused one. */
  readonly locate?: (key: string) => string | undefined
  /** The stages' memory entries of this batch: stored in its transaction. */
  readonly remember?: ReadonlyArray<StageRemember>
  /** The stages' findings of this batch: stored in its transaction. */
  readonly findings?: ReadonlyArray<StageFindings>
  /** What is kept of the statements' text (the sink's `samples`); default raw. */
  readonly samples?: SamplePolicy
  /** The batch's scrubber under that policy, when the caller made it already (the runner, for the batch's logs). */
  readonly scrubber?: SampleScrubber
  /**
   * The lease the batch was read under (a daemon's runs; src/pipeline/Leases.ts): every statement of the write checks
   * in the store that its owner still holds it, and fails with `leaseLost` otherwise. None: no check (`slowq once`).
   */
  readonly fence?: Fence
}

/** A pipeline's lease as its holder knows it. */
export interface Fence {
  readonly owner: string
  readonly epoch: number
}

/** SQLSTATE raised by slowq_fence (migration 0015). */
const LEASE_LOST = "SQ001"


const US_PER_HOUR = 3_600_000_000

const WriteRow = Schema.Struct({ inserted: Schema.Number, new_fingerprints: Schema.Number })
const decodeWriteRows = Schema.decodeUnknown(Schema.Tuple(WriteRow))

/** The driver's error kept as a cause (pg's DatabaseError): the first in the chain that carries a SQLSTATE. */
const databaseErrorOf = (
  error: unknown
): { readonly code: string; readonly message: string; readonly detail: string | undefined } | undefined => {
  let current = error
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string" && /^[0-9A-Z]{5}$/.test(current.code)) {
      const message = "message" in current && typeof current.message === "string" ? current.message : "refused"
      const detail = "detail" in current && typeof current.detail === "string" ? current.detail : undefined
      return { code: current.code, message, detail }
    }
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/**
 * The store refused the data itself, so sending it again can never succeed: a data exception (class 22: a value out
 * of range, an invalid text representation, an escape jsonb refuses…) or a program limit (class 54: a value too
 * large). Anything else (a lost connection, a read-only or missing store) fails the run, which the runtime retries.
 */
const refusal = (error: unknown): string | undefined => {
  const database = databaseErrorOf(error)
  if (database === undefined || !(database.code.startsWith("22") || database.code.startsWith("54"))) return undefined
  const detail = database.detail === undefined ? "" : ` (${database.detail})`
  return `${database.message}${detail} [SQLSTATE ${database.code}]`
}

// The upsert of one level of rollups from its per-bucket rows: sums add, maxima and first/last seen widen, histograms
// merge bucket by bucket.
const rollupUpsert = (level: "minute" | "hour", from: string) => `
  INSERT INTO slowq_rollups_${level} AS r (pipeline, query_id, ${level}, events, calls, total_ms, max_ms, lock_ms,
    rows_sent, rows_examined, rows_affected, first_seen, last_seen, histogram)
  SELECT $1, query_id, ${level}, sum(events), sum(calls), sum(total_ms), max(max_ms), sum(lock_ms), sum(rows_sent),
    sum(rows_examined), sum(rows_affected), min(first_seen), max(last_seen),
    coalesce(jsonb_object_agg(bucket, calls) FILTER (WHERE calls > 0), '{}'::jsonb)
  FROM ${from} GROUP BY query_id, ${level}
  ON CONFLICT (pipeline, query_id, ${level}) DO UPDATE SET
    events = r.events + excluded.events,
    calls = r.calls + excluded.calls,
    total_ms = r.total_ms + excluded.total_ms,
    max_ms = greatest(r.max_ms, excluded.max_ms),
    lock_ms = r.lock_ms + excluded.lock_ms,
    rows_sent = r.rows_sent + excluded.rows_sent,
    rows_examined = r.rows_examined + excluded.rows_examined,
    rows_affected = r.rows_affected + excluded.rows_affected,
    first_seen = least(r.first_seen, excluded.first_seen),
    last_seen = greatest(r.last_seen, excluded.last_seen),
    histogram = slowq_histogram_merge(r.histogram, excluded.histogram)`

// Events, their per-query totals, their per-minute and per-hour rollups, their samples and the checkpoint in ONE
// statement: PostgreSQL runs a statement with data-modifying CTEs atomically, so a crash at any instant leaves either
// all of it or none of it, in one round trip. Totals and rollups add only the events that were really inserted, so a
// replay counts nothing twice; a sample replaces the hour's first or slowest only when it is earlier or slower, so a
// replay changes none. Events carry no statement text: the query's all-time slowest sample ($25) and the samples
// ($31…) come as the sample policy keeps them. Unless the policy is raw ($45), a query's sample is replaced by every
// batch that has it, so that text stored under an earlier policy goes as soon as the query is seen again. A query's
// databases and users (its events' db and account name, migration 0014) grow by those of the inserted events only.
// The final SELECT calls slowq_fence ($46 the writer, $47 its lease's epoch; no writer: no check): it raises when the
// lease went to another replica, which aborts the whole statement, whatever its CTEs had done.
// A null checkpoint ($27) leaves it where it is: the parts of a batch split to find a refused event are stored
// without it, and the last write carries it with the refused events' records ($28…$30).
const writeBatchSql = `${SLOWQ_MARKER}
WITH input AS (
  SELECT * FROM unnest(
    $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::float8[], $8::float8[], $9::float8[],
    $10::float8[], $11::float8[], $12::text[], $13::text[], $14::bigint[], $15::bool[], $16::bool[],
    $17::jsonb[], $18::jsonb[], $19::jsonb[]
  ) AS i(event_key, query_id, start_us, interval_start_us, calls, query_time_ms, lock_time_ms, rows_sent,
         rows_examined, rows_affected, db, user_host, thread_id, multi_statement, truncated,
         tags, metrics, attributes)
),
inserted AS (
  INSERT INTO slowq_events (pipeline, event_key, query_id, start_time, start_us, interval_start, calls,
    query_time_ms, lock_time_ms, rows_sent, rows_examined, rows_affected, db, user_host, thread_id,
    multi_statement, truncated, tags, metrics, attributes)
  SELECT $1, event_key, query_id, 'epoch'::timestamptz + start_us * interval '1 microsecond', start_us,
    'epoch'::timestamptz + interval_start_us * interval '1 microsecond', calls, query_time_ms, lock_time_ms,
    rows_sent, rows_examined, rows_affected, db, user_host, thread_id, multi_statement, truncated,
    tags, metrics, attributes
  FROM input
  ON CONFLICT (pipeline, event_key) DO NOTHING
  RETURNING query_id, start_time, calls, query_time_ms, lock_time_ms, rows_sent, rows_examined, rows_affected, db,
    slowq_account_name(user_host, $26) AS account
),
fingerprints AS (
  SELECT * FROM unnest($20::text[], $21::text[], $22::text[], $23::bool[], $24::jsonb[], $25::text[])
    AS f(query_id, fingerprint, statement_type, read_only, tables, sample)
),
per_query AS (
  SELECT query_id, count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms,
    max(query_time_ms / greatest(calls, 1)) AS max_ms, sum(lock_time_ms) AS lock_ms, sum(rows_sent) AS rows_sent,
    sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected, min(start_time) AS first_seen,
    max(start_time) AS last_seen,
    coalesce((array_agg(DISTINCT nullif(db, '') COLLATE "C" ORDER BY nullif(db, '') COLLATE "C")
      FILTER (WHERE nullif(db, '') IS NOT NULL))[1:64], '{}') AS databases,
    coalesce((array_agg(DISTINCT account COLLATE "C" ORDER BY account COLLATE "C")
      FILTER (WHERE account IS NOT NULL))[1:64], '{}') AS users
  FROM inserted GROUP BY query_id
),
upserted AS (
  INSERT INTO slowq_queries AS q (pipeline, query_id, fingerprint, dialect, statement_type, read_only, tables,
    first_seen, last_seen, events, calls, total_ms, max_ms, lock_ms, rows_sent, rows_examined, rows_affected, sample,
    databases, users)
  SELECT $1, p.query_id, f.fingerprint, $26, f.statement_type, f.read_only,
    ARRAY(SELECT jsonb_array_elements_text(f.tables)), p.first_seen, p.last_seen, p.events, p.calls, p.total_ms,
    p.max_ms, p.lock_ms, p.rows_sent, p.rows_examined, p.rows_affected, f.sample, p.databases, p.users
  FROM per_query p JOIN fingerprints f USING (query_id)
  ON CONFLICT (pipeline, query_id) DO UPDATE SET
    first_seen = least(q.first_seen, excluded.first_seen),
    last_seen = greatest(q.last_seen, excluded.last_seen),
    events = q.events + excluded.events,
    calls = q.calls + excluded.calls,
    total_ms = q.total_ms + excluded.total_ms,
    max_ms = greatest(q.max_ms, excluded.max_ms),
    lock_ms = q.lock_ms + excluded.lock_ms,
    rows_sent = q.rows_sent + excluded.rows_sent,
    rows_examined = q.rows_examined + excluded.rows_examined,
    rows_affected = q.rows_affected + excluded.rows_affected,
    sample = CASE WHEN excluded.max_ms > q.max_ms OR $45 THEN excluded.sample ELSE q.sample END,
    databases = slowq_name_set_merge(q.databases, excluded.databases),
    users = slowq_name_set_merge(q.users, excluded.users)
  RETURNING (xmax = 0) AS created
),
per_minute_bucket AS (
  SELECT query_id, date_trunc('minute', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS minute,
    ${bucketSql("(query_time_ms / greatest(calls, 1))")} AS bucket,
    count(*) AS events, sum(calls) AS calls, sum(query_time_ms) AS total_ms,
    max(query_time_ms / greatest(calls, 1)) AS max_ms, sum(lock_time_ms) AS lock_ms, sum(rows_sent) AS rows_sent,
    sum(rows_examined) AS rows_examined, sum(rows_affected) AS rows_affected, min(start_time) AS first_seen,
    max(start_time) AS last_seen
  FROM inserted GROUP BY 1, 2, 3
),
rolled_up AS (${rollupUpsert("minute", "per_minute_bucket")}
),
per_hour_bucket AS (
  SELECT query_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, bucket,
    sum(events) AS events, sum(calls) AS calls, sum(total_ms) AS total_ms, max(max_ms) AS max_ms,
    sum(lock_ms) AS lock_ms, sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined,
    sum(rows_affected) AS rows_affected, min(first_seen) AS first_seen, max(last_seen) AS last_seen
  FROM per_minute_bucket GROUP BY 1, 2, 3
),
rolled_up_hours AS (${rollupUpsert("hour", "per_hour_bucket")}
),
sampled AS (
  INSERT INTO slowq_samples AS s (pipeline, query_id, hour, kind, event_key, start_time, calls, query_time_ms,
    lock_time_ms, rows_sent, rows_examined, rows_affected, db, sql_text, truncated)
  SELECT $1, query_id, 'epoch'::timestamptz + hour_us * interval '1 microsecond', kind, event_key,
    'epoch'::timestamptz + start_us * interval '1 microsecond', calls, query_time_ms, lock_time_ms, rows_sent,
    rows_examined, rows_affected, db, sql_text, truncated
  FROM unnest($31::text[], $32::bigint[], $33::text[], $34::text[], $35::bigint[], $36::bigint[], $37::float8[],
    $38::float8[], $39::float8[], $40::float8[], $41::float8[], $42::text[], $43::text[], $44::bool[])
    AS x(query_id, hour_us, kind, event_key, start_us, calls, query_time_ms, lock_time_ms, rows_sent, rows_examined,
         rows_affected, db, sql_text, truncated)
  ON CONFLICT (pipeline, query_id, hour, kind) DO UPDATE SET
    event_key = excluded.event_key, start_time = excluded.start_time, calls = excluded.calls,
    query_time_ms = excluded.query_time_ms, lock_time_ms = excluded.lock_time_ms, rows_sent = excluded.rows_sent,
    rows_examined = excluded.rows_examined, rows_affected = excluded.rows_affected, db = excluded.db,
    sql_text = excluded.sql_text, truncated = excluded.truncated
  WHERE CASE s.kind
    WHEN 'first' THEN (excluded.start_time, excluded.event_key) < (s.start_time, s.event_key)
    ELSE excluded.query_time_ms / greatest(excluded.calls, 1) > s.query_time_ms / greatest(s.calls, 1)
  END
),
checkpoint AS (
  INSERT INTO slowq_checkpoints (pipeline, checkpoint) SELECT $1, $27::jsonb WHERE $27::jsonb IS NOT NULL
  ON CONFLICT (pipeline) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = now()
),
dropped AS (
  INSERT INTO slowq_dropped_events (pipeline, event_key, position, reason)
  SELECT $1, event_key, position, reason FROM unnest($28::text[], $29::text[], $30::text[]) AS d(event_key, position, reason)
  ON CONFLICT (pipeline, event_key) DO NOTHING
)
SELECT (SELECT count(*) FROM inserted)::float8 AS inserted,
       (SELECT count(*) FROM upserted WHERE created)::float8 AS new_fingerprints,
       slowq_fence($1, $46, $47) AS fenced`

const rememberSql = `${SLOWQ_MARKER}
INSERT INTO slowq_stage_memory (pipeline, stage, key, value)
SELECT $1, s, k, v FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS e(s, k, v)
ON CONFLICT (pipeline, stage, key) DO UPDATE SET value = excluded.value, updated_at = now()`

// Each examined query's findings are upserted (reopened if they had been resolved) and the stage's other open
// findings of that query resolved, in one statement. Both parts read the same snapshot, so the UPDATE never touches a
// row the INSERT writes: a finding still present is excluded from it by key.
const findingsSql = `${SLOWQ_MARKER}
WITH input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::text[], $12::jsonb[], $13::jsonb[], $14::float8[], $18::jsonb[])
    AS i(stage, scope, query_id, rule, subject, severity, source, message, evidence, advice, suggestion, verified,
         reduction, plans)
),
examined AS (
  SELECT * FROM unnest($15::text[], $16::text[], $17::text[]) AS e(stage, scope, query_id)
),
upserted AS (
  INSERT INTO slowq_findings AS f (pipeline, query_id, stage, scope, rule, subject, severity, source, message, evidence,
    advice, suggestion, verified, reduction, plans, first_seen, last_seen, resolved_at)
  SELECT $1, query_id, stage, scope, rule, subject, severity, source, message, evidence, advice, suggestion, verified,
    reduction, plans, now(), now(), NULL
  FROM input
  ON CONFLICT (pipeline, query_id, stage, scope, rule, subject) DO UPDATE SET
    severity = excluded.severity, source = excluded.source, message = excluded.message, evidence = excluded.evidence,
    advice = excluded.advice, suggestion = excluded.suggestion, verified = excluded.verified,
    reduction = excluded.reduction, plans = excluded.plans, last_seen = excluded.last_seen, resolved_at = NULL
)
UPDATE slowq_findings f SET resolved_at = now()
FROM examined e
WHERE f.pipeline = $1 AND f.stage = e.stage AND f.scope = e.scope AND f.query_id = e.query_id
  AND f.resolved_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM input i
    WHERE i.stage = f.stage AND i.scope = f.scope AND i.query_id = f.query_id AND i.rule = f.rule
      AND i.subject = f.subject
  )`

/** One row per key (the last of a stage's findings with the same scope, rule and subject wins): the upsert needs it. */
const findingRows = (findings: ReadonlyArray<StageFindings>) => {
  type Row = { readonly stage: string; readonly scope: string; readonly queryId: string; readonly finding: Finding }
  const rows = new Map<string, Row>()
  const examined = new Map<string, { readonly stage: string; readonly scope: string; readonly queryId: string }>()
  for (const { stage, queries } of findings) {
    for (const { queryId, scope = "", findings: found } of queries) {
      examined.set(JSON.stringify([stage, scope, queryId]), { stage, scope, queryId })
      for (const finding of found) {
        rows.set(JSON.stringify([stage, scope, queryId, finding.rule, finding.subject ?? ""]), { stage, scope, queryId, finding })
      }
    }
  }
  return { rows: [...rows.values()], examined: [...examined.values()] }
}

const make = Effect.gen(function* () {
  const { sql, enrichments, healing } = yield* StoreClient

  const findCheckpoint = SqlSchema.findOne({
    Request: Schema.String,
    Result: Schema.Struct({ checkpoint: Schema.Unknown }),
    execute: (pipeline) =>
      sql.unsafe(`${SLOWQ_MARKER} SELECT checkpoint FROM slowq_checkpoints WHERE pipeline = $1`, [pipeline])
  })
  /** Where the pipeline's source left off, as it last stored it; none before its first batch. */
  const readCheckpoint = (pipeline: string) =>
    findCheckpoint(pipeline).pipe(
      Effect.map(Option.map((row) => row.checkpoint)),
      Effect.mapError((cause) => new StoreError({ operation: "read", message: `store read failed: ${cause.message}`, cause })),
      Effect.withSpan("EventWriter.readCheckpoint")
    )

  /**
   * What the batch's stages produced besides the events: their memory entries and every enrichment's attached
   * values. Run in the transaction that stores the events' checkpoint, so that none of it is ever stored without the
   * rest (a stage remembering "explained" while the plan is missing would not explain the query again).
   */
  const sideWrites = (
    pipeline: string,
    events: ReadonlyArray<CollectedEvent>,
    remember: ReadonlyArray<StageRemember>,
    findings: ReadonlyArray<StageFindings>,
    scrub: SampleScrubber
  ) => {
    const writes: Array<Effect.Effect<void, StoreError>> = []
    const { rows, examined } = findingRows(findings)
    if (examined.length > 0) {
      const text = (pick: (finding: Finding) => string) => rows.map((row) => storableText(scrub.text(pick(row.finding))))
      writes.push(
        sql
          .unsafe(findingsSql, [
            storableText(pipeline),
            rows.map((row) => storableText(row.stage)),
            rows.map((row) => storableText(row.scope)),
            rows.map((row) => storableText(row.queryId)),
            text((f) => f.rule),
            text((f) => f.subject ?? ""),
            rows.map((row) => row.finding.severity),
            rows.map((row) => row.finding.source),
            text((f) => f.message),
            text((f) => f.evidence),
            text((f) => f.advice),
            rows.map((row) => (row.finding.suggestion == null ? null : (storableJson(scrub.value(row.finding.suggestion)) ?? null))),
            rows.map((row) => (row.finding.verified == null ? null : (storableJson(scrub.plan(row.finding.verified)) ?? null))),
            rows.map((row) => Math.min(1, Math.max(0, row.finding.reduction ?? 0))),
            examined.map((e) => storableText(e.stage)),
            examined.map((e) => storableText(e.scope)),
            examined.map((e) => storableText(e.queryId)),
            rows.map((row) => (row.finding.plans == null ? null : (storableJson(scrub.plan(row.finding.plans)) ?? null)))
          ])
          .pipe(
            Effect.asVoid,
            Effect.mapError(
              (cause) => new StoreError({ operation: "write", message: `storing findings failed: ${cause.message}`, cause })
            )
          )
      )
    }
    const entries = remember.flatMap(({ stage, entries }) => entries.map((entry) => ({ stage, ...entry })))
    if (entries.length > 0) {
      writes.push(
        sql
          .unsafe(rememberSql, [
            storableText(pipeline),
            entries.map((e) => storableText(e.stage)),
            entries.map((e) => storableText(e.key)),
            entries.map((e) => storableJson(scrub.value(e.value)) ?? "null")
          ])
          .pipe(
            Effect.asVoid,
            Effect.mapError(
              (cause) => new StoreError({ operation: "write", message: `storing stage memory failed: ${cause.message}`, cause })
            )
          )
      )
    }
    for (const enrichment of enrichments) {
      const values = attachedValues(events, enrichment)
      if (values.length === 0) continue
      const attached = scrub.policy === "raw" ? values : values.map((a) => ({ ...a, value: scrub.plan(a.value) }))
      writes.push(
        enrichment.write(pipeline, attached).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.mapError(
            (cause) =>
              new StoreError({ operation: "write", message: `storing ${enrichment.name} failed: ${cause.message}`, cause })
          )
        )
      )
    }
    return writes
  }

    /**
     * Stores a batch's events, their totals and the checkpoint in one statement. Every text goes through
     * `storableText`/`storableJson` here, the one place where outside text enters the store. When the store refuses
     * the data itself (see `refusal`), the batch is split in halves until each refused event stands alone; the rest
     * is stored without the checkpoint, then one last write records the refused events and advances the checkpoint.
     * A crash in between re-reads the batch: what was stored is ignored by key, nothing is stored twice.
     * `locate` says where the source read an event, for the record of a refused one.
     */
    const writeBatch = Effect.fn("EventWriter.writeBatch")(function* (
      pipeline: string,
      dialect: string,
      events: ReadonlyArray<CollectedEvent>,
      checkpoint: unknown,
      options: WriteOptions = {}
    ) {
      const { locate } = options
      const scrub = options.scrubber ?? sampleScrubber(options.samples ?? "raw", dialect, events)
      const side = sideWrites(pipeline, events, options.remember ?? [], options.findings ?? [], scrub)
      // One statement is atomic by itself; the transaction is paid for only when a stage produced something.
      const withSide = <A>(write: Effect.Effect<A, StoreError>) =>
        side.length === 0
          ? write
          : sql.withTransaction(Effect.zipLeft(write, Effect.all(side, { discard: true }))).pipe(
              Effect.catchTag(
                "SqlError",
                (cause) => new StoreError({ operation: "write", message: `store write failed: ${cause.message}`, cause })
              )
            )
      const columns = {
        key: [] as Array<string>,
        queryId: [] as Array<string>,
        startUs: [] as Array<number>,
        intervalStartUs: [] as Array<number | null>,
        calls: [] as Array<number>,
        queryTimeMs: [] as Array<number>,
        lockTimeMs: [] as Array<number>,
        rowsSent: [] as Array<number>,
        rowsExamined: [] as Array<number>,
        rowsAffected: [] as Array<number>,
        db: [] as Array<string | null>,
        user: [] as Array<string | null>,
        threadId: [] as Array<number | null>,
        sample: [] as Array<string | null>,
        multiStatement: [] as Array<boolean>,
        truncated: [] as Array<boolean>,
        tags: [] as Array<string | undefined>,
        metrics: [] as Array<string | undefined>,
        attributes: [] as Array<string | undefined>
      }
      const fingerprints: Array<NonNullable<CollectedEvent["fingerprint"]>> = []
      // Every event has its fingerprint: the runtime sets it before any stage (CollectedEvent.fingerprint is required).
      for (const collected of events) {
        const { event, fingerprint } = collected
        fingerprints.push(fingerprint)
        columns.key.push(storableText(event.key))
        columns.queryId.push(storableText(fingerprint.queryId))
        columns.startUs.push(event.startTimeUs)
        columns.intervalStartUs.push(event.intervalStartUs)
        columns.calls.push(event.calls)
        columns.queryTimeMs.push(event.queryTimeMs)
        columns.lockTimeMs.push(event.lockTimeMs)
        columns.rowsSent.push(event.rowsSent)
        columns.rowsExamined.push(event.rowsExamined)
        columns.rowsAffected.push(event.rowsAffected)
        columns.db.push(storableTextOrNull(event.db))
        columns.user.push(storableTextOrNull(event.user))
        columns.threadId.push(event.threadId)
        const sample = scrub.sample(collected)
        columns.sample.push(sample === undefined ? null : storableText(sample))
        columns.multiStatement.push(fingerprint.multiStatement)
        columns.truncated.push(fingerprint.truncated)
        columns.tags.push(storableJson(fingerprint.tags))
        columns.metrics.push(storableJson(event.metrics))
        columns.attributes.push(storableJson(keptAttributes(event.attributes)))
      }

      const perCall = (i: number) => columns.queryTimeMs[i]! / Math.max(columns.calls[i]!, 1)
      const earlier = (a: number, b: number) =>
        columns.startUs[a]! < columns.startUs[b]! || (columns.startUs[a] === columns.startUs[b] && columns.key[a]! < columns.key[b]!)
      /**
       * Of the events `from` until `to` that keep a sample, per query and hour: the first and the slowest (per call,
       * the earliest of equals), as pairs of indexes [first, slowest, first, slowest, …].
       */
      const samplesOf = (from: number, to: number): Array<number> => {
        const hours = new Map<string, [number, number]>()
        for (let i = from; i < to; i++) {
          if (columns.sample[i] === null) continue
          const hour = `${columns.queryId[i]}\u0000${Math.floor(columns.startUs[i]! / US_PER_HOUR)}`
          const pair = hours.get(hour)
          if (pair === undefined) hours.set(hour, [i, i])
          else {
            if (earlier(i, pair[0])) pair[0] = i
            if (perCall(i) > perCall(pair[1]) || (perCall(i) === perCall(pair[1]) && earlier(i, pair[1]))) pair[1] = i
          }
        }
        return [...hours.values()].flat()
      }

      /** Events `from` until `to` in one statement, with the checkpoint unless it is null. */
      const write = (from: number, to: number, checkpointJson: string | null, dropped: ReadonlyArray<DroppedEvent>) => {
        const slice = <A>(column: Array<A>) => (from === 0 && to === column.length ? column : column.slice(from, to))
        const distinct = new Map<string, { fingerprint: CollectedEvent["fingerprint"]; slowest: number }>()
        for (let i = from; i < to; i++) {
          const seen = distinct.get(fingerprints[i]!.queryId)
          if (seen === undefined) distinct.set(fingerprints[i]!.queryId, { fingerprint: fingerprints[i]!, slowest: i })
          else if (perCall(i) > perCall(seen.slowest)) seen.slowest = i
        }
        const queries = [...distinct.values()]
        const samples = samplesOf(from, to)
        return sql
          .unsafe(writeBatchSql, [
            storableText(pipeline),
            textArray(slice(columns.key)),
            textArray(slice(columns.queryId)),
            numberArray(slice(columns.startUs)),
            numberArray(slice(columns.intervalStartUs)),
            numberArray(slice(columns.calls)),
            numberArray(slice(columns.queryTimeMs)),
            numberArray(slice(columns.lockTimeMs)),
            numberArray(slice(columns.rowsSent)),
            numberArray(slice(columns.rowsExamined)),
            numberArray(slice(columns.rowsAffected)),
            textArray(slice(columns.db)),
            textArray(slice(columns.user)),
            numberArray(slice(columns.threadId)),
            booleanArray(slice(columns.multiStatement)),
            booleanArray(slice(columns.truncated)),
            textArray(slice(columns.tags)),
            textArray(slice(columns.metrics)),
            textArray(slice(columns.attributes)),
            textArray(queries.map((q) => storableText(q.fingerprint.queryId))),
            textArray(queries.map((q) => storableText(q.fingerprint.fingerprint))),
            textArray(queries.map((q) => storableText(q.fingerprint.statementType))),
            booleanArray(queries.map((q) => q.fingerprint.readOnly)),
            textArray(queries.map((q) => storableJson(q.fingerprint.tables))),
            textArray(queries.map((q) => columns.sample[q.slowest] ?? "")),
            dialect,
            checkpointJson,
            dropped.map((d) => storableText(d.key)),
            dropped.map((d) => storableTextOrNull(d.position)),
            dropped.map((d) => storableText(d.reason)),
            textArray(samples.map((i) => columns.queryId[i]!)),
            numberArray(samples.map((i) => Math.floor(columns.startUs[i]! / US_PER_HOUR) * US_PER_HOUR)),
            textArray(samples.map((_, n) => (n % 2 === 0 ? "first" : "slowest"))),
            textArray(samples.map((i) => columns.key[i]!)),
            numberArray(samples.map((i) => columns.startUs[i]!)),
            numberArray(samples.map((i) => columns.calls[i]!)),
            numberArray(samples.map((i) => columns.queryTimeMs[i]!)),
            numberArray(samples.map((i) => columns.lockTimeMs[i]!)),
            numberArray(samples.map((i) => columns.rowsSent[i]!)),
            numberArray(samples.map((i) => columns.rowsExamined[i]!)),
            numberArray(samples.map((i) => columns.rowsAffected[i]!)),
            textArray(samples.map((i) => columns.db[i]!)),
            textArray(samples.map((i) => columns.sample[i]!)),
            booleanArray(samples.map((i) => columns.truncated[i]!)),
            scrub.policy !== "raw",
            options.fence?.owner ?? null,
            options.fence?.epoch ?? null
          ])
          .pipe(
            Effect.flatMap(decodeWriteRows),
            Effect.map(([row]) => ({ inserted: row.inserted, newFingerprints: row.new_fingerprints })),
            Effect.mapError((cause) => {
              const database = databaseErrorOf(cause)
              return database?.code === LEASE_LOST
                ? new StoreError({ operation: "write", message: database.message, cause, leaseLost: true })
                : new StoreError({ operation: "write", message: `store write failed: ${cause.message}`, cause })
            })
          )
      }

      interface Stored {
        readonly inserted: number
        readonly newFingerprints: number
        readonly dropped: ReadonlyArray<DroppedEvent>
      }
      // Halves until each refused event stands alone: 2·log2(n) writes per refused event.
      const storeApart = (from: number, to: number): Effect.Effect<Stored, StoreError> =>
        write(from, to, null, []).pipe(
          Effect.map((written): Stored => ({ ...written, dropped: [] })),
          Effect.catchIf(
            (error) => refusal(error.cause) !== undefined,
            (error): Effect.Effect<Stored, StoreError> => {
              if (to - from === 1) {
                const key = events[from]!.event.key
                // The store's message may quote the refused value.
                const reason = scrub.text(refusal(error.cause) ?? error.message)
                return Effect.succeed({ inserted: 0, newFingerprints: 0, dropped: [{ key, position: locate?.(key) ?? null, reason }] })
              }
              const middle = from + Math.ceil((to - from) / 2)
              return Effect.zipWith(storeApart(from, middle), storeApart(middle, to), (a, b) => ({
                inserted: a.inserted + b.inserted,
                newFingerprints: a.newFingerprints + b.newFingerprints,
                dropped: [...a.dropped, ...b.dropped]
              }))
            }
          )
        )

      // A batch without a checkpoint (`undefined`) is stored without moving it: a replay finds its events by key.
      const checkpointJson = storableJson(checkpoint) ?? null
      const whole = yield* Effect.either(withSide(write(0, events.length, checkpointJson, [])))
      if (whole._tag === "Right") {
        const { inserted, newFingerprints } = whole.right
        return { inserted, duplicates: events.length - inserted, newFingerprints, dropped: [] } satisfies WriteResult
      }
      if (events.length === 0 || refusal(whole.left.cause) === undefined) return yield* whole.left
      const stored = yield* storeApart(0, events.length)
      yield* withSide(write(0, 0, checkpointJson, stored.dropped)).pipe(
        Effect.mapError((error) => {
          const reason = refusal(error.cause)
          return reason === undefined
            ? error
            : new StoreError({ operation: "write", message: `the store refused the checkpoint: ${reason}`, cause: error.cause })
        })
      )
      return {
        inserted: stored.inserted,
        duplicates: events.length - stored.inserted - stored.dropped.length,
        newFingerprints: stored.newFingerprints,
        dropped: stored.dropped
      } satisfies WriteResult
    })


  return { readCheckpoint: healing(readCheckpoint), writeBatch: healing(writeBatch) } as const
})

/** Stores batches: events, per-query totals, checkpoint, stage memory and enrichments, each batch at once. */
export class EventWriter extends Context.Tag("slowq/store/EventWriter")<EventWriter, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
