/** The workload command's arguments: `--mysql URL --postgres URL --rate N [--seconds S] [--seed K]`. */

export interface Args {
  readonly mysql: string | undefined
  readonly postgres: string | undefined
  /** Statements per second, per database. */
  readonly rate: number
  /** Seconds of load after the schema is ready; undefined: until SIGINT/SIGTERM. */
  readonly seconds: number | undefined
  readonly seed: number
  /** Rewritten with the counts at every report while every database is under load: the compose lab's health check reads its age. */
  readonly statusFile: string | undefined
}

export const usage = `usage: npm run lab:workload -- [--mysql URL] [--postgres URL] --rate N [--seconds S] [--seed K] [--status-file PATH]

Creates a small web shop (customers, products, orders, order items) in each database given, seeded when empty, then
runs the shop's traffic against each at about N statements per second until SIGINT/SIGTERM (or for S seconds).
  --mysql URL         mysql://user[:password]@host[:port]/database (MySQL or MariaDB)
  --postgres URL      postgres://user[:password]@host[:port]/database
  --rate N            statements per second per database (0.1 to 10000)
  --seconds S         stop after S seconds of load
  --seed K            the traffic's seed (integer, default 1): the same seed runs the same statements
  --status-file PATH  a file rewritten with the counts every 10 s while the load runs (a health check reads its age)
At least one of --mysql and --postgres is needed.`

export class ArgsError extends Error {}

const number = (flag: string, text: string, min: number, max: number, integer: boolean) => {
  const value = Number(text)
  if (text.trim() === "" || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new ArgsError(`${flag}: expected ${integer ? "an integer" : "a number"} from ${min} to ${max}, got ${JSON.stringify(text)}`)
  }
  return value
}

const url = (flag: string, text: string, protocols: ReadonlyArray<string>) => {
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch {
    // The text may hold a password: it is not echoed.
    throw new ArgsError(`${flag}: not a URL (expected ${protocols[0]}//user@host:port/database)`)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ArgsError(`${flag}: expected a ${protocols.join(" or ")} URL, got ${parsed.protocol}`)
  }
  if (parsed.pathname.length <= 1) throw new ArgsError(`${flag}: the URL names no database`)
  return text
}

/** Parses the arguments (after `--`); throws ArgsError with a message for the user. */
export const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const values = new Map<string, string>()
  const known = ["--mysql", "--postgres", "--rate", "--seconds", "--seed", "--status-file"]
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.indexOf("=")
    const [flag, inline] = arg.startsWith("--") && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined]
    if (!known.includes(flag)) throw new ArgsError(`unknown argument ${JSON.stringify(flag)}`)
    if (values.has(flag)) throw new ArgsError(`${flag} is given twice`)
    const value = inline ?? argv[++i]
    if (value === undefined) throw new ArgsError(`${flag} needs a value`)
    values.set(flag, value)
  }
  const mysql = values.get("--mysql")
  const postgres = values.get("--postgres")
  if (mysql === undefined && postgres === undefined) throw new ArgsError("give --mysql URL, --postgres URL or both")
  const rate = values.get("--rate")
  if (rate === undefined) throw new ArgsError("--rate N is required")
  const seconds = values.get("--seconds")
  const seed = values.get("--seed")
  return {
    mysql: mysql === undefined ? undefined : url("--mysql", mysql, ["mysql:"]),
    postgres: postgres === undefined ? undefined : url("--postgres", postgres, ["postgres:", "postgresql:"]),
    rate: number("--rate", rate, 0.1, 10_000, false),
    seconds: seconds === undefined ? undefined : number("--seconds", seconds, 1, 31_536_000, false),
    seed: seed === undefined ? 1 : number("--seed", seed, 0, 2 ** 32 - 1, true),
    statusFile: values.get("--status-file")
  }
}
