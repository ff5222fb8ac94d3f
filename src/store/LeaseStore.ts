import { Context, Effect, Layer, Schema } from "effect"
import { SLOWQ_MARKER } from "../plugin/OwnStatement.js"
import { StoreClient } from "./StoreClient.js"
import { StoreError } from "./StoreError.js"

// The store's side of the pipelines' leases (migration 0015; the policy is src/pipeline/Leases.ts). Every time is
// the store's clock (now()), never a replica's: replicas whose clocks disagree still agree on who holds what.

/** A lease as the store holds it. */
const LeaseRow = Schema.Struct({
  pipeline: Schema.String,
  owner: Schema.NullOr(Schema.String),
  epoch: Schema.Number,
  expires_at: Schema.DateFromSelf
})
export interface LeaseRow extends Schema.Schema.Type<typeof LeaseRow> {}

/** A lease just taken: its epoch, and whether it was taken from another replica whose lease had expired. */
export interface Acquired {
  readonly epoch: number
  readonly takeover: boolean
}

// A replica killed (not stopped) leaves its row, and each start has a new id by default: rows not seen for a day go
// with the next heartbeat of any replica, so the table holds the replicas of about a day.
const heartbeatSql = `${SLOWQ_MARKER}
WITH gone AS (DELETE FROM slowq_replicas WHERE seen_at < now() - interval '1 day')
INSERT INTO slowq_replicas (replica) VALUES ($1)
ON CONFLICT (replica) DO UPDATE SET seen_at = now()`

// Replicas seen within the lease time ($1 ms): the ones leases are shared among, in a fixed order (their quotas).
const liveReplicasSql = `${SLOWQ_MARKER}
SELECT replica FROM slowq_replicas WHERE seen_at > now() - $1::float8 * interval '1 millisecond' ORDER BY replica`

const renewSql = `${SLOWQ_MARKER}
UPDATE slowq_leases SET expires_at = now() + $3::float8 * interval '1 millisecond'
WHERE owner = $1 AND pipeline = ANY($2::text[])
RETURNING pipeline, epoch::float8 AS epoch`

// Free (never held, released) or expired: taken, with a new epoch, which fences off the previous holder's writes.
// The previous holder, as the statement's snapshot saw it, tells a takeover from a free lease.
const acquireSql = `${SLOWQ_MARKER}
WITH previous AS (SELECT owner FROM slowq_leases WHERE pipeline = $2)
INSERT INTO slowq_leases AS l (pipeline, owner, epoch, expires_at)
VALUES ($2, $1, 1, now() + $3::float8 * interval '1 millisecond')
ON CONFLICT (pipeline) DO UPDATE SET owner = $1, epoch = l.epoch + 1, expires_at = excluded.expires_at,
  acquired_at = now(), takeovers = l.takeovers + CASE WHEN l.owner IS NULL OR l.owner = $1 THEN 0 ELSE 1 END
WHERE l.owner IS NULL OR l.expires_at < now()
RETURNING epoch::float8 AS epoch, (SELECT owner FROM previous) AS previous`

const releaseSql = `${SLOWQ_MARKER}
UPDATE slowq_leases SET owner = NULL, expires_at = now()
WHERE owner = $1 AND pipeline = ANY($2::text[])`

const leaveSql = `${SLOWQ_MARKER} DELETE FROM slowq_replicas WHERE replica = $1`

const leasesSql = `${SLOWQ_MARKER}
SELECT pipeline, owner, epoch::float8 AS epoch, expires_at FROM slowq_leases ORDER BY pipeline`

/** What the API asked of a pipeline ('*': the scheduler), as any replica stored it. */
const ControlRow = Schema.Struct({ pipeline: Schema.String, paused: Schema.Boolean, run_requested: Schema.NullOr(Schema.String) })
export interface ControlRow extends Schema.Schema.Type<typeof ControlRow> {}

const ReplicaRow = Schema.Struct({ replica: Schema.String })
const RenewedRow = Schema.Struct({ pipeline: Schema.String, epoch: Schema.Number })
const AcquiredRow = Schema.Struct({ epoch: Schema.Number, previous: Schema.NullOr(Schema.String) })

/** The control row that pauses the whole scheduler. */
export const SCHEDULER = "*"

const controlSql = `${SLOWQ_MARKER} SELECT pipeline, paused, run_requested FROM slowq_pipeline_control`

const setPausedSql = `${SLOWQ_MARKER}
INSERT INTO slowq_pipeline_control (pipeline, paused) VALUES ($1, $2)
ON CONFLICT (pipeline) DO UPDATE SET paused = excluded.paused`

const requestRunSql = `${SLOWQ_MARKER}
INSERT INTO slowq_pipeline_control (pipeline, run_requested, requested_at) VALUES ($1, $2, now())
ON CONFLICT (pipeline) DO UPDATE SET run_requested = excluded.run_requested, requested_at = now()`

