import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { FileSystem } from "@effect/platform"
import { Data, Effect, Redacted } from "effect"

/** Why no token could be generated or read back; the message never holds the token. */
export class GeneratedTokenError extends Data.TaggedError("GeneratedTokenError")<{ readonly message: string }> {}

export const generatedTokenFile = "api-token"

/** 32 random bytes in hex: as `openssl rand -hex 32`, which the README tells users to run for their own. */
const newToken = () => randomBytes(32).toString("hex")

/**
 * The API token kept in `dataDir`/api-token, generated there on the first start that needs one: a daemon serving a
 * non-loopback address with no token configured (`docker-compose up` with no .env) starts with a strong token instead
 * of refusing to, and keeps it across restarts in its data volume. The file is created exclusively, readable by its
 * owner only: two replicas starting at once on one volume end with the same token (the second reads the first's).
 */
export const generatedToken = (dataDir: string, minimumLength: number) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = join(dataDir, generatedTokenFile)
    const failWith = (what: string) => (error: { readonly message: string }) =>
      new GeneratedTokenError({ message: `${what} ${path}: ${error.message}` })
    yield* fs.makeDirectory(dataDir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(failWith("cannot create the folder of")))
    const created = yield* fs.writeFileString(path, `${newToken()}\n`, { flag: "wx", mode: 0o600 }).pipe(
      Effect.as(true),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists",
        () => Effect.succeed(false)
      ),
      Effect.mapError(failWith("cannot write the generated API token to"))
    )
    const token = (yield* fs.readFileString(path).pipe(Effect.mapError(failWith("cannot read the API token")))).trim()
    if (token.length < minimumLength) {
      return yield* new GeneratedTokenError({
        message: `${path} holds no valid API token (shorter than ${minimumLength} characters): delete it to have a new one generated, or set SLOWQ_API_TOKEN`
      })
    }
    yield* Effect.logInfo(
      created
        ? `no API token configured: generated one into ${path}; read it with \`cat ${path}\` (under docker-compose: \`docker-compose exec slowq cat ${path}\`)`
        : `no API token configured: using the one generated earlier in ${path}`
    )
    return Redacted.make(token)
  })
