import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { connect } from "node:net"
import { join, resolve } from "node:path"
import { Worker } from "node:worker_threads"
import { Effect, type Scope } from "effect"
import { StoreError } from "./StoreError.js"

/** Where the store's PostgreSQL client connects: a unix socket directory and port, as libpq names them. */
export interface SocketAddress {
  readonly host: string
  readonly port: number
}

const PORT = 5432
const LOCK = "slowq.lock"

/**
 * PGlite's shared_buffers (PostgreSQL's default, 128 MB) live in its WASM memory, which never shrinks: a page of
 * them touched once stays resident for the life of the process. Its data files are read through the operating
 * system's page cache anyway, so a small pool costs little: ingesting 20k events into a reopened store peaked at
 * 376 MB of RSS with 32 MB, 492 MB with 128 MB (16 MB: 363 MB).
 */
const startParams = (defaults: ReadonlyArray<string>) => [...defaults, "-c", "shared_buffers=32MB"]

/**
 * Creates a new database in `dataDir` in a worker thread. PGlite runs initdb with a second PostgreSQL instance and
 * initdb's own WASM module beside the first, and the process keeps what they allocated: a slowq that created its
 * store held about 900 MB of RSS for as long as it ran, one that reopened it about 350 MB. A worker's memory goes
 * back to the system when it ends. The worker is plain CommonJS (`eval`), so it needs no TypeScript loader.
 */
const initdbInWorker = (dataDir: string) =>
  Effect.async<void, unknown>((resume) => {
    const pglite = createRequire(import.meta.url).resolve("@electric-sql/pglite")
    // PGlite fails with emscripten's ErrnoError, which a worker cannot pass on as it is: the worker says what it was
    // (as describeCause would) and ends.
    const worker = new Worker(
      `const { workerData, parentPort } = require("node:worker_threads")
       require(workerData.pglite).PGlite.create(workerData.dataDir).then(
         (db) => db.close(),
         (cause) => parentPort.postMessage(cause instanceof Error ? cause.message
           : typeof cause?.errno === "number" ? (cause.name ?? "error") + " (errno " + cause.errno + ")" : String(cause))
       )`,
      { eval: true, workerData: { pglite, dataDir } }
    )
    // The first of "message" (a failure), "error" (an uncaught one) and "exit" decides.
    let done = false
    const end = (result: Effect.Effect<void, unknown>) => {
      if (done) return
      done = true
      resume(result)
    }
    worker.once("message", (message) => end(Effect.fail(new Error(String(message)))))
    worker.once("error", (cause) => end(Effect.fail(cause)))
    worker.once("exit", (code) =>
      end(code === 0 ? Effect.void : Effect.fail(new Error(`creating the database ended with code ${code}`)))
    )
    return Effect.promise(() => worker.terminate())
  })

const answers = (path: string) =>
  Effect.async<boolean>((resume) => {
    const socket = connect(path)
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/** PGlite throws emscripten's ErrnoError, a plain object `{ name, errno }` that prints as "[object Object]". */
const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message
  if (typeof cause === "object" && cause !== null) {
    const name = "name" in cause && typeof cause.name === "string" ? cause.name : "error"
    return "errno" in cause && typeof cause.errno === "number" ? `${name} (errno ${cause.errno})` : name
  }
  return String(cause)
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error instanceof Error && "code" in error && error.code === "EPERM"
  }
}

const holderOf = (lockPath: string): number | undefined => {
  try {
    const pid = Number.parseInt(readFileSync(lockPath, "utf8"), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Takes the store folder for this process, or says which live process holds it. PGlite itself takes no lock: two
 * processes opening one folder at once both write its files. The lock file is complete when it appears (written
 * aside, then linked into place, which fails if it exists), so a reader never sees it empty; a lock whose process
 * is gone (a crash, kill -9) is taken over.
 */
const takeLock = (root: string): Effect.Effect<{ readonly _tag: "Taken" } | { readonly _tag: "Held"; readonly pid: number }, StoreError> =>
  Effect.try({
    try: () => {
      const lockPath = join(root, LOCK)
      const aside = join(root, `${LOCK}.${process.pid}`)
      writeFileSync(aside, `${process.pid}\n`)
      try {
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            linkSync(aside, lockPath)
            return { _tag: "Taken" } as const
          } catch (error) {
            if (!(error instanceof Error && "code" in error && error.code === "EEXIST")) throw error
          }
          const pid = holderOf(lockPath)
          if (pid !== undefined && pid !== process.pid && isAlive(pid)) return { _tag: "Held", pid } as const
          rmSync(lockPath, { force: true })
        }
        throw new Error(`${lockPath} keeps coming back`)
      } finally {
        rmSync(aside, { force: true })
      }
    },
    catch: (cause) =>
      new StoreError({
        operation: "connect",
        message: `cannot lock the embedded store in ${root}: ${describeCause(cause)}`,
        cause
      })
  })

const releaseLock = (root: string) =>
  Effect.sync(() => {
    const lockPath = join(root, LOCK)
    if (holderOf(lockPath) === process.pid) rmSync(lockPath, { force: true })
  })

/**
 * PGlite and its socket server are imported when an embedded store is opened, not with this module: the store's
 * layer is built from the configuration, and a slowq that uses a PostgreSQL server (SLOWQ_STORE_URL) or no store at
 * all (`slowq validate`) never loads them.
 */
const loadPglite = Effect.tryPromise({
  try: () => Promise.all([import("@electric-sql/pglite"), import("@electric-sql/pglite-socket")]),
  catch: (cause) =>
    new StoreError({ operation: "connect", message: `cannot load the embedded store (PGlite): ${describeCause(cause)}`, cause })
})

/**
 * The embedded store: PGlite (PostgreSQL in WASM) kept in `dir`, served on a unix socket inside `dir`, so the
 * same `@effect/sql-pg` client and the same migrations serve both stores. A second slowq process on the same
 * folder (e.g. `slowq report` beside a running daemon) finds the socket answering and uses it instead of opening
 * the files a second time, which PGlite does not allow. One that finds the folder locked by a live process that
 * does not serve it yet (two daemons started together) fails, naming that process.
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
    const lock = yield* takeLock(root)
    if (lock._tag === "Held") {
      if (yield* answers(socketPath)) return address
      return yield* new StoreError({
        operation: "connect",
        message: `the embedded store in ${root} is in use by process ${lock.pid}, which is not serving it yet: run one slowq daemon per store folder, or set SLOWQ_STORE_DIR to another folder (lock: ${join(root, LOCK)})`
      })
    }
    yield* Effect.addFinalizer(() => releaseLock(root))
    if (existsSync(socketPath)) {
      // Served by a slowq that takes no lock (an older version): use it rather than open the files a second time.
      if (yield* answers(socketPath)) return address
      rmSync(socketPath, { force: true })
    }
    const dataDir = join(root, "data")
    if (!existsSync(join(dataDir, "PG_VERSION"))) {
      yield* initdbInWorker(dataDir).pipe(
        Effect.mapError(
          (cause) =>
            new StoreError({
              operation: "connect",
              message: `cannot create the embedded store in ${root}: ${describeCause(cause)}`,
              cause
            })
        )
      )
    }
    const [{ PGlite }, { PGLiteSocketServer }] = yield* loadPglite
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => PGlite.create(dataDir, { startParams: startParams(PGlite.defaultStartParams) }),
        catch: (cause) =>
          new StoreError({
            operation: "connect",
            message: `cannot open the embedded store in ${root}: ${describeCause(cause)}`,
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
            message: `cannot serve the embedded store on ${socketPath}: ${describeCause(cause)}`,
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
