// test group: other
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { booleanArray, numberArray, textArray } from "../../src/store/ArrayLiteral.js"
import { storeClient } from "../support/StoreQueries.js"

// The literals are read by the real PostgreSQL: whatever it makes of them is what the store would hold.
const url = "postgres://postgres@127.0.0.1:5432/test"

describe("array literals of a batch's columns", () => {
  it.scoped("texts come back exactly, whatever they hold; null is NULL", () =>
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      const texts = [
        "plain",
        "",
        "NULL",
        "null",
        " spaced ",
        "a,b",
        "{braces}",
        'say "hi"',
        "back\\slash",
        '\\"',
        "é ✓ 😀",
        "line\nbreak\ttab",
        null,
        '{"Bytes_sent": 8, "QC_hit": true}'
      ]
      const [row] = yield* sql.unsafe<{ texts: Array<string | null> }>("SELECT $1::text[] AS texts", [textArray(texts)])
      expect(row!.texts).toEqual(texts)
      const [json] = yield* sql.unsafe<{ j: Array<unknown> }>("SELECT $1::jsonb[] AS j", [
        textArray([JSON.stringify({ a: 'x"y\\z' }), JSON.stringify({})])
      ])
      expect(json!.j).toEqual([{ a: 'x"y\\z' }, {}])
    })
  )

  it.scoped("numbers keep their value as float8 and bigint; booleans stay booleans", () =>
    Effect.gen(function* () {
      const sql = yield* storeClient(url)
      const floats = [0, -1.5, 11.127, 1e21, 5e-324, Number.MAX_VALUE, null, Number.POSITIVE_INFINITY]
      const [row] = yield* sql.unsafe<{ f: Array<number | null>; b: Array<string>; nan: boolean }>(
        "SELECT $1::float8[] AS f, $2::bigint[]::text[] AS b, ($3::float8[])[1] = 'NaN'::float8 AS nan",
        [numberArray(floats), numberArray([1705276799991672, 0, -3]), numberArray([Number.NaN])]
      )
      expect(row).toEqual({ f: floats, b: ["1705276799991672", "0", "-3"], nan: true })
      const [bools] = yield* sql.unsafe<{ b: Array<boolean> }>("SELECT $1::bool[] AS b", [booleanArray([true, false, true])])
      expect(bools!.b).toEqual([true, false, true])
    })
  )
})
