import { existsSync, mkdirSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { join, resolve } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, type Scope } from "effect"
import { StoreError } from "./StoreError.js"

/** Where the store's PostgreSQL client connects: a unix socket directory and port, as libpq names them. */
export interface SocketAddress {
  readonly host: string
  readonly port: number
}

const PORT = 5432

const answers = (path: string) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(path)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/**
 * The embedded store: PGlite (PostgreSQL in WASM) kept in `dir`, served on a unix socket inside `dir`, so the
 * same `@effect/sql-pg` client and the same migrations serve both stores. A second slowq process on the same
 * folder (e.g. `slowq report` beside a running daemon) finds the socket answering and uses it instead of opening
 * the files a second time, which PGlite does not allow.
 */
export const embeddedStore = (dir: string): Effect.Effect<SocketAddress, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const root = resolve(dir)
    const socketPath = join(root, `.s.PGSQL.${PORT}`)
    const address = { host: root, port: PORT }
    yield* Effect.try({
      try: () => mkdirSync(root, { recursive: true, mode: 0o700 }),
      catch: (cause) =>
        new StoreError({ operation: "connect", message: `cannot create the embedded store folder ${root}: ${String(cause)}`, cause })
    })
    if (existsSync(socketPath)) {
      if (yield* answers(socketPath)) return address
      rmSync(socketPath, { force: true })
    }
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => PGlite.create(join(root, "data")),
        catch: (cause) =>
          new StoreError({
            operation: "connect",
            message: `cannot open the embedded store in ${root}: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      }),
      (db) => Effect.promise(() => db.close()).pipe(Effect.ignore)
    )
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 16 })
          await server.start()
          return server
        },
        catch: (cause) =>
          new StoreError({
            operation: "connect",
            message: `cannot serve the embedded store on ${socketPath}: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      }),
      (server) =>
        Effect.promise(() => server.stop()).pipe(
          Effect.ignore,
          Effect.zipRight(Effect.sync(() => rmSync(socketPath, { force: true })))
        )
    )
    return address
  })
