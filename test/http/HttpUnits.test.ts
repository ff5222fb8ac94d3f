import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Metric, MetricBoundaries, Option, ParseResult, Redacted, Schema } from "effect"
import { TimeParam } from "../../src/http/Api.js"
import { tokensMatch } from "../../src/http/ApiAuth.js"
import { chooseBucketSeconds, scrubSecrets } from "../../src/http/Handlers.js"
import { canonicalHost, hostAllowed, hostOfLocalAddress } from "../../src/http/HostCheck.js"
import { hostPolicy, isLoopback, parseAddress, parseAllowedHosts } from "../../src/http/HttpApiSettings.js"
import { familiesFromSnapshot, gaugeFamilies, renderFamilies } from "../../src/http/Prometheus.js"
import { expositionProblems, parsePrometheus, sampleValue } from "./PrometheusText.js"

describe("SLOWQ_HTTP_ADDR", () => {
  it("parses HOST:PORT and [IPV6]:PORT, and nothing else", () => {
    expect(parseAddress("127.0.0.1:8080")).toEqual(Option.some({ host: "127.0.0.1", port: 8080 }))
    expect(parseAddress("0.0.0.0:0")).toEqual(Option.some({ host: "0.0.0.0", port: 0 }))
    expect(parseAddress("[::1]:9000")).toEqual(Option.some({ host: "::1", port: 9000 }))
    expect(parseAddress("localhost:80")).toEqual(Option.some({ host: "localhost", port: 80 }))
    for (const bad of ["8080", ":8080", "127.0.0.1", "127.0.0.1:65536", "::1:80", "[nothost]:80", "a b:80", "h:-1", "h:80x"]) {
      expect([bad, Option.isNone(parseAddress(bad))]).toEqual([bad, true])
    }
  })

  it("treats only 127/8, ::1 and localhost as loopback", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", "localhost"].map(isLoopback)).toEqual([true, true, true, true])
    expect(["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "127.example.com", "::ffff:127.0.0.1"].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false
    ])
  })
})

describe("the bearer token check", () => {
  it("matches only the exact token, whatever the lengths", () => {
    const token = Redacted.make("s3cret-token-0123456789")
    expect(tokensMatch("s3cret-token-0123456789", token)).toBe(true)
    expect(tokensMatch("s3cret-token-012345678", token)).toBe(false)
    expect(tokensMatch("s3cret-token-01234567890", token)).toBe(false)
    expect(tokensMatch("", token)).toBe(false)
    expect(tokensMatch("S3cret-token-0123456789", token)).toBe(false)
  })
})

describe("run errors shown over HTTP", () => {
  it("hide passwords of URLs and of key=value connection strings", () => {
    expect(scrubSecrets("cannot connect to mysql://root:hunter2@db:3306/x: refused")).toBe(
      "cannot connect to mysql://root:***@db:3306/x: refused"
    )
    expect(scrubSecrets("dsn host=db password=hunter2 user=x")).toBe("dsn host=db password=*** user=x")
    expect(scrubSecrets("PASSWORD: 'a b c', next")).toBe("PASSWORD: ***, next")
    expect(scrubSecrets("connect ECONNREFUSED 127.0.0.1:1")).toBe("connect ECONNREFUSED 127.0.0.1:1")
  })
})

describe("series buckets", () => {
  it("are the smallest usual width giving at most 200 points", () => {
    expect([3_600_000, 86_400_000, 7 * 86_400_000, 30 * 86_400_000, 400 * 86_400_000].map(chooseBucketSeconds)).toEqual([
      60,
      900,
      3600,
      21_600,
      172_800
    ])
  })
})

