// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in these strings is pipeline interpolation under test
import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, Option } from "effect"
import { parseDuration } from "../../src/domain/Duration.js"
import { interpolate } from "../../src/pipeline/Interpolate.js"

const env = { HOST: "db.internal", EMPTY: "", PORT: "3306", PASSWORD: "p@ss$word" }

const value = (text: string) => Either.map(interpolate(text, env), (result) => result.value)
const problems = (text: string) => Either.flip(interpolate(text, env))

describe("interpolate", () => {
  it("substitutes braced and bare variables and unescapes $$", () => {
    expect(value("mysql://${HOST}:$PORT/db")).toEqual(Either.right("mysql://db.internal:3306/db"))
    expect(value("cost $$5 and $$HOST")).toEqual(Either.right("cost $5 and $HOST"))
    // A variable's value is never interpolated again.
    expect(value("${PASSWORD}")).toEqual(Either.right("p@ss$word"))
  })

  it("keeps a $ that starts nothing, so regexes and $1 need no escaping", () => {
    expect(value("^select .*$")).toEqual(Either.right("^select .*$"))
    expect(value("where id = $1")).toEqual(Either.right("where id = $1"))
  })

  it("applies defaults: :- for unset or empty, - for unset only, and nests them", () => {
    expect(value("${MISSING:-fallback}")).toEqual(Either.right("fallback"))
    expect(value("${EMPTY:-fallback}")).toEqual(Either.right("fallback"))
    expect(value("${EMPTY-fallback}")).toEqual(Either.right(""))
    expect(value("${MISSING-fallback}")).toEqual(Either.right("fallback"))
    expect(value("${HOST:-fallback}")).toEqual(Either.right("db.internal"))
    expect(value("${MISSING:-${HOST}:${PORT}}")).toEqual(Either.right("db.internal:3306"))
    expect(value("${MISSING:-}")).toEqual(Either.right(""))
  })

  it("applies alternatives with :+ and +", () => {
    expect(value("${HOST:+set}")).toEqual(Either.right("set"))
    expect(value("${EMPTY:+set}")).toEqual(Either.right(""))
    expect(value("${EMPTY+set}")).toEqual(Either.right("set"))
    expect(value("${MISSING+set}")).toEqual(Either.right(""))
  })

  it("says which values came from the environment, and whether anything was substituted", () => {
    expect(interpolate("${HOST}", env)).toEqual(Either.right({ value: "db.internal", fromEnvironment: true, substituted: true }))
    expect(interpolate("${MISSING:-x}", env)).toEqual(Either.right({ value: "x", fromEnvironment: false, substituted: true }))
    expect(interpolate("${HOST:+x}", env)).toEqual(Either.right({ value: "x", fromEnvironment: false, substituted: true }))
    expect(interpolate("a$$b", env)).toEqual(Either.right({ value: "a$b", fromEnvironment: false, substituted: false }))
  })

  it("reports every unset variable, and none inside a default that is not used", () => {
    expect(problems("${A}/${B}")).toEqual(
      Either.right(["environment variable A is not set", "environment variable B is not set"])
    )
    expect(problems("$A")).toEqual(Either.right(["environment variable A is not set"]))
    expect(value("${HOST:-${UNSET}}")).toEqual(Either.right("db.internal"))
    expect(problems("${MISSING:-${UNSET}}")).toEqual(Either.right(["environment variable UNSET is not set"]))
  })

  it("reports required variables with their message, never with a value", () => {
    expect(problems("${MISSING:?set it in .env}")).toEqual(
      Either.right(["environment variable MISSING is not set: set it in .env"])
    )
    expect(problems("${EMPTY:?}")).toEqual(Either.right(["environment variable EMPTY is empty"]))
    expect(value("${EMPTY?required}")).toEqual(Either.right(""))
    // The message is shown as written: evaluating it could print a value.
    expect(problems("${MISSING?see ${PASSWORD}}")).toEqual(
      Either.right(["environment variable MISSING is not set: see ${PASSWORD}"])
    )
  })

  it("reports malformed references", () => {
    expect(problems("${HOST")).toEqual(Either.right(['"${HOST" is not closed by "}"']))
    expect(problems("${MISSING:-abc")).toEqual(Either.right(['"${MISSING" is not closed by "}"']))
    expect(problems("${1A}")).toEqual(Either.right(['"${" must be followed by a variable name (write "$$" for a literal "$")']))
    expect(problems("${HOST!}")).toEqual(Either.right(['${HOST is followed by "!"; expected "}", ":-", "-", ":?", "?", ":+" or "+"']))
  })
})

describe("parseDuration", () => {
  const millis = (text: string) => Option.map(parseDuration(text), Duration.toMillis)

  it("reads 500ms, 30s, 5m, 1h, 1d and sums of them", () => {
    expect(millis("500ms")).toEqual(Option.some(500))
    expect(millis("30s")).toEqual(Option.some(30_000))
    expect(millis("5m")).toEqual(Option.some(300_000))
    expect(millis("1h")).toEqual(Option.some(3_600_000))
    expect(millis("1d")).toEqual(Option.some(86_400_000))
    expect(millis("1h30m")).toEqual(Option.some(5_400_000))
  })

  it("refuses zero, other units, spaces, signs and fractions", () => {
    for (const text of ["", "0s", "0ms0s", "30", "s", "30 s", "30sec", "-5s", "1.5s", "30S", "5mm", "1constructor"]) {
      expect([text, millis(text)]).toEqual([text, Option.none()])
    }
  })
})
