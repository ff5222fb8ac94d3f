import { FileSystem, HttpClient, type HttpClientError, HttpClientRequest } from "@effect/platform"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Clock, Config, Duration, Effect, Either, Layer, Option, Redacted, Ref } from "effect"
import {
  AiAdvisor,
  type AiAdviceInput,
  AiAdvisorError,
  type AiSuggestion
} from "../../../src/plugin/AiAdvisor.js"
import { chatBody, decodeAnswer } from "./ChatRequest.js"
import type { OpenAiCompatibleConfig } from "./config.js"

/**
 * The AI advisor over any OpenAI-compatible chat-completions endpoint. One call per (query id, plan hash) at
 * most, within a daily budget, each bounded by a timeout. What it sends is built by ChatRequest (normalized
 * again there); what it returns is decoded with Schema and dropped, logged, when malformed.
 *
 * The cache and the budget's count here live in memory, for one instance (the analyze stage builds one per run).
 * The stage keeps the lasting ones in its memory in the store (steps/AiStep.ts) and asks only what they allow, so
 * these are a second guard for any other caller of the advisor.
 */

const PROVIDER = "openai_compatible"

/** Answers kept; the oldest goes first. A plan hash changes with the plan, so old entries are rarely asked. */
export const CACHE_CAPACITY = 10_000

/** The calls of one UTC day, and whether the budget's exhaustion was logged that day. */
interface Spent {
  readonly day: string
  readonly calls: number
  readonly noted: boolean
}

const utcDay = (millis: number): string => new Date(millis).toISOString().slice(0, 10)

const readKey = (config: OpenAiCompatibleConfig) =>
  Effect.gen(function* () {
    if (config.api_key_env !== undefined) {
      const name = config.api_key_env
      const key = yield* Config.redacted(name).pipe(
        Effect.mapError(
          () =>
            new AiAdvisorError({
              provider: PROVIDER,
              reason: "key",
              message: `the API key's environment variable ${name} is not set`
            })
        )
      )
      if (Redacted.value(key).trim() === "") {
        return yield* new AiAdvisorError({
          provider: PROVIDER,
          reason: "key",
          message: `the API key's environment variable ${name} is empty`
        })
      }
      return Option.some(key)
    }
    if (config.api_key_file !== undefined) {
      const path = config.api_key_file
      const fs = yield* FileSystem.FileSystem
      const content = yield* fs.readFileString(path).pipe(
        Effect.mapError(
          (error) =>
            new AiAdvisorError({
              provider: PROVIDER,
              reason: "key",
              // The platform's message names the path and the system error, never the content.
              message: `the API key file cannot be read: ${error.message}`
            })
        )
      )
      const key = content.replace(/[\r\n]+$/, "")
      if (key.trim() === "") {
        return yield* new AiAdvisorError({ provider: PROVIDER, reason: "key", message: `the API key file ${path} is empty` })
      }
      return Option.some(Redacted.make(key))
    }
    return Option.none<Redacted.Redacted<string>>()
  })

export const make = (config: OpenAiCompatibleConfig) =>
  Effect.gen(function* () {
    const key = yield* readKey(config)
    // No trace headers (traceparent, b3) to a third party: the request carries what ChatRequest built, and only that.
    const client = HttpClient.withTracerPropagation(yield* HttpClient.HttpClient, false)
    const url = `${config.base_url.replace(/\/+$/, "")}/chat/completions`
    const endpoint = new URL(url).host
    // Read and written under `lock` only.
    const cache = new Map<string, ReadonlyArray<AiSuggestion>>()
    const spent = yield* Ref.make<Spent>({ day: "", calls: 0, noted: false })
    // One call at a time: the same plan asked twice at once would be paid twice, and a budget of one day is
    // small enough that calls in parallel buy nothing.
    const lock = yield* Effect.makeSemaphore(1)

    const failure = (reason: "timeout" | "status" | "transport", message: string, extra?: { status?: number; cause?: unknown }) =>
      new AiAdvisorError({ provider: PROVIDER, reason, message, ...extra })

    const call = (input: AiAdviceInput) => {
      const base = HttpClientRequest.post(url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyUnsafeJson(chatBody(config.model, input))
      )
      const request = Option.match(key, { onNone: () => base, onSome: (k) => HttpClientRequest.bearerToken(base, k) })
      return client.execute(request).pipe(
        Effect.flatMap((response): Effect.Effect<string, AiAdvisorError | HttpClientError.ResponseError> =>
          response.status >= 200 && response.status < 300
            ? response.text
            : Effect.fail(
                failure("status", `${endpoint} answered HTTP ${response.status}`, { status: response.status })
              )
        ),
        // The platform's errors carry the request (its headers too): keep only their message and the socket's cause.
        Effect.catchTags({
          RequestError: (error) => Effect.fail(failure("transport", `${endpoint}: ${error.message}`, { cause: error.cause })),
          ResponseError: (error) => Effect.fail(failure("transport", `${endpoint}: ${error.message}`, { cause: error.cause }))
        }),
        Effect.timeoutFail({
          duration: config.timeout,
          onTimeout: () => failure("timeout", `${endpoint} did not answer within ${Math.round(Duration.toMillis(config.timeout))}ms`)
        })
      )
    }

    // Takes one call from the day's budget; false when the day's budget is spent (logged once a day).
    const takeCall = Effect.gen(function* () {
      const day = utcDay(yield* Clock.currentTimeMillis)
      const [allowed, note] = yield* Ref.modify(spent, (state): [[boolean, boolean], Spent] => {
        const today = state.day === day ? state : { day, calls: 0, noted: false }
        if (today.calls < config.daily_budget) return [[true, false], { ...today, calls: today.calls + 1 }]
        return [[false, !today.noted], { ...today, noted: true }]
      })
      if (note) {
        yield* Effect.logInfo(
          `AI call budget spent: ${config.daily_budget} calls on ${day} (UTC); no more calls until 00:00 UTC`
        )
      }
      return allowed
    })

    const advise = Effect.fn("OpenAiCompatible.advise")(function* (input: AiAdviceInput) {
      const cacheKey = `${input.queryId}\u0000${input.planHash}`
      const cached = cache.get(cacheKey)
      if (cached !== undefined) return cached
      if (!(yield* takeCall)) {
        yield* Effect.logDebug("AI not asked: the day's call budget is spent")
        return []
      }
      const body = yield* call(input)
      const suggestions = yield* Either.match(decodeAnswer(body), {
        onLeft: (reason) => Effect.as(Effect.logWarning(`AI answer from ${endpoint} rejected: ${reason}`), []),
        onRight: Effect.succeed
      })
      // A rejected answer is remembered too: asking the same plan again would pay for the same answer.
      yield* Effect.sync(() => {
        if (cache.size >= CACHE_CAPACITY) cache.delete(cache.keys().next().value!)
        cache.set(cacheKey, suggestions)
      })
      return suggestions
    })

    return AiAdvisor.of({
      advise: (input) =>
        lock
          .withPermits(1)(advise(input))
          .pipe(Effect.annotateLogs({ ai: PROVIDER, model: config.model, endpoint, query_id: input.queryId }))
    })
  })

/** The provider with Node's HTTP client (undici) and file system. */
export const layer = (config: OpenAiCompatibleConfig): Layer.Layer<AiAdvisor, AiAdvisorError> =>
  Layer.effect(AiAdvisor, make(config)).pipe(
    Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, NodeFileSystem.layer))
  )
