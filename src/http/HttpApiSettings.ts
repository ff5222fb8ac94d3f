import { isIP } from "node:net"
import { FileSystem } from "@effect/platform"
import { Config, Data, Effect, Option, Redacted } from "effect"

/** Why the HTTP API cannot start; the message is shown to the user as is and never holds the token. */
export class HttpApiSettingsError extends Data.TaggedError("HttpApiSettingsError")<{ readonly message: string }> {}

export interface HttpApiSettings {
  readonly host: string
  /** 0 lets the system choose a free port; the bound address is logged. */
  readonly port: number
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly publicRead: boolean
}

export const defaultAddress = "127.0.0.1:8080"

/** Shorter tokens are refused: a guessable token on a network port is no protection. */
export const minimumTokenLength = 16

/** `HOST:PORT` or `[IPV6]:PORT`. */
export const parseAddress = (text: string): Option.Option<{ readonly host: string; readonly port: number }> => {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim())
  if (match === null) return Option.none()
  const host = match[1] ?? match[2]!
  const port = Number(match[3])
  if (port > 65_535) return Option.none()
  if (match[1] !== undefined && isIP(host) !== 6) return Option.none()
  return Option.some({ host, port })
}

/** Only these addresses are reachable from this machine alone; a host name other than localhost may resolve anywhere. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."))

const fail = (message: string) => Effect.fail(new HttpApiSettingsError({ message }))

// Config's own messages do not always name the variable ("Expected a boolean value…"): these do.
const configError = (variable: string) => (cause: { readonly message: string }) =>
  new HttpApiSettingsError({ message: `${variable}: ${cause.message}` })

/**
 * Reads `SLOWQ_HTTP_ADDR`, `SLOWQ_API_TOKEN` or `SLOWQ_API_TOKEN_FILE`, and `SLOWQ_API_PUBLIC_READ`, and refuses
 * a non-loopback address without a token: the daemon must never be controllable from the network by anyone.
 */
export const loadHttpApiSettings = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const addressText = yield* Config.string("SLOWQ_HTTP_ADDR").pipe(
    Config.withDefault(defaultAddress),
    Effect.mapError(configError("SLOWQ_HTTP_ADDR"))
  )
  const address = parseAddress(addressText)
  if (Option.isNone(address)) {
    return yield* fail(
      `SLOWQ_HTTP_ADDR=${JSON.stringify(addressText)} is not an address: expected HOST:PORT such as 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080`
    )
  }
  const inline = yield* Config.option(Config.redacted("SLOWQ_API_TOKEN")).pipe(
    Effect.mapError(configError("SLOWQ_API_TOKEN"))
  )
  const file = yield* Config.option(Config.string("SLOWQ_API_TOKEN_FILE")).pipe(
    Effect.mapError(configError("SLOWQ_API_TOKEN_FILE"))
  )
  if (Option.isSome(inline) && Option.isSome(file)) {
    return yield* fail("set SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE, not both")
  }
  const token = Option.isSome(file)
    ? Option.some(
        yield* fs.readFileString(file.value).pipe(
          Effect.map((text) => Redacted.make(text.trim())),
          Effect.mapError(
            (error) =>
              new HttpApiSettingsError({
                message: `cannot read SLOWQ_API_TOKEN_FILE ${file.value}: ${error._tag === "SystemError" && error.reason === "NotFound" ? "no such file" : error.message}`
              })
          )
        )
      )
    : Option.map(inline, (value) => Redacted.make(Redacted.value(value).trim()))
  if (Option.isSome(token) && Redacted.value(token.value).length < minimumTokenLength) {
    return yield* fail(
      `the API token (${Option.isSome(file) ? "SLOWQ_API_TOKEN_FILE" : "SLOWQ_API_TOKEN"}) is shorter than ${minimumTokenLength} characters; use e.g. \`openssl rand -hex 32\``
    )
  }
  const publicReadText = yield* Config.string("SLOWQ_API_PUBLIC_READ").pipe(
    Config.withDefault("false"),
    Effect.mapError(configError("SLOWQ_API_PUBLIC_READ"))
  )
  const publicRead = publicReadText.trim().toLowerCase()
  if (publicRead !== "true" && publicRead !== "false") {
    return yield* fail(`SLOWQ_API_PUBLIC_READ=${JSON.stringify(publicReadText)}: expected true or false`)
  }
  if (Option.isNone(token) && !isLoopback(address.value.host)) {
    return yield* fail(
      `refusing to serve the HTTP API on ${addressText} without a token: set SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE, or bind to a loopback address such as 127.0.0.1:8080`
    )
  }
  return { ...address.value, token, publicRead: publicRead === "true" } satisfies HttpApiSettings
})
