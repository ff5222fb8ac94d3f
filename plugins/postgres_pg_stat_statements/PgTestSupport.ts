/**
 * Test and bench support for the pg_stat_statements source: scratch databases on the shared local server, a
 * throwaway cluster of our own for what must not touch the shared one (full resets, a tiny pg_stat_statements.max),
 * and log capture. Not part of the plugin's runtime code.
 */
import { execFile } from "node:child_process"
import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Logger, Option, Redacted, Schema, Stream } from "effect"
import type { SlowQueryEvent } from "../../src/domain/SlowQueryEvent.js"
import { SlowQuerySource } from "../../src/plugin/SlowQuerySource.js"
import { Config } from "./config.js"
import { layer } from "./PgStatStatementsSource.js"

export const adminUrl = process.env.SLOWQ_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

export const urlFor = (base: string, database: string, user?: string): string => {
  const url = new URL(base)
  url.pathname = `/${database}`
  if (user !== undefined) url.username = user
  return url.toString()
}

/** A direct client, as an application would connect. */
export const pgClient = (url: string) =>
  PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer))

export const uniqueName = (prefix: string) =>
  `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`

/**
 * A brand-new database (with the extension unless told otherwise), dropped when the scope closes; its `oid` is the
 * `dbid` of its entries in pg_stat_statements, which is how tests on the shared server find their own entries.
 */
export const scratchDatabase = (options: { readonly base?: string; readonly extension?: boolean } = {}) =>
  Effect.gen(function* () {
    const base = options.base ?? adminUrl
    const name = uniqueName("slowq_pgss")
    const admin = yield* pgClient(base)
    yield* admin.unsafe(`CREATE DATABASE ${name}`)
    yield* Effect.addFinalizer(() => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie))
    const url = urlFor(base, name)
    const sql = yield* pgClient(url)
    if (options.extension !== false) yield* sql.unsafe("CREATE EXTENSION pg_stat_statements")
    const [row] = yield* sql.unsafe<{ oid: number }>("SELECT oid FROM pg_database WHERE datname = current_database()")
    return { name, url, oid: row!.oid, sql }
  })

/** A login role without pg_read_all_stats, dropped when the scope closes. */
export const unprivilegedRole = (base: string = adminUrl) =>
  Effect.gen(function* () {
    const name = uniqueName("slowq_pgss_role")
    const admin = yield* pgClient(base)
    yield* admin.unsafe(`CREATE ROLE ${name} LOGIN`)
    yield* Effect.addFinalizer(() => admin.unsafe(`DROP ROLE IF EXISTS ${name}`).pipe(Effect.orDie))
    return name
  })

/** A TCP port nobody listens on right now. */
export const freePort = Effect.async<number, Error>((resume) => {
  const server = createServer()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const binDir = process.env.SLOWQ_TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin"

// initdb refuses to run as root: run the server tools as postgres then.
const asPostgres = (tool: string, args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    const [file, argv] =
      process.getuid?.() === 0
        ? ["runuser", ["-u", "postgres", "--", join(binDir, tool), ...args]]
        : [join(binDir, tool), [...args]]
    execFile(file, argv, { timeout: 60_000 }, (error, stdout, stderr) =>
      resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(`${tool} failed: ${error.message}\n${stderr}`)))
    )
  })

export interface ThrowawayCluster {
  readonly port: number
  readonly url: (database?: string) => string
  /** Stops the server and starts it again with these settings (`-c name=value`). */
  readonly restart: (settings: Readonly<Record<string, string>>) => Effect.Effect<void, Error>
}

/**
 * A PostgreSQL cluster of our own on a free port, with trust auth, stopped and deleted when the scope closes.
 * For what must not happen on the shared server: full pg_stat_statements resets, a tiny pg_stat_statements.max.
 */
export const throwawayCluster = (settings: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const created = mkdtempSync(join(tmpdir(), "slowq-pgss-cluster-"))
        // The server runs as postgres when we are root: it must be able to create its data and socket in here.
        chmodSync(created, 0o777)
        return created
      }),
      (created) => Effect.sync(() => rmSync(created, { recursive: true, force: true }))
    )
    const data = join(dir, "data")
    yield* asPostgres("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
    const port = yield* freePort
    const start = (current: Readonly<Record<string, string>>) => {
      const options = [
        `-p ${port}`,
        "-c listen_addresses=127.0.0.1",
        `-k ${dir}`,
        "-c fsync=off",
        ...Object.entries(current).map(([name, value]) => `-c ${name}=${value}`)
      ].join(" ")
      return asPostgres("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-w", "-o", options, "start"])
    }
    const stop = asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
    yield* Effect.acquireRelease(start(settings), () => Effect.ignore(stop))
    const cluster: ThrowawayCluster = {
      port,
      url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
      restart: (next) => Effect.zipRight(stop, start(next)).pipe(Effect.asVoid)
    }
    return cluster
  })

/** Runs `effect` with every log line it writes collected, and returns both. */
export const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<{ readonly level: string; readonly message: string }> = []
    const logger = Logger.make(({ logLevel, message }) => {
      const parts = Array.isArray(message) ? message : [message]
      lines.push({ level: logLevel.label, message: parts.map(String).join(" ") })
    })
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, lines] as const
  })

export type ConfigInput = Omit<typeof Config.Encoded, "type">

/** One run of the source with this config and checkpoint, as the runtime does it: build, read, close. */
export const readOnce = (input: ConfigInput, checkpoint: Option.Option<unknown> = Option.none()) =>
  Effect.gen(function* () {
    // A config a test got wrong is a bug in the test, not a failure to assert on.
    const config = yield* Schema.decodeUnknown(Config)({ type: "postgres_pg_stat_statements", ...input }).pipe(Effect.orDie)
    return yield* Effect.gen(function* () {
      const source = yield* SlowQuerySource
      const batches = yield* Stream.runCollect(source.read(checkpoint))
      const all = Array.from(batches)
      const last = all.at(-1)
      if (last === undefined) return yield* Effect.dieMessage("the source returned no batch")
      return { batches: all.length, events: all.flatMap((batch) => batch.events), checkpoint: last.checkpoint }
    }).pipe(Effect.provide(layer(config)))
  })

/** The events of one statement, found by a fragment of its text. */
export const eventsOf = (events: ReadonlyArray<SlowQueryEvent>, fragment: string) =>
  events.filter((event) => event.sqlText.includes(fragment))