// Taken once: only the request still there is taken, so that a run asked for twice in a round runs once.
const takeRunSql = `${SLOWQ_MARKER}
UPDATE slowq_pipeline_control SET run_requested = NULL, requested_at = NULL
WHERE pipeline = $1 AND run_requested = $2 RETURNING run_requested`

const make = Effect.gen(function* () {
  const { sql } = yield* StoreClient
  const failed = (what: string) => (cause: { readonly message: string }) =>
    new StoreError({ operation: "write", message: `${what} failed: ${cause.message}`, cause })
  const readFailed = (what: string) => (cause: { readonly message: string }) =>
    new StoreError({ operation: "read", message: `${what} failed: ${cause.message}`, cause })
  /** The rows of `statement`, decoded with `row`: a row of another shape is a store error, not a wrong value. */
  const rowsOf =
    <A, I>(row: Schema.Schema<A, I>) =>
    (statement: string, params: ReadonlyArray<unknown> = []) =>
      sql.unsafe(statement, params).pipe(Effect.flatMap(Schema.decodeUnknown(Schema.Array(row))))

  /** Says the replica is alive: leases are shared among the replicas seen within the lease time. */
  const heartbeat = (replica: string) => sql.unsafe(heartbeatSql, [replica]).pipe(Effect.asVoid, Effect.mapError(failed("the replica's heartbeat")))

  /** The replicas seen within the lease time, in byte order of their names. */
  const liveReplicas = (ttlMs: number) =>
    rowsOf(ReplicaRow)(liveReplicasSql, [ttlMs]).pipe(
      Effect.map((rows) => rows.map((row) => row.replica)),
      Effect.mapError(failed("listing the replicas"))
    )

  /** Extends the replica's leases of `pipelines`; those it still holds, with their epochs. */
  const renew = (replica: string, pipelines: ReadonlyArray<string>, ttlMs: number) =>
    pipelines.length === 0
      ? Effect.succeed(new Map<string, number>())
      : rowsOf(RenewedRow)(renewSql, [replica, pipelines, ttlMs]).pipe(
          Effect.map((rows) => new Map(rows.map((row) => [row.pipeline, row.epoch]))),
          Effect.mapError(failed("renewing the leases"))
        )

  /** Takes the lease of `pipeline` if it is free or expired. */
  const acquire = (replica: string, pipeline: string, ttlMs: number) =>
    rowsOf(AcquiredRow)(acquireSql, [replica, pipeline, ttlMs]).pipe(
      Effect.map((rows): Acquired | undefined => {
        const row = rows[0]
        return row === undefined ? undefined : { epoch: row.epoch, takeover: row.previous !== null && row.previous !== replica }
      }),
      Effect.mapError(failed("taking a lease"))
    )

  /** Gives up the replica's leases of `pipelines` at once: another replica may take them on its next round. */
  const release = (replica: string, pipelines: ReadonlyArray<string>) =>
    pipelines.length === 0
      ? Effect.void
      : sql.unsafe(releaseSql, [replica, pipelines]).pipe(Effect.asVoid, Effect.mapError(failed("releasing leases")))

  /** The replica stops: it is no longer counted when leases are shared. */
  const leave = (replica: string) => sql.unsafe(leaveSql, [replica]).pipe(Effect.asVoid, Effect.mapError(failed("leaving")))

  /** Every lease, for the API: who runs what. */
  const leases = rowsOf(LeaseRow)(leasesSql).pipe(Effect.mapError(readFailed("reading the leases")))

  /** Every pipeline's pause and asked-for run, and the scheduler's pause. */
  const control = rowsOf(ControlRow)(controlSql).pipe(Effect.mapError(readFailed("reading the pipelines' control")))

  /** Pauses or resumes `pipeline` (SCHEDULER: every pipeline) on whichever replica runs it. */
  const setPaused = (pipeline: string, paused: boolean) =>
    sql.unsafe(setPausedSql, [pipeline, paused]).pipe(Effect.asVoid, Effect.mapError(failed("storing a pause")))

  /** Asks the replica that runs `pipeline` for a run now, with the id `run`. */
  const requestRun = (pipeline: string, run: string) =>
    sql.unsafe(requestRunSql, [pipeline, run]).pipe(Effect.asVoid, Effect.mapError(failed("asking for a run")))

  /** Takes the run asked for: true when this replica is the one to start it. */
  const takeRun = (pipeline: string, run: string) =>
    sql.unsafe(takeRunSql, [pipeline, run]).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.mapError(failed("taking an asked-for run"))
    )

  return { heartbeat, liveReplicas, renew, acquire, release, leave, leases, control, setPaused, requestRun, takeRun } as const
})

/** The pipelines' leases in the store, shared by every replica. */
export class LeaseStore extends Context.Tag("slowq/store/LeaseStore")<LeaseStore, Effect.Effect.Success<typeof make>>() {
  static readonly layer = Layer.effect(this, make)
}
