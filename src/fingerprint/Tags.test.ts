import { describe, expect, it } from "@effect/vitest"
import { parseTags } from "./Tags.js"

// The comment's text without delimiters, as the lexer reports it.
const tagsOf = (comment: string) => parseTags(comment, [0, comment.length])

describe("parseTags", () => {
  it("reads sqlcommenter: quoted, URL-encoded values, escaped quotes", () => {
    expect(tagsOf("controller='index',framework='spring%20boot',route='%2Fpolls%201000',q='it\\'s'")).toEqual({
      controller: "index",
      framework: "spring boot",
      route: "/polls 1000",
      q: "it's"
    })
  })

  it("reads marginalia and Rails query log tags", () => {
    expect(tagsOf(" application:Shop,controller:orders,action:show,line:/app/models/order.rb:12:in `find' ")).toEqual({
      application: "Shop",
      controller: "orders",
      action: "show",
      line: "/app/models/order.rb:12:in `find'"
    })
  })

  it("ignores comments that are not a list of tags", () => {
    for (const text of ["TODO: fix this", "c", "", "a='unterminated", "a=b c", "=x", "a:"]) {
      expect([text, tagsOf(text)]).toEqual([text, {}])
    }
  })

  it("keeps the last value of a key and never sets __proto__", () => {
    const sql = "/*a='1'*/ SELECT 1 /*a='2',__proto__='x'*/"
    const second = sql.indexOf("/*", 2) + 2
    const tags = parseTags(sql, [2, sql.indexOf("*/"), second, sql.length - 2])
    expect(tags).toEqual({ a: "2" })
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype)
  })

  it("keeps a malformed percent-encoding as written", () => {
    expect(tagsOf("route='%E0%A4%A'")).toEqual({ route: "%E0%A4%A" })
  })
})
