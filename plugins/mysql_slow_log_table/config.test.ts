import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Either, ParseResult, Redacted, Schema } from "effect"
import { parse } from "yaml"
import { Config, parseMysqlUrl } from "./config.js"

const decode = Schema.decodeUnknownEither(Config)

describe("mysql_slow_log_table config", () => {
  it("decodes the sample pipeline's source with every default filled in", () => {
    const document: unknown = parse(readFileSync(new URL("./sample.yaml", import.meta.url), "utf8"))
    expect(document).toMatchObject({
      name: "sample_mysql_slow_log_table",
      schedule: { every: "30s" }
    })
    // No stages: the runtime fingerprints every event itself.
    expect(Object.keys(document as object)).not.toContain("stages")
    const source = (document as { readonly source: unknown }).source
    const config = Either.getOrThrow(decode(source))
    expect(Redacted.value(config.url)).toBe("mysql://root@127.0.0.1:3306/test")
    expect({ ...config, url: "redacted" }).toEqual({
      type: "mysql_slow_log_table",
      url: "redacted",
      batch_size: 5000,
      overlap_seconds: 60,
      max_connections: 2,
      connect_timeout_ms: 5000
    })
  })

  it("takes every option", () => {
    const config = Either.getOrThrow(
      decode({
        type: "mysql_slow_log_table",
        url: "mysql://slowq@db.example:3307",
        password: "s3cret",
        batch_size: 100_000,
        overlap_seconds: 0,
        log_time_zone: "+05:00",
        max_connections: 1,
        connect_timeout_ms: 100
      })
    )
    expect(Redacted.value(config.password!)).toBe("s3cret")
    expect([config.batch_size, config.overlap_seconds, config.log_time_zone, config.max_connections]).toEqual([
      100_000,
      0,
      "+05:00",
      1
    ])
  })

  it("rejects a URL slowq cannot use without echoing it, since it may hold a password", () => {
    for (const url of [
      "http://slowq:hunter2@db:3306/test",
      "mysql://db:3306/test",
      "mysql://slowq:hunter2@db:3306/test?ssl=true",
      "not a url hunter2"
    ]) {
      const result = decode({ type: "mysql_slow_log_table", url })
      expect(Either.isLeft(result)).toBe(true)
      const text = Either.isLeft(result) ? ParseResult.TreeFormatter.formatErrorSync(result.left) : ""
      expect(text).toContain(
        "Expected a URL like mysql://user@host:3306/db (user and host required, no query string); the value is not shown because it may hold a password"
      )
      expect(text).not.toContain("hunter2")
    }
  })

  it("rejects out-of-range numbers and unknown time zones", () => {
    const base = { type: "mysql_slow_log_table", url: "mysql://root@127.0.0.1/test" }
    expect(Either.isLeft(decode({ ...base, batch_size: 0 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, batch_size: 100_001 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, overlap_seconds: -1 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, max_connections: 11 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, log_time_zone: "5 hours" }))).toBe(true)
    expect(Either.isRight(decode({ ...base, log_time_zone: "Europe/Berlin" }))).toBe(true)
  })

  it("parses the URL into what the driver needs", () => {
    expect(parseMysqlUrl("mysql://root@127.0.0.1:3306/test")).toEqual({
      host: "127.0.0.1",
      port: 3306,
      user: "root",
      database: "test",
      passwordFromUrl: undefined
    })
    expect(parseMysqlUrl("mariadb://sl%40wq:p%3Ass@[::1]")).toEqual({
      host: "::1",
      port: 3306,
      user: "sl@wq",
      database: undefined,
      passwordFromUrl: "p:ss"
    })
    expect(parseMysqlUrl("mysql://root@h:3306/a/b")).toBeUndefined()
    expect(parseMysqlUrl("postgres://root@h/db")).toBeUndefined()
  })
})
