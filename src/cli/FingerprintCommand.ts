import { Command, Options } from "@effect/cli"
import * as NodeSink from "@effect/platform-node/NodeSink"
import * as NodeStream from "@effect/platform-node/NodeStream"
import { Effect, Either, Schema, Stream } from "effect"
import type { SqlDialect } from "../fingerprint/SqlDialect.js"
import { type FingerprintOptions, Fingerprinter } from "../fingerprint/Fingerprinter.js"
import { CliFailure } from "./CliFailure.js"

const Input = Schema.parseJson(Schema.Struct({ sql: Schema.String }))
const decodeInput = Schema.decodeUnknownEither(Input)

/** One output line: what other tools read. */
interface Output {
  readonly fingerprint: string | null
  readonly id: string | null
  readonly type: string | null
  readonly tables: ReadonlyArray<string>
  readonly error?: string
}

/**
 * Turns input lines (`{"sql": "…"}`) into output lines, one for one and in order. A line that is not such an
 * object still gets its line, with `error` set; blank lines are not inputs and get none.
 */
export const fingerprintLines = (
  fingerprint: (sql: string) => { readonly fingerprint: string; readonly queryId: string; readonly statementType: string; readonly tables: ReadonlyArray<string> }
) =>
<E, R>(lines: Stream.Stream<string, E, R>): Stream.Stream<string, E, R> =>
  lines.pipe(
    Stream.filter((line) => line.trim() !== ""),
    Stream.map((line) => {
      const input = decodeInput(line)
      let output: Output
      if (Either.isLeft(input)) {
        output = { fingerprint: null, id: null, type: null, tables: [], error: describeBadInput(line) }
      } else {
        const result = fingerprint(input.right.sql)
        output = { fingerprint: result.fingerprint, id: result.queryId, type: result.statementType, tables: result.tables }
      }
      return `${JSON.stringify(output)}\n`
    })
  )

const describeBadInput = (line: string): string => {
  try {
    JSON.parse(line)
    return 'expected an object with a string field "sql"'
  } catch {
    return "not valid JSON"
  }
}

const dialect = Options.choice("dialect", ["mysql", "postgres"]).pipe(
  Options.withDescription("How to read the statements: mysql (MySQL/MariaDB, pt-query-digest's fingerprint) or postgres."),
  Options.withDefault("mysql" as const)
)

const matchEmbeddedNumbers = Options.boolean("match-embedded-numbers").pipe(
  Options.withDescription("MySQL: keep numbers inside identifiers (users_2009), like pt-query-digest --preserve-embedded-numbers.")
)

const run = Effect.fn("FingerprintCommand.run")(function* (input: {
  readonly dialect: SqlDialect
  readonly matchEmbeddedNumbers: boolean
}) {
  const fingerprinter = yield* Fingerprinter
  yield* fingerprinter.prepare(input.dialect)
  const options: FingerprintOptions | undefined = input.matchEmbeddedNumbers ? { matchEmbeddedNumbers: true } : undefined
  yield* NodeStream.stdin.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    fingerprintLines((sql) => fingerprinter.fingerprint(sql, input.dialect, options)),
    Stream.run(NodeSink.stdout),
    Effect.mapError((error) => new CliFailure({ message: `slowq fingerprint: cannot write to stdout: ${error.message}` }))
  )
})

/**
 * `slowq fingerprint --dialect mysql|postgres`: JSON lines `{"sql": "…"}` on stdin, one JSON line
 * `{"fingerprint", "id", "type", "tables"}` per input on stdout, in order, streamed.
 */
export const fingerprintCommand = Command.make("fingerprint", { dialect, matchEmbeddedNumbers }, run).pipe(
  Command.withDescription(
    'Fingerprint statements: reads JSON lines {"sql": "…"} on stdin, writes {"fingerprint", "id", "type", "tables"} per line (with "error" when a line cannot be read).'
  )
)