describe("Prometheus text", () => {
  it("is checked strictly by the test's own reading of the format", () => {
    expect(expositionProblems("# TYPE a counter\na 1\n")).toEqual([])
    expect(expositionProblems("a abc\n")).toEqual(["line 1: a abc: not a sample, HELP or TYPE line"])
    expect(expositionProblems("# TYPE a counter\na{x=\"1\" 1\n")).toEqual(['line 2: a{x="1" 1: not a sample, HELP or TYPE line'])
    expect(expositionProblems("# TYPE a counter\n# TYPE b gauge\nb 1\na 2\n")).toEqual(["line 4: a 2: sample outside its family's block"])
    expect(expositionProblems('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n')).toEqual([
      "h: bucket counts decrease"
    ])
    expect(expositionProblems("# TYPE a counter\na 1")).toEqual(["does not end with a newline"])
  })

  it.effect("renders counters, gauges and histograms that a Prometheus parser reads back exactly", () =>
    Effect.gen(function* () {
      const counter = Metric.counter("slowq_test_events_total", { description: "Events.", incremental: true })
      const gauge = Metric.gauge("slowq_test_last_seconds", { description: 'A "quoted" help\\ with\nnewline.' })
      const histogram = Metric.histogram("slowq_test_seconds", MetricBoundaries.fromIterable([0.1, 1]), "Durations.")
      yield* Metric.incrementBy(Metric.tagged(counter, "pipeline", 'we"ird\\name\n'), 3)
      yield* Metric.incrementBy(Metric.tagged(counter, "pipeline", "b"), 2)
      yield* Metric.set(gauge, 1.5)
      yield* Metric.update(Metric.tagged(histogram, "pipeline", "a"), 0.05)
      yield* Metric.update(Metric.tagged(histogram, "pipeline", "a"), 0.5)
      yield* Metric.update(Metric.tagged(histogram, "pipeline", "a"), 5)
      yield* Metric.increment(Metric.counter("other_prefix_total"))
      const text = renderFamilies(familiesFromSnapshot(yield* Metric.snapshot, "slowq_test_"))
      const parsed = parsePrometheus(text)
      expect(parsed.map((f) => [f.name, f.type])).toEqual([
        ["slowq_test_events_total", "COUNTER"],
        ["slowq_test_last_seconds", "GAUGE"],
        ["slowq_test_seconds", "HISTOGRAM"]
      ])
      const counters = parsed[0]!.metrics.map((m) => [m.labels?.pipeline, m.value]).sort()
      expect(counters).toEqual([
        ["b", "2"],
        ['we"ird\\name\n', "3"]
      ])
      expect(parsed[1]!.help).toBe('A "quoted" help\\ with\nnewline.')
      expect(parsed[1]!.metrics).toEqual([{ value: "1.5" }])
      // The parser merges a histogram's label sets; its samples are read from the text instead.
      expect(parsed[2]!.metrics).toEqual([{ buckets: { "0.1": "1", "1": "2", "+Inf": "3" } }])
      expect(
        ["0.1", "1", "+Inf"].map((le) => sampleValue(text, "slowq_test_seconds_bucket", { pipeline: "a", le }))
      ).toEqual([1, 2, 3])
      expect(sampleValue(text, "slowq_test_seconds_sum", { pipeline: "a" })).toBe(5.55)
      expect(sampleValue(text, "slowq_test_seconds_count", { pipeline: "a" })).toBe(3)
      expect(expositionProblems(text)).toEqual([])
      expect(text).not.toContain("other_prefix_total")
    })
  )

  it("renders a stage's gauges, and leaves out whole a family whose name or label Prometheus refuses", () => {
    const { families, refused } = gaugeFamilies([
      {
        name: "slowq_test_queries",
        help: "Queries.",
        samples: [
          { labels: [["pipeline", "a"], ["status", "plan"]], value: 2 },
          { labels: [["pipeline", "b"], ["status", "failed"]], value: 0.5 }
        ]
      },
      { name: "slowq-test-dashed", help: "A name with dashes.", samples: [{ labels: [], value: 1 }] },
      { name: "slowq_test_labels", help: "A bad label.", samples: [{ labels: [["ok", "1"]], value: 1 }, { labels: [["bad-label", "x"]], value: 1 }] },
      { name: "slowq_test_le", help: "A reserved label.", samples: [{ labels: [["le", "1"]], value: 1 }] }
    ])
    expect(refused).toEqual(["slowq-test-dashed", "slowq_test_labels", "slowq_test_le"])
    const text = renderFamilies(families)
    expect(text).toBe(
      '# HELP slowq_test_queries Queries.\n# TYPE slowq_test_queries gauge\nslowq_test_queries{pipeline="a",status="plan"} 2\nslowq_test_queries{pipeline="b",status="failed"} 0.5\n'
    )
    expect(expositionProblems(text)).toEqual([])
  })
})

