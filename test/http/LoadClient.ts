/**
 * node --import tsx test/http/LoadClient.ts URL CONNECTIONS SECONDS
 *
 * autocannon in a process of its own, so that the load it drives does not delay the test's probes: prints one JSON
 * line with the count of answers per status and how many 503 lacked `Retry-After: 1`.
 */
import autocannon from "autocannon"

const [url, connections, seconds] = process.argv.slice(2)
const statuses: Record<string, number> = {}
let withoutRetryAfter = 0
const result = await autocannon({
  url: url!,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      method: "GET",
      onResponse: (status, _body, _context, headers) => {
        statuses[status] = (statuses[status] ?? 0) + 1
        if (status === 503 && headers?.["retry-after"] !== "1") withoutRetryAfter++
      }
    }
  ]
})
process.stdout.write(`${JSON.stringify({ statuses, withoutRetryAfter, errors: result.errors, timeouts: result.timeouts })}\n`)
