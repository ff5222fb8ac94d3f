import type { CollectedEvent } from "../domain/CollectedEvent.js"
import type { SamplePolicy } from "../domain/SamplePolicy.js"
import type { Dialect } from "../domain/SlowQueryEvent.js"
import { normalizePlan, normalizeSqlText } from "../fingerprint/NormalizeLiterals.js"
import { lex, T_NUMBER, T_STRING } from "../fingerprint/SqlLexer.js"
import { isSqlDialect, type SqlDialect } from "../fingerprint/SqlDialect.js"

/**
 * What a batch's sample policy lets into the store, applied where outside text enters it (the EventWriter). Under
 * `raw` everything passes as it is. Under `normalized` and `none`:
 * - a sample is the statement with every literal replaced by `?` (`normalized`; a source of another dialect: its
 *   fingerprint) or is not kept (`none`);
 * - a plan (an enrichment's value, a finding's plans and verification) has the expressions of its known fields
 *   normalized like a sample, and every other string scrubbed;
 * - any other text (a finding's message, evidence and advice, a stage's memory, the reason of a refused event) is
 *   scrubbed: each string literal of the batch's statements (quoted, and its content when 3 characters or more)
 *   and each number of 3 digits or more is replaced by `?`. Shorter numbers stay: they cannot be told apart from
 *   the counts and estimates such texts are made of.
 */
export interface SampleScrubber {
  readonly policy: SamplePolicy
  /** The statement text kept for a sample; undefined when the policy keeps none. */
  readonly sample: (collected: CollectedEvent) => string | undefined
  /** A free text with the batch's literals taken out. */
  readonly text: (text: string) => string
  /** Any JSON-like value: every string in it scrubbed (see `text`); other values and non-plain objects kept. */
  readonly value: <A>(value: A) => A
  /** A plan: the expressions of its known fields normalized, every other string scrubbed. */
  readonly plan: <A>(plan: A) => A
}

const identity = <A>(value: A): A => value

const rawScrubber: SampleScrubber = {
  policy: "raw",
  sample: (collected) => collected.event.sqlText,
  text: identity,
  value: identity,
  plan: identity
}

const MIN_CONTENT = 3
const numberLiteral = /\d{3,}(?:\.\d+)?(?:e[+-]?\d+)?/gi

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The string and number literals of the batch's SQL statements, as they are written and as contents. */
const literalsOf = (events: ReadonlyArray<CollectedEvent>, dialect: SqlDialect) => {
  const strings = new Set<string>()
  const numbers = new Set<string>()
  for (const { event } of events) {
    const sql = event.sqlText
    const lexed = lex(sql, dialect)
    for (let t = 0; t < lexed.count; t++) {
      const kind = lexed.kinds[t]!
      if (kind !== T_STRING && kind !== T_NUMBER) continue
      const token = sql.slice(lexed.starts[t]!, lexed.ends[t]!)
      if (kind === T_NUMBER) {
        if (/\d{3}/.test(token)) numbers.add(token.toLowerCase())
        continue
      }
      strings.add(token)
      // The content between the quotes (a prefix such as E'…' or N'…' and an unterminated end allowed).
      const open = token.search(/['"$]/)
      const quote = token[open]
      let content = token.slice(open + 1)
      if (quote === "$") {
        const tagEnd = token.indexOf("$", open + 1)
        const tag = token.slice(open, tagEnd + 1)
        content = token.slice(tagEnd + 1, token.endsWith(tag) ? token.length - tag.length : token.length)
      } else if (content.endsWith(quote ?? "")) content = content.slice(0, -1)
      if (content.length >= MIN_CONTENT) strings.add(content)
    }
  }
  return { strings, numbers }
}

const scrubberOf = (policy: SamplePolicy, dialect: Dialect, events: ReadonlyArray<CollectedEvent>): SampleScrubber => {
  const sqlDialect = isSqlDialect(dialect) ? dialect : undefined
  // The batch's literals are gathered once, on the first text to scrub: most batches log nothing and find nothing.
  let literals: { readonly numbers: ReadonlySet<string>; readonly pattern: RegExp | undefined } | undefined
  const gather = () => {
    const { strings, numbers } =
      sqlDialect === undefined ? { strings: new Set<string>(), numbers: new Set<string>() } : literalsOf(events, sqlDialect)
    // Longest first, so that a literal holding another is replaced whole.
    const pattern =
      strings.size === 0 ? undefined : new RegExp([...strings].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "g")
    return { numbers, pattern }
  }
  const text = (input: string): string => {
    literals ??= gather()
    const { numbers, pattern } = literals
    const withoutStrings = pattern === undefined ? input : input.replace(pattern, "?")
    if (numbers.size === 0) return withoutStrings
    return withoutStrings.replace(numberLiteral, (found, at: number, whole: string) => {
      const before = at === 0 ? "" : whole[at - 1]!
      const after = whole[at + found.length] ?? ""
      // Part of a longer word or number (an identifier, a hash, 1.2345): not the literal.
      if (/[\w.]/.test(before) || /[\w.]/.test(after)) return found
      return numbers.has(found.toLowerCase()) ? "?" : found
    })
  }
  const value = <A>(input: A): A => {
    if (typeof input === "string") return text(input) as A
    if (Array.isArray(input)) return input.map(value) as A
    if (input !== null && typeof input === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(input))) {
      const out: Record<string, unknown> = {}
      for (const [key, child] of Object.entries(input)) out[key] = value(child)
      return out as A
    }
    return input
  }
  const plan = <A>(input: A): A =>
    value(sqlDialect === undefined ? input : (normalizePlan(input, sqlDialect, { others: "keep" }) as A))
  return {
    policy,
    sample: (collected) =>
      policy === "none"
        ? undefined
        : sqlDialect === undefined
          ? collected.fingerprint.fingerprint
          : normalizeSqlText(collected.event.sqlText, sqlDialect),
    text,
    value,
    plan
  }
}

/** The scrubber of one batch of a pipeline with `policy`, whose source speaks `dialect`. */
export const sampleScrubber = (
  policy: SamplePolicy,
  dialect: Dialect,
  events: ReadonlyArray<CollectedEvent>
): SampleScrubber => (policy === "raw" ? rawScrubber : scrubberOf(policy, dialect, events))
