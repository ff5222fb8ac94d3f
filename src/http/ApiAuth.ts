import { createHash, timingSafeEqual } from "node:crypto"
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import { ControlAccess, ForbiddenError, ReadAccess, UnauthorizedError } from "./Api.js"
import type { HttpApiSettings } from "./HttpApiSettings.js"

// Both sides are hashed first so that timingSafeEqual compares equal lengths and the time taken says nothing
// about the token's length or its first differing character.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

/** Constant-time comparison of a presented token with the configured one. */
export const tokensMatch = (presented: string, expected: Redacted.Redacted<string>): boolean =>
  timingSafeEqual(digest(presented), digest(Redacted.value(expected)))

const bearerPrefix = /^Bearer[ ]+/i

/**
 * The token of the request's `Authorization: Bearer …` header. HttpApiSecurity.bearer hands over the header minus
 * its first 7 characters whatever they were, so the header is read here to tell "no token" (401) from a wrong
 * one (403).
 */
const presentedToken = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const header = request.headers.authorization
  if (header === undefined || !bearerPrefix.test(header)) return Option.none()
  const token = header.replace(bearerPrefix, "").trim()
  return token.length === 0 ? Option.none() : Option.some(token)
})

type AccessCheck = Effect.Effect<void, UnauthorizedError | ForbiddenError, HttpServerRequest.HttpServerRequest>

const check = (expected: Redacted.Redacted<string>): AccessCheck =>
  Effect.flatMap(presentedToken, (presented): Effect.Effect<void, UnauthorizedError | ForbiddenError> => {
    if (Option.isNone(presented)) {
      return Effect.fail(new UnauthorizedError({ message: "this endpoint needs `Authorization: Bearer <token>`" }))
    }
    return tokensMatch(presented.value, expected)
      ? Effect.void
      : Effect.fail(new ForbiddenError({ message: "the bearer token is not the API token" }))
  })

// Control needs a token, always: without one configured it is simply off.
const controlCheck = (settings: HttpApiSettings): AccessCheck =>
  Option.isSome(settings.token)
    ? check(settings.token.value)
    : Effect.fail(
        new ForbiddenError({
          message: "control endpoints are disabled: start slowq with SLOWQ_API_TOKEN or SLOWQ_API_TOKEN_FILE"
        })
      )

// Without a token configured the settings allow a loopback address only, where reads stay open.
const readCheck = (settings: HttpApiSettings): AccessCheck =>
  settings.publicRead || Option.isNone(settings.token) ? Effect.void : check(settings.token.value)

/** The two access middlewares of the API, configured by the settings. */
export const apiAuthLayer = (settings: HttpApiSettings) =>
  Layer.merge(
    Layer.succeed(ControlAccess, { bearer: () => controlCheck(settings) }),
    Layer.succeed(ReadAccess, { bearer: () => readCheck(settings) })
  )
