import { Either } from "effect"

/** The process environment, as `process.env` holds it. */
export type Environment = Readonly<Record<string, string | undefined>>

export interface Interpolated {
  readonly value: string
  /** Some of `value` was read from the environment, so it is treated as a secret and never echoed. */
  readonly fromEnvironment: boolean
  /** A variable was referenced; a plain YAML scalar is then typed again (`${BATCH:-500}` is the number 500). */
  readonly substituted: boolean
}

const isNameStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c === "_")
const isNameChar = (c: string | undefined): boolean => isNameStart(c) || (c !== undefined && c >= "0" && c <= "9")

type Operator = ":-" | "-" | ":?" | "?" | ":+" | "+"

/**
 * Expands variables the way docker-compose does, in one pass over the text:
 * `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}`
 * (required), `${VAR:+alternative}` / `${VAR+alternative}` (when set), `$$` for a literal `$`. Defaults may nest.
 * Unlike compose, a `$` followed by anything else stays as it is, so `^x$` or `$1` in a value need no escaping.
 * Returns every problem found in the text; the messages never contain a variable's value.
 */
export const interpolate = (text: string, env: Environment): Either.Either<Interpolated, ReadonlyArray<string>> => {
  const problems: Array<string> = []
  let i = 0
  let fromEnvironment = false
  let substituted = false

  const lookup = (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined)

  // `evaluate` is false inside a default that is not taken: it is parsed, to find its end, but reports nothing.
  const template = (insideBraces: boolean, evaluate: boolean): string => {
    let out = ""
    while (i < text.length) {
      const c = text[i]!
      if (c === "}" && insideBraces) return out
      if (c !== "$") {
        out += c
        i++
        continue
      }
      const next = text[i + 1]
      if (next === "$") {
        out += "$"
        i += 2
      } else if (next === "{") {
        i += 2
        out += braced(evaluate)
      } else if (isNameStart(next)) {
        i++
        const name = readName()
        substituted = true
        const value = lookup(name)
        if (value === undefined) {
          if (evaluate) problems.push(`environment variable ${name} is not set`)
        } else {
          if (evaluate) fromEnvironment = true
          out += value
        }
      } else {
        out += c
        i++
      }
    }
    return out
  }

  const readName = (): string => {
    const start = i
    while (isNameChar(text[i])) i++
    return text.slice(start, i)
  }

  const readOperator = (): Operator | "}" | undefined => {
    const c = text[i]
    if (c === "}") return "}"
    if (c === ":") {
      const d = text[i + 1]
      if (d === "-" || d === "?" || d === "+") {
        i += 2
        return `:${d}`
      }
      return undefined
    }
    if (c === "-" || c === "?" || c === "+") {
      i++
      return c
    }
    return undefined
  }

  // Called after `${`; consumes through the closing `}`.
  const braced = (evaluate: boolean): string => {
    substituted = true
    if (!isNameStart(text[i])) {
      if (evaluate) problems.push(`"\${" must be followed by a variable name (write "$$" for a literal "$")`)
      skipToClose(evaluate)
      return ""
    }
    const name = readName()
    const operator = readOperator()
    if (operator === undefined) {
      if (i >= text.length) {
        if (evaluate) problems.push(`"\${${name}" is not closed by "}"`)
        return ""
      }
      if (evaluate) problems.push(`\${${name} is followed by "${text[i]}"; expected "}", ":-", "-", ":?", "?", ":+" or "+"`)
      skipToClose(evaluate)
      return ""
    }
    const value = lookup(name)
    if (operator === "}") {
      i++
      if (value === undefined) {
        if (evaluate) problems.push(`environment variable ${name} is not set`)
        return ""
      }
      if (evaluate) fromEnvironment = true
      return value
    }
    const set = operator.startsWith(":") ? value !== undefined && value !== "" : value !== undefined
    // A `?` operand is a message shown as written: evaluating it could put a variable's value into the problem.
    const operandStart = i
    const takesOperand = operator.endsWith("?") ? false : operator.endsWith("+") ? set : !set
    const operand = template(true, evaluate && takesOperand)
    const written = text.slice(operandStart, i)
    if (text[i] !== "}") {
      if (evaluate) problems.push(`"\${${name}" is not closed by "}"`)
      return ""
    }
    i++
    if (operator.endsWith("+")) return set ? operand : ""
    if (set) {
      if (evaluate) fromEnvironment = true
      return value ?? ""
    }
    if (operator.endsWith("?")) {
      if (evaluate) {
        const state = value === undefined ? "is not set" : "is empty"
        problems.push(`environment variable ${name} ${state}${written === "" ? "" : `: ${written}`}`)
      }
      return ""
    }
    return operand
  }

  const skipToClose = (evaluate: boolean): void => {
    template(true, false)
    if (text[i] === "}") i++
    else if (evaluate) problems.push(`"\${" is not closed by "}"`)
  }

  const value = template(false, true)
  return problems.length > 0 ? Either.left(problems) : Either.right({ value, fromEnvironment, substituted })
}
