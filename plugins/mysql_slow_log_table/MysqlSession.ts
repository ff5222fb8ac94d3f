/**
 * The source's only door to MySQL: mysql2's callback API wrapped in Effect. Private to this plugin.
 *
 * Why not `@effect/sql-mysql2`: its pool hard-codes `multipleStatements: true`, opens with an untagged `SELECT 1`
 * that lands in the very log this source reads, and its `executeStream` (built on `@effect/sql`'s
 * `asyncPauseResume`) never finishes its finalizer when the consumer stops in the middle of a big result, so an
 * interrupted read (daemon shutdown) hung the process. Here the stream is pulled: rows are buffered up to a
 * bound, the socket is paused while the buffer is full, and a read stopped before its end is killed on the
 * server and its connection destroyed instead of being handed back to the pool.
 */
import * as Mysql from "mysql2"
import { Chunk, Data, Duration, Effect, Option, Redacted, type Scope, Stream } from "effect"
import * as Queries from "./queries.js"

/** A driver error (connection or server), kept as `cause`; mapped to a sentence by the source. */
export class MysqlError extends Data.TaggedError("MysqlError")<{
  readonly message: string
  readonly cause: unknown
}> {}

const mysqlError = (cause: unknown): MysqlError =>
  new MysqlError({
    message: cause instanceof Error && cause.message !== "" ? cause.message : "MySQL driver error",
    cause
  })

export interface MysqlSessionOptions {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: Redacted.Redacted<string> | undefined
  readonly database: string | undefined
  readonly connectTimeoutMs: number
  readonly maxConnections: number
}

/** One connection of the pool, reserved for a scope. */
export interface MysqlConnection {
  /** The server's id of this connection (`CONNECTION_ID()`), from the handshake. */
  readonly threadId: number
  /** A statement over the binary protocol (server-side prepared, cached per connection): one statement only. */
  readonly execute: (sql: string, params?: ReadonlyArray<string | number>) => Effect.Effect<ReadonlyArray<unknown>, MysqlError>
  /**
   * A big result as a backpressured stream over the text protocol. The parameters are numbers only, formatted
   * into the text by the driver: safe because only our own constant SQL travels here. At most `bufferRows`
   * rows wait in memory; beyond that the socket is paused until the consumer pulls. Stopped before its end, the
   * query is killed on the server and this connection destroyed.
   */
  readonly stream: (
    sql: string,
    params: ReadonlyArray<number>,
    options: { readonly bufferRows: number }
  ) => Stream.Stream<unknown, MysqlError>
}

export interface MysqlPool {
  /** A connection for the caller's scope; returned to the pool when the scope closes, or destroyed if left busy. */
  readonly reserve: Effect.Effect<MysqlConnection, MysqlError, Scope.Scope>
}

/** How long stopping an abandoned read may take: the KILL (on a new connection), then the socket's close. */
const KILL_TIMEOUT = Duration.seconds(3)
const CLOSE_TIMEOUT = Duration.seconds(1)
const POOL_END_TIMEOUT = Duration.seconds(2)

// An error while no callback waits for it (server gone while idle, a late error of an abandoned read) would be
// thrown by the EventEmitter and crash the daemon; whoever waits learns it through its own callback.
const ignoreLateError = (): void => {}
const guarded = new WeakSet<object>()
const guard = (emitter: Mysql.Connection): void => {
  if (guarded.has(emitter)) return
  guarded.add(emitter)
  emitter.on("error", ignoreLateError)
}

/** Waits for `effect` at most `timeout` even inside a finalizer (which runs uninterruptibly). */
const bounded = <A, E>(effect: Effect.Effect<A, E>, timeout: Duration.Duration) =>
  Effect.interruptible(effect).pipe(Effect.timeout(timeout))

