import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { fingerprintMysqlText, type MysqlFingerprintOptions } from "../../src/fingerprint/MysqlFingerprint.js"
import { generateCharSoup, generateCorpus } from "./corpus.js"
import { type HarnessOptions, ptFingerprints } from "./ptHarness.js"

// Differential tests against Percona Toolkit 3.2.1 itself (Debian's percona-toolkit, installed by .ci/run).
// pt-query-digest's QueryRewriter is the reference: its Query IDs are the ones users have. pt-fingerprint's
// copy differs in one line (it keeps true/false), and its command line splits input on ";\n", so it is run
// on the statements it can read, with booleans kept on our side, and the final chomp made a no-op as it is
// under pt-fingerprint's record separator.

const corpus = [...generateCorpus(20261128, 6000), ...generateCharSoup(1128, 6000)]

interface Disagreement {
  readonly sql: string
  readonly pt: string
  readonly slowq: string
}

const compare = (
  queries: ReadonlyArray<string>,
  expected: ReadonlyArray<Buffer>,
  options: MysqlFingerprintOptions
): { readonly agreed: number; readonly disagreements: ReadonlyArray<Disagreement> } => {
  const disagreements: Array<Disagreement> = []
  let agreed = 0
  for (let i = 0; i < queries.length; i++) {
    // Bytes, not strings: a lone surrogate reaches pt as the UTF-8 of U+FFFD, as it reaches the MD5 here.
    const ours = Buffer.from(fingerprintMysqlText(queries[i]!, options), "utf8")
    if (ours.equals(expected[i]!)) agreed++
    else disagreements.push({ sql: queries[i]!, pt: expected[i]!.toString("utf8"), slowq: ours.toString("utf8") })
  }
  return { agreed, disagreements }
}

const report = (label: string, agreed: number, total: number): void => {
  console.log(`${label}: ${agreed}/${total} agree (${((agreed / total) * 100).toFixed(3)}%)`)
}

const against = (harness: HarnessOptions, options: MysqlFingerprintOptions, label: string) =>
  Effect.gen(function* () {
    const expected = yield* Effect.promise(() => ptFingerprints(corpus, harness))
    const { agreed, disagreements } = compare(corpus, expected, options)
    report(label, agreed, corpus.length)
    expect(disagreements.slice(0, 5)).toEqual([])
    expect(agreed).toBe(corpus.length)
  })

describe("differential: slowq vs Percona Toolkit's fingerprint", () => {
  it.effect("agrees with pt-query-digest's QueryRewriter on every statement", () =>
    against({ tool: "pt-query-digest" }, {}, "pt-query-digest 3.2.1 QueryRewriter"), 120_000)

  it.effect("agrees with it under --preserve-embedded-numbers", () =>
    against(
      { tool: "pt-query-digest", matchEmbeddedNumbers: true },
      { matchEmbeddedNumbers: true },
      "pt-query-digest 3.2.1 QueryRewriter, match_embedded_numbers"
    ), 120_000)

  it.effect("agrees with pt-fingerprint's QueryRewriter once true/false are kept", () =>
    against({ tool: "pt-fingerprint" }, { keepBooleans: true }, "pt-fingerprint 3.2.1 QueryRewriter"), 120_000)

  it.effect("agrees with the pt-fingerprint command on a file of statements", () =>
    Effect.gen(function* () {
      // What pt-fingerprint's main does to each record before fingerprinting it: records end at ";\n",
      // lines starting with "#" go, leading whitespace goes, and a record not starting with a word
      // character is skipped. Statements that would not survive that unchanged are left out.
      const command = { keepBooleans: true, keepTrailingNewline: true }
      const readable = corpus.filter(
        (q) => !q.includes(";\n") && !/^#./m.test(q) && /^\w/.test(q)
      )
      const dir = mkdtempSync(join(tmpdir(), "slowq-ptfp-"))
      try {
        const file = join(dir, "queries.sql")
        writeFileSync(file, readable.map((q) => `${q};\n`).join(""))
        const { stdout } = yield* Effect.promise(() =>
          promisify(execFile)("pt-fingerprint", [file], { encoding: "buffer", maxBuffer: 1 << 28 })
        )
        // One line per statement, except that a fingerprint keeping a newline (an administrator command is
        // returned as it is) spans as many lines as it has: take that many.
        const lines = stdout.toString("utf8").split("\n")
        expect(lines.pop()).toBe("")
        const expected: Array<Buffer> = []
        let at = 0
        for (const q of readable) {
          const span = fingerprintMysqlText(q, command).split("\n").length
          expected.push(Buffer.from(lines.slice(at, at + span).join("\n"), "utf8"))
          at += span
        }
        expect(at).toBe(lines.length)
        const { agreed, disagreements } = compare(readable, expected, command)
        report("pt-fingerprint 3.2.1 command", agreed, readable.length)
        expect(readable.length).toBeGreaterThan(3000)
        expect(disagreements.slice(0, 5)).toEqual([])
        expect(agreed).toBe(readable.length)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }), 120_000)

  it.effect("shows the one difference between pt-fingerprint and pt-query-digest: booleans", () =>
    Effect.gen(function* () {
      const sql = ["SELECT * FROM t WHERE a = true AND b = FALSE"]
      const [digest] = yield* Effect.promise(() => ptFingerprints(sql, { tool: "pt-query-digest" }))
      const [fingerprint] = yield* Effect.promise(() => ptFingerprints(sql, { tool: "pt-fingerprint" }))
      expect([digest!.toString(), fingerprint!.toString()]).toEqual([
        "select * from t where a = ? and b = ?",
        "select * from t where a = true and b = false"
      ])
      expect(fingerprintMysqlText(sql[0]!)).toBe(digest!.toString())
    }))
})
