import { isIP } from "node:net"
import { FileSystem } from "@effect/platform"
import { Config, Data, Effect, Option, Redacted } from "effect"
import { generatedToken } from "./GeneratedToken.js"
import { canonicalHost, type HostPolicy } from "./HostCheck.js"

/** Why the HTTP API cannot start; the message is shown to the user as is and never holds the token. */
export class HttpApiSettingsError extends Data.TaggedError("HttpApiSettingsError")<{ readonly message: string }> {}

export interface HttpApiSettings {
  readonly host: string
  /** 0 lets the system choose a free port; the bound address is logged. */
  readonly port: number
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly publicRead: boolean
  /** The Host header values answered (SLOWQ_HTTP_ALLOWED_HOSTS and the rule of `hostPolicy`). */
  readonly hosts: HostPolicy
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

/**
 * Without a list, any Host is answered only where slowq cannot know its names and a browser page cannot read
 * anything anyway: a non-loopback address (which requires the token) whose reads need the token too. On loopback, or
 * with SLOWQ_API_PUBLIC_READ=true, only localhost, the address connected to and the listed names are.
 */
export const hostPolicy = (options: {
  readonly host: string
  readonly token: boolean
  readonly publicRead: boolean
  readonly allowedHosts: ReadonlyArray<string>
}): HostPolicy =>
  options.allowedHosts.length === 0 && !isLoopback(options.host) && options.token && !options.publicRead
    ? { _tag: "Any" }
    : { _tag: "Listed", names: options.allowedHosts }

/** `SLOWQ_HTTP_ALLOWED_HOSTS`: comma-separated host names or addresses, without ports; each canonicalized. */
export const parseAllowedHosts = (text: string): Effect.Effect<ReadonlyArray<string>, HttpApiSettingsError> =>
  Effect.forEach(
    text
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0),
    (entry) => {
      // A bare IPv6 address is taken as it is written in a URL, in brackets.
      const name = isIP(entry) === 6 ? `[${entry}]` : entry
      const host = canonicalHost(name)
      if (Option.isSome(host) && !/:\d+$/.test(name)) return Effect.succeed(host.value)
      return fail(
        Option.isSome(host)
          ? `SLOWQ_HTTP_ALLOWED_HOSTS: ${JSON.stringify(entry)} has a port; give the name alone (any port is accepted)`
          : `SLOWQ_HTTP_ALLOWED_HOSTS: ${JSON.stringify(entry)} is not a host name or address; expected comma-separated names such as slowq.internal,10.0.0.5,[fd00::5]`
      )
    }
  )

// Config's own messages do not always name the variable ("Expected a boolean value…"): these do.
const configError = (variable: string) => (cause: { readonly message: string }) =>
  new HttpApiSettingsError({ message: `${variable}: ${cause.message}` })

/**
 * Reads `SLOWQ_HTTP_ADDR`, `SLOWQ_API_TOKEN` or `SLOWQ_API_TOKEN_FILE`, `SLOWQ_API_PUBLIC_READ`,
 * `SLOWQ_HTTP_ALLOWED_HOSTS` and `SLOWQ_DATA_DIR`, and refuses a non-loopback address without a token (configured, or
 * generated in SLOWQ_DATA_DIR): the daemon must never be controllable from the network by anyone.
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
  // A non-loopback address needs a token: without one configured, the one generated in the data folder, if there is one.
  const dataDir = yield* Config.option(Config.string("SLOWQ_DATA_DIR")).pipe(Effect.mapError(configError("SLOWQ_DATA_DIR")))
  const needed = Option.isNone(token) && !isLoopback(address.value.host)
  if (needed && Option.isNone(dataDir)) {
    return yield* fail(
      `refusing to serve the HTTP API on ${addressText} without a token: set SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE, set SLOWQ_DATA_DIR to have one generated there, or bind to a loopback address such as 127.0.0.1:8080`
    )
  }
  const served =
    needed && Option.isSome(dataDir)
      ? Option.some(
          yield* generatedToken(dataDir.value, minimumTokenLength).pipe(
            Effect.mapError((error) => new HttpApiSettingsError({ message: error.message }))
          )
        )
      : token
  const allowedHostsText = yield* Config.string("SLOWQ_HTTP_ALLOWED_HOSTS").pipe(
    Config.withDefault(""),
    Effect.mapError(configError("SLOWQ_HTTP_ALLOWED_HOSTS"))
  )
  const allowedHosts = yield* parseAllowedHosts(allowedHostsText)
  const hosts = hostPolicy({
    host: address.value.host,
    token: Option.isSome(served),
    publicRead: publicRead === "true",
    allowedHosts
  })
  return { ...address.value, token: served, publicRead: publicRead === "true", hosts } satisfies HttpApiSettings
})
