import { Either, ParseResult, Schema } from "effect"
import { type AiAdviceInput, AiAnswer, type AiSuggestion } from "../../../src/plugin/AiAdvisor.js"
import { normalizePlan, normalizeSqlText } from "../../../src/fingerprint/NormalizeLiterals.js"

/**
 * The chat-completions request and the decoding of its answer, pure. Everything the request carries goes
 * through the normalizer here, whatever the caller already did: the port's contract says its input is
 * literal-free, and this is where that stops being a promise.
 */

/** What the model sees of one query: nothing else is sent. */
export interface SafePayload {
  readonly dialect: string
  readonly server_version: string
  readonly sql: string
  readonly plan: unknown
  readonly tables: ReadonlyArray<{
    readonly name: string
    readonly definition: string
    readonly rows: number
    readonly bytes: number
  }>
  readonly findings: ReadonlyArray<{ readonly rule: string; readonly severity: string; readonly message: string }>
}

export const safePayload = (input: AiAdviceInput): SafePayload => ({
  dialect: input.dialect === "mysql" ? "MySQL/MariaDB" : "PostgreSQL",
  // Versions are the server's own words, but a version string is free text like any other: normalized when it
  // holds a quote (digits stay: `10.11.19-MariaDB` is no literal, and the model needs it).
  server_version: /['"`$]/.test(input.serverVersion) ? normalizeSqlText(input.serverVersion, input.dialect) : input.serverVersion,
  sql: normalizeSqlText(input.normalizedSql, input.dialect),
  plan: normalizePlan(input.plan, input.dialect),
  tables: input.tables.map((table) => ({
    name: table.name,
    definition: normalizeSqlText(table.definition, input.dialect, { keepNumbers: true }),
    rows: table.rows,
    bytes: table.bytes
  })),
  // A rule's message may quote the statement it read (an OFFSET, a LIKE pattern): its numbers go too.
  findings: input.findings.map((finding) => ({
    rule: finding.rule,
    severity: finding.severity,
    message: normalizeSqlText(finding.message, input.dialect)
  }))
})

export const systemPrompt = (dialect: AiAdviceInput["dialect"]): string =>
  [
    `You are a ${dialect === "mysql" ? "MySQL/MariaDB" : "PostgreSQL"} performance expert reviewing one slow query for a DBA.`,
    "The user message is JSON: the query's normalized SQL and its execution plan (every literal replaced by ?), the definitions and sizes of its tables, and what slowq's rules already found.",
    "Find what makes the query slow that the rules did not already say, and what to do about it.",
    'Answer with one JSON object and nothing else, exactly of this form: {"findings": [{"rule": "ai_snake_case_id", "severity": "info" | "warn" | "crit", "message": "one line, with the numbers from the plan", "evidence": "the plan node or SQL clause", "advice": "what to do, in one sentence", "index": {"table": "table name", "columns": ["column", "..."]}}]}.',
    '"index" only when you propose an index, its columns in index order; omit it otherwise.',
    'At most 20 findings; {"findings": []} when you have nothing to add.'
  ].join("\n")

/** The exact JSON body posted to `<base_url>/chat/completions`. */
export const chatBody = (model: string, input: AiAdviceInput) => ({
  model,
  messages: [
    { role: "system", content: systemPrompt(input.dialect) },
    { role: "user", content: JSON.stringify(safePayload(input)) }
  ],
  response_format: { type: "json_object" }
})

// Only what slowq reads of the chat-completions answer; the rest (usage, ids) is ignored.
const ChatCompletion = Schema.Struct({
  choices: Schema.NonEmptyArray(
    Schema.Struct({
      message: Schema.Struct({ content: Schema.String })
    })
  )
})

const AnswerFromContent = Schema.parseJson(AiAnswer)

const EXCERPT = 300

// `findings.0.severity: Expected "info" | "warn" | "crit", actual "urgent"`: where and what, short enough for a log line.
const describe = (error: ParseResult.ParseError): string => {
  const text = ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => (issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`))
    .join("; ")
  return text.length > EXCERPT ? `${text.slice(0, EXCERPT)}…` : text
}

/**
 * The suggestions of a chat-completions response body, or why it was rejected. A rejected answer is dropped
 * whole: one malformed finding makes the rest of the answer doubtful too.
 */
export const decodeAnswer = (body: string): Either.Either<ReadonlyArray<AiSuggestion>, string> => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return Either.left("the response body is not JSON")
  }
  const completion = Schema.decodeUnknownEither(ChatCompletion)(json)
  if (Either.isLeft(completion)) return Either.left(`not a chat completion: ${describe(completion.left)}`)
  const answer = Schema.decodeUnknownEither(AnswerFromContent)(completion.right.choices[0].message.content)
  if (Either.isLeft(answer)) return Either.left(`the model's answer is not the findings JSON: ${describe(answer.left)}`)
  return Either.right(
    answer.right.findings.map((finding) => (finding.rule.startsWith("ai_") ? finding : { ...finding, rule: `ai_${finding.rule}` }))
  )
}
