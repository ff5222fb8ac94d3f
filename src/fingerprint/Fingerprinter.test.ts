import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Fingerprinter, fingerprintMysql } from "./Fingerprinter.js"

layer(Fingerprinter.layer)("Fingerprinter", (it) => {
  it.effect("fingerprints MySQL like pt-query-digest and classifies with the tokenizer", () =>
    Effect.gen(function* () {
      const fingerprinter = yield* Fingerprinter
      expect(
        fingerprinter.fingerprint(
          "SELECT * FROM shop.orders WHERE id IN (1, 2, 3) AND paid = TRUE /*controller='orders',action='show'*/",
          "mysql"
        )
      ).toEqual({
        // Both from pt-query-digest 3.2.1's QueryRewriter and make_checksum (the comment leaves a space behind).
        fingerprint: "select * from shop.orders where id in(?+) and paid = ? ",
        queryId: "2179E36ADA326AAC633F625374675C1A",
        statementType: "select",
        readOnly: true,
        tables: ["shop.orders"],
        multiStatement: false,
        truncated: false,
        tags: { controller: "orders", action: "show" },
        parser: "tokenizer"
      })
    })
  )

  it.effect("honours matchEmbeddedNumbers", () =>
    Effect.gen(function* () {
      const fingerprinter = yield* Fingerprinter
      expect(fingerprinter.fingerprint("SELECT * FROM users_2009", "mysql").fingerprint).toBe("select * from users_?")
      expect(
        fingerprinter.fingerprint("SELECT * FROM users_2009", "mysql", { matchEmbeddedNumbers: true }).fingerprint
      ).toBe("select * from users_2009")
    })
  )

  it.effect("fingerprints PostgreSQL with libpg_query", () =>
    Effect.gen(function* () {
      const fingerprinter = yield* Fingerprinter
      yield* fingerprinter.prepare("postgres")
      const literal = fingerprinter.fingerprint("SELECT * FROM users WHERE id = 5 AND name = 'bob'", "postgres")
      const pgss = fingerprinter.fingerprint("select * from users where id = $1 and name = $2", "postgres")
      expect(literal).toEqual({
        fingerprint: "SELECT * FROM users WHERE id = $1 AND name = $2",
        queryId: "eb6afdd7040bea4c",
        statementType: "select",
        readOnly: true,
        tables: ["users"],
        multiStatement: false,
        truncated: false,
        tags: {},
        parser: "libpg_query"
      })
      expect(pgss.queryId).toBe(literal.queryId)
    })
  )

  it.effect("never throws: empty text, garbage, huge text", () =>
    Effect.gen(function* () {
      const fingerprinter = yield* Fingerprinter
      yield* fingerprinter.prepare("postgres")
      const garbage = String.fromCharCode(...Array.from({ length: 2000 }, (_, i) => (i * 7919) % 65536))
      for (const dialect of ["mysql", "postgres"] as const) {
        expect(fingerprinter.fingerprint("", dialect).statementType).toBe("other")
        expect(fingerprinter.fingerprint(garbage, dialect).fingerprint.length).toBeGreaterThan(0)
        expect(fingerprinter.fingerprint(`SELECT '${"x".repeat(10_000_000)}'`, dialect).statementType).toBe("select")
      }
    })
  )
})

describe("fingerprintMysql", () => {
  it("is the same engine as a plain function", () => {
    expect(fingerprintMysql("SELECT * FROM t WHERE a = 1")).toEqual({
      fingerprint: "select * from t where a = ?",
      queryId: "E630D2FEB6D5BB9184AFF9783CD458FF",
      statementType: "select",
      readOnly: true,
      tables: ["t"],
      multiStatement: false,
      truncated: false,
      tags: {},
      parser: "tokenizer"
    })
  })
})