describe("the Host check (DNS rebinding)", () => {
  const listed = (...names: Array<string>) => ({ _tag: "Listed", names }) as const

  it("answers localhost, the address connected to and the listed names, with any port; nothing else", () => {
    const policy = listed("slowq.internal", "[fd00::5]")
    const allowed = (header: string | undefined, local = "127.0.0.1") => hostAllowed(policy, header, local)
    expect(
      ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:8080", "slowq.internal:9", "[fd00::5]:80", "[FD00:0::5]"].map((h) =>
        allowed(h)
      )
    ).toEqual([true, true, true, true, true, true, true])
    expect(
      [
        "attacker.example",
        "attacker.example:8080",
        "127.0.0.2",
        "localhost.attacker.example",
        "slowq.internal.attacker.example",
        "127.0.0.1:99999",
        "127.0.0.1:80/x",
        "user@127.0.0.1",
        "",
        undefined
      ].map((h) => allowed(h))
    ).toEqual([false, false, false, false, false, false, false, false, false, false])
    expect([allowed("[::1]:8080", "::1"), allowed("10.0.0.5", "::ffff:10.0.0.5"), allowed("[::1]", "127.0.0.1")]).toEqual([
      true,
      true,
      false
    ])
    expect(hostAllowed({ _tag: "Any" }, "attacker.example", "0.0.0.0")).toBe(true)
  })

  it("canonicalizes names and addresses as browsers send them", () => {
    expect(["Example.COM:80", "[0:0:0:0:0:0:0:1]:1", "2130706433", "a b", "[nothost]"].map(canonicalHost)).toEqual([
      Option.some("example.com"),
      Option.some("[::1]"),
      Option.some("127.0.0.1"),
      Option.none(),
      Option.none()
    ])
    expect(["127.0.0.1", "::1", "::ffff:192.168.1.2"].map(hostOfLocalAddress)).toEqual(["127.0.0.1", "[::1]", "192.168.1.2"])
  })

  it("allows any Host only on a network address whose reads need the token, without a list", () => {
    const policy = (host: string, token: boolean, publicRead: boolean, allowedHosts: Array<string> = []) =>
      hostPolicy({ host, token, publicRead, allowedHosts })._tag
    expect([
      policy("0.0.0.0", true, false),
      policy("::", true, false),
      policy("10.0.0.5", true, false),
      policy("0.0.0.0", true, true),
      policy("0.0.0.0", true, false, ["slowq.internal"]),
      policy("127.0.0.1", true, false),
      policy("127.0.0.1", false, false)
    ]).toEqual(["Any", "Any", "Any", "Listed", "Listed", "Listed", "Listed"])
  })

  it.effect("SLOWQ_HTTP_ALLOWED_HOSTS: names and addresses without ports, each problem named", () =>
    Effect.gen(function* () {
      expect(yield* parseAllowedHosts(" Slowq.Internal, 10.0.0.5,fd00::5,[fd00::6],")).toEqual([
        "slowq.internal",
        "10.0.0.5",
        "[fd00::5]",
        "[fd00::6]"
      ])
      expect(yield* parseAllowedHosts("")).toEqual([])
      const problem = (text: string) => parseAllowedHosts(text).pipe(Effect.flip, Effect.map((e) => e.message))
      expect(yield* problem("slowq.internal:8080")).toBe(
        'SLOWQ_HTTP_ALLOWED_HOSTS: "slowq.internal:8080" has a port; give the name alone (any port is accepted)'
      )
      expect(yield* problem("ok.example,http://x/")).toBe(
        'SLOWQ_HTTP_ALLOWED_HOSTS: "http://x/" is not a host name or address; expected comma-separated names such as slowq.internal,10.0.0.5,[fd00::5]'
      )
    })
  )
})

describe("time parameters", () => {
  const decode = (text: string) =>
    Either.mapLeft(Schema.decodeEither(TimeParam)(text), (error) =>
      ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => issue.message)
    )

  it("take ISO 8601 or a duration of at most 36500d", () => {
    expect(decode("2024-05-01T12:00:00Z")).toEqual(Either.right({ _tag: "At", date: new Date("2024-05-01T12:00:00Z") }))
    expect(decode("36500d")).toEqual(Either.right({ _tag: "Ago", millis: 36_500 * 86_400_000 }))
    expect(decode("3000000d")).toEqual(
      Either.left(['Expected a duration back from now of at most 36500d (100 years), actual "3000000d"'])
    )
    expect(decode("36500d1s")).toEqual(
      Either.left(['Expected a duration back from now of at most 36500d (100 years), actual "36500d1s"'])
    )
  })
})
