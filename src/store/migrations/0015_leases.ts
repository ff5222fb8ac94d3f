import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Several daemons may share one store: each pipeline runs on one replica at a time, the holder of its lease
// (src/pipeline/Leases.ts). A lease has an owner, an expiry the owner renews, and an epoch raised by every takeover.
// slowq_fence is how a batch write proves, in its own statement, that its writer still holds the lease it ran under:
// it locks the lease row (FOR SHARE, so a takeover waits for the write to commit rather than slip under it) and
// raises SQLSTATE SQ001 when the owner or epoch changed, which aborts the whole statement (and its transaction). A
// replica paused past its expiry (GC, SIGSTOP, a network stall) can therefore never write after another took over.
// An expired lease nobody took is still the owner's: no write can race it, so it is not refused.
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS slowq_replicas (
      replica     text PRIMARY KEY,
      started_at  timestamptz NOT NULL DEFAULT now(),
      seen_at     timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE TABLE IF NOT EXISTS slowq_leases (
      pipeline     text PRIMARY KEY,
      owner        text,
      epoch        bigint NOT NULL,
      expires_at   timestamptz NOT NULL,
      acquired_at  timestamptz NOT NULL DEFAULT now(),
      takeovers    bigint NOT NULL DEFAULT 0
    )`
  yield* sql`
    CREATE OR REPLACE FUNCTION slowq_fence(lease_pipeline text, lease_owner text, lease_epoch bigint) RETURNS boolean
    LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      IF lease_owner IS NULL THEN
        RETURN true;
      END IF;
      PERFORM 1 FROM slowq_leases
        WHERE pipeline = lease_pipeline AND owner = lease_owner AND epoch = lease_epoch
        FOR SHARE;
      IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'SQ001',
          MESSAGE = format('replica %s no longer holds the lease of pipeline %s (epoch %s): another replica took it over',
                           lease_owner, lease_pipeline, lease_epoch);
      END IF;
      RETURN true;
    END
    $$`
})
