import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Either, Option, ParseResult, Redacted, Schema } from "effect"
import { parse } from "yaml"
import { Config, parsePostgresUrl } from "./config.js"
import { plugin } from "./index.js"

const decode = Schema.decodeUnknownEither(Config)

describe("postgres_pg_stat_statements config", () => {
  it("decodes the sample pipeline's source with every default filled in", () => {
    const document: unknown = parse(readFileSync(new URL("./sample.yaml", import.meta.url), "utf8"))
    expect(document).toMatchObject({
      name: "sample_postgres_pg_stat_statements",
      schedule: { every: "1m" }
    })
    // No stages: the runtime fingerprints every event itself.
    expect(Object.keys(document as object)).not.toContain("stages")
    const config = Either.getOrThrow(decode((document as { readonly source: unknown }).source))
    expect(Redacted.value(config.url)).toBe("postgres://postgres@127.0.0.1:5432/postgres")
    expect({ ...config, url: "redacted" }).toEqual({
      type: "postgres_pg_stat_statements",
      url: "redacted",
      include_databases: [],
      exclude_databases: [],
      min_calls: 1,
      min_mean_ms: 0,
      include_utility: true,
      include_nested: false,
      text_cache_bytes: 1_048_576,
      connect_timeout_ms: 5000,
      query_timeout_ms: 30_000
    })
  })

  it("takes every option", () => {
    const config = Either.getOrThrow(
      decode({
        type: "postgres_pg_stat_statements",
        url: "postgresql://slowq@db.example:6432/app?sslmode=verify-full",
        password: "s3cret",
        include_databases: ["app", "billing"],
        exclude_databases: ["billing"],
        min_calls: 10,
        min_mean_ms: 2.5,
        top_n: 100,
        include_utility: false,
        include_nested: true,
        text_cache_bytes: 0,
        connect_timeout_ms: 100,
        query_timeout_ms: 600_000
      })
    )
    expect(Redacted.value(config.password!)).toBe("s3cret")
    expect([
      config.include_databases,
      config.exclude_databases,
      config.min_calls,
      config.min_mean_ms,
      config.top_n,
      config.include_utility,
      config.include_nested,
      config.text_cache_bytes
    ]).toEqual([["app", "billing"], ["billing"], 10, 2.5, 100, false, true, 0])
  })

  it("rejects a URL slowq cannot use without echoing it, since it may hold a password", () => {
    for (const url of [
      "mysql://slowq:hunter2@db:5432/app",
      "postgres://db:5432/app",
      "postgres://slowq:hunter2@db:5432",
      "postgres://slowq:hunter2@db:5432/app?sslmode=prefer",
      "postgres://slowq:hunter2@db:5432/app?options=-c",
      "not a url hunter2"
    ]) {
      const result = decode({ type: "postgres_pg_stat_statements", url })
      expect(Either.isLeft(result), url).toBe(true)
      const text = Either.isLeft(result) ? ParseResult.TreeFormatter.formatErrorSync(result.left) : ""
      expect(text).toContain(
        "Expected a URL like postgres://user@host:5432/database (user, host and database required; the only query parameter is sslmode=disable|require|verify-full); the value is not shown because it may hold a password"
      )
      expect(text).not.toContain("hunter2")
    }
  })

  it("rejects out-of-range numbers", () => {
    const base = { type: "postgres_pg_stat_statements", url: "postgres://postgres@127.0.0.1/postgres" }
    for (const bad of [
      { min_calls: 0 },
      { min_mean_ms: -1 },
      { top_n: 0 },
      { text_cache_bytes: -1 },
      { text_cache_bytes: 16 * 1024 * 1024 + 1 },
      { connect_timeout_ms: 99 },
      { include_databases: [""] }
    ]) {
      expect(Either.isLeft(decode({ ...base, ...bad })), JSON.stringify(bad)).toBe(true)
    }
  })

  it("parses the URL into what the driver needs", () => {
    expect(parsePostgresUrl("postgres://postgres@127.0.0.1/postgres")).toEqual({
      host: "127.0.0.1",
      port: 5432,
      user: "postgres",
      database: "postgres",
      passwordFromUrl: undefined,
      sslMode: "disable"
    })
    expect(parsePostgresUrl("postgresql://sl%40wq:p%2Fw@[::1]:6543/my%20db?sslmode=require")).toEqual({
      host: "::1",
      port: 6543,
      user: "sl@wq",
      database: "my db",
      passwordFromUrl: "p/w",
      sslMode: "require"
    })
  })

  it("tells stages how to reach the same database", () => {
    const config = Either.getOrThrow(
      decode({ type: "postgres_pg_stat_statements", url: "postgres://slowq@db/app", password: "pw" })
    )
    const connection = Option.getOrThrow(plugin.connection(config))
    expect(Redacted.value(connection.url)).toBe("postgres://slowq@db/app")
    expect(Option.map(connection.password, Redacted.value)).toEqual(Option.some("pw"))
    expect([plugin.type, plugin.dialect]).toEqual(["postgres_pg_stat_statements", "postgres"])
  })
})
