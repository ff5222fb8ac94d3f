import { Duration, Option, ParseResult, Schema } from "effect"
import { parseDuration } from "../../../src/domain/Duration.js"

// The analyze stage's `ai:` block (steps/AiStep.ts): `type: none` (the default) or one
// OpenAI-compatible chat-completions endpoint.

const DurationText = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (text, _, ast) =>
    Option.match(parseDuration(text), {
      onNone: () => ParseResult.fail(new ParseResult.Type(ast, text)),
      onSome: ParseResult.succeed
    }),
  encode: (duration) => ParseResult.succeed(`${Duration.toMillis(duration)}ms`)
}).annotations({
  message: (issue) => ({
    message: `Expected a positive duration such as 500ms, 30s or 2m, actual ${JSON.stringify(issue.actual)}`,
    override: true
  })
})

const isBaseUrl = (text: string): boolean => {
  try {
    const url = new URL(text)
    // Credentials belong in api_key_env / api_key_file, where they are never logged; a URL is logged.
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      url.hostname !== "" &&
      url.username === "" &&
      url.password === "" &&
      url.search === "" &&
      url.hash === ""
    )
  } catch {
    return false
  }
}

const BaseUrl = Schema.NonEmptyTrimmedString.pipe(
  Schema.filter(isBaseUrl, {
    // The message never repeats the value: a URL given with credentials holds a password.
    message: () =>
      "Expected an http(s) URL without credentials or query such as https://api.openai.com/v1 or http://127.0.0.1:11434/v1; the value is not shown because it may hold a password"
  })
)

const EnvName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/),
  Schema.annotations({
    message: (issue) => ({
      message: `Expected the name of an environment variable such as OPENAI_API_KEY, actual ${JSON.stringify(issue.actual)}`,
      override: true
    })
  })
)

export const NoneConfig = Schema.Struct({
  type: Schema.Literal("none").annotations({ description: "No AI: the analyzer's own rules only. The default." })
})

export const OpenAiCompatibleConfig = Schema.Struct({
  type: Schema.Literal("openai_compatible").annotations({
    description:
      "Any OpenAI-compatible chat-completions endpoint (OpenAI, Azure-style gateways, Ollama, vLLM, llama.cpp server). Only normalized SQL and plans are sent: no sample, literal or comment."
  }),
  base_url: BaseUrl.annotations({
    description:
      "The API root; slowq posts to <base_url>/chat/completions. E.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama)."
  }),
  model: Schema.NonEmptyTrimmedString.annotations({ description: "The model name the endpoint expects." }),
  api_key_env: Schema.optionalWith(EnvName, { exact: true }).annotations({
    description: "Name of the environment variable holding the API key (sent as Authorization: Bearer). Never logged."
  }),
  api_key_file: Schema.optionalWith(Schema.NonEmptyTrimmedString, { exact: true }).annotations({
    description:
      "Path of a file holding the API key (trailing newlines ignored), e.g. /run/secrets/openai. Never logged. Neither this nor api_key_env: no Authorization header (local servers)."
  }),
  timeout: Schema.optionalWith(DurationText, { exact: true, default: () => Duration.seconds(60) }).annotations({
    description: "Longest one call may take, answer included; a slower call is abandoned and counts as a failed call."
  }),
  daily_budget: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1_000_000)), {
    exact: true,
    default: () => 100
  }).annotations({
    description:
      "Calls allowed per UTC day (failed ones included); past it, no call until 00:00 UTC, and a note is logged once. 0: never call."
  })
}).pipe(
  Schema.filter((config) =>
    config.api_key_env !== undefined && config.api_key_file !== undefined
      ? { path: ["api_key_file"], message: "conflicts with api_key_env; give only one of: api_key_env | api_key_file" }
      : undefined
  )
)
export type OpenAiCompatibleConfig = typeof OpenAiCompatibleConfig.Type

export const AiConfig = Schema.Union(NoneConfig, OpenAiCompatibleConfig)
export type AiConfig = typeof AiConfig.Type