/** The pool lives in the caller's scope; its connections are closed when that scope closes. */
export const makePool = Effect.fn("MysqlSession.makePool")(function* (options: MysqlSessionOptions) {
  const connectionOptions: Mysql.ConnectionOptions = {
    host: options.host,
    port: options.port,
    user: options.user,
    ...(options.password === undefined ? {} : { password: Redacted.value(options.password) }),
    ...(options.database === undefined ? {} : { database: options.database }),
    connectTimeout: options.connectTimeoutMs,
    // One statement per call, whatever the text says.
    multipleStatements: false,
    // The queries cast what they need to strings; these keep anything else from losing precision.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true
  }
  const pool = yield* Effect.acquireRelease(
    Effect.sync(() =>
      Mysql.createPool({
        ...connectionOptions,
        connectionLimit: options.maxConnections,
        maxIdle: options.maxConnections,
        waitForConnections: true,
        queueLimit: 0
      })
    ),
    (pool) =>
      bounded(
        Effect.async<void>((resume) => {
          // An error here means a socket that is already gone: nothing left to close.
          pool.end(() => resume(Effect.void))
        }),
        POOL_END_TIMEOUT
      ).pipe(
        Effect.catchTag("TimeoutException", () =>
          Effect.logWarning("the MySQL pool of mysql_slow_log_table did not close within 2 s")
        )
      )
  )

  /** `KILL QUERY` from a connection of its own: the pool may have no free one (max_connections: 1). */
  const killQuery = (threadId: number) =>
    Effect.async<void, MysqlError>((resume) => {
      const killer = Mysql.createConnection(connectionOptions)
      guard(killer)
      killer.query(Queries.killQuery(threadId), (error) => {
        killer.end()
        resume(error === null ? Effect.void : Effect.fail(mysqlError(error)))
      })
      return Effect.sync(() => killer.destroy())
    })

  const getConnection = Effect.async<Mysql.PoolConnection, MysqlError>((resume) => {
    let wanted = true
    pool.getConnection((error, connection) => {
      if (!wanted) {
        // Interrupted while waiting: the connection goes straight back.
        if (error === null) connection.release()
        return
      }
      if (error !== null) return resume(Effect.fail(mysqlError(error)))
      guard(connection)
      resume(Effect.succeed(connection))
    })
    return Effect.sync(() => {
      wanted = false
    })
  })

  const wrap = (connection: Mysql.PoolConnection) => {
    // busy: a command was abandoned, so the connection's state is unknown and it must not go back to the pool.
    const state = { busy: false, destroyed: false }

    const destroy = () => {
      if (state.destroyed) return
      state.destroyed = true
      connection.destroy()
    }

    const execute = Effect.fn("MysqlSession.execute")((sql: string, params: ReadonlyArray<string | number> = []) =>
      Effect.async<ReadonlyArray<unknown>, MysqlError>((resume) => {
        let pending = true
        connection.execute(sql, [...params], (error: Mysql.QueryError | null, result: unknown) => {
          pending = false
          if (error !== null) return resume(Effect.fail(mysqlError(error)))
          resume(Effect.succeed(Array.isArray(result) ? result : []))
        })
        return Effect.sync(() => {
          if (pending) state.busy = true
        })
      })
    )

    const stream = (sql: string, params: ReadonlyArray<number>, options: { readonly bufferRows: number }) => {
      const open = Effect.sync(() => {
        const rows: Array<unknown> = []
        let paused = false
        let failure: MysqlError | undefined
        let ended = false
        let wake: (() => void) | undefined
        const notify = () => wake?.()
        const onRow = (row: unknown) => {
          rows.push(row)
          if (!paused && rows.length >= options.bufferRows) {
            paused = true
            connection.pause()
          }
          notify()
        }
        const onError = (error: unknown) => {
          failure ??= mysqlError(error)
          notify()
        }
        const onEnd = () => {
          ended = true
          notify()
        }
        state.busy = true
        const query = connection.query(sql, [...params])
        query.on("result", onRow)
        query.on("error", onError)
        query.on("end", onEnd)
        // A lost connection is reported to the connection only, not to a query that has no callback.
        connection.on("error", onError)

        const detach = () => {
          query.removeListener("result", onRow)
          query.removeListener("end", onEnd)
          query.removeListener("error", onError)
          connection.removeListener("error", onError)
          // The KILL makes the server answer this query with an error, which nobody reads any more.
          query.on("error", ignoreLateError)
        }

        const waitForData = Effect.async<void>((resume) => {
          wake = () => {
            wake = undefined
            resume(Effect.void)
          }
          return Effect.sync(() => {
            wake = undefined
          })
        })

        const pull: Effect.Effect<Chunk.Chunk<unknown>, Option.Option<MysqlError>> = Effect.suspend(() => {
          if (rows.length > 0) {
            const chunk = Chunk.unsafeFromArray(rows.splice(0))
            if (paused) {
              paused = false
              // Replays the packets queued while paused; may pause again at once.
              connection.resume()
            }
            return Effect.succeed(chunk)
          }
          if (failure !== undefined) return Effect.fail(Option.some(failure))
          if (ended) return Effect.fail(Option.none())
          return Effect.zipRight(waitForData, pull)
        })

        return {
          pull,
          /** Runs once, when the stream is done with, however it ended. */
          close: Effect.suspend(() => {
            detach()
            if (ended && failure === undefined) {
              // Read to the end: the connection is idle and clean.
              state.busy = false
              return Effect.void
            }
            if (failure !== undefined) {
              // A server error leaves the connection usable, a lost connection is gone from the pool already;
              // either way it is not trusted again.
              destroy()
              return Effect.void
            }
            return stopAbandoned(connection, destroy)
          })
        }
      })
      return Stream.acquireRelease(open, (reader) => reader.close).pipe(
        Stream.flatMap((reader) => Stream.repeatEffectChunkOption(reader.pull))
      )
    }

    const handle: MysqlConnection = { threadId: connection.threadId, execute, stream }
    /** Clean connections go back to the pool; one left busy or broken is closed. */
    const release = Effect.sync(() => {
      if (state.destroyed) return
      if (state.busy) destroy()
      else connection.release()
    })
    return { handle, release }
  }

  /**
   * The consumer stopped before the end: the server is still producing rows into a paused socket (or still
   * sorting). Kill the query from another connection, then close this one and let it drain what was in flight,
   * so that the server's thread ends now rather than after net_write_timeout.
   */
  const stopAbandoned = (connection: Mysql.PoolConnection, destroy: () => void) =>
    Effect.gen(function* () {
      yield* bounded(killQuery(connection.threadId), KILL_TIMEOUT).pipe(
        Effect.tapError((cause) =>
          Effect.logWarning("could not stop the interrupted read of mysql.slow_log on the server", cause)
        ),
        Effect.ignore
      )
      const closed = Effect.async<void>((resume) => {
        const onEnd = () => resume(Effect.void)
        connection.once("end", onEnd)
        return Effect.sync(() => connection.removeListener("end", onEnd))
      })
      destroy()
      // Rows still arriving are dropped (no listener); the server's error for the killed query is ignored.
      connection.resume()
      yield* bounded(closed, CLOSE_TIMEOUT).pipe(
        Effect.catchTag("TimeoutException", () =>
          Effect.logDebug("the interrupted read's connection is still closing; it closes in the background")
        )
      )
    })

  const reserve = Effect.acquireRelease(Effect.map(getConnection, wrap), (reserved) => reserved.release).pipe(
    Effect.map((reserved) => reserved.handle)
  )

  const service: MysqlPool = { reserve }
  return service
})
