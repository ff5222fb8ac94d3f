// The slowq image's HEALTHCHECK: GET /readyz on the address the daemon listens on (SLOWQ_HTTP_ADDR, as the image
// sets it), reached over loopback when it listens on every address. Exits 0 when ready, 1 otherwise.
// No token is needed: /readyz is open, and answers any Host header.
const address = process.env.SLOWQ_HTTP_ADDR ?? "127.0.0.1:8080"
const colon = address.lastIndexOf(":")
let host = address.slice(0, colon)
const port = address.slice(colon + 1)
if (host === "0.0.0.0" || host === "") host = "127.0.0.1"
if (host === "[::]") host = "[::1]"
try {
  const response = await fetch(`http://${host}:${port}/readyz`, { signal: AbortSignal.timeout(4000) })
  process.exitCode = response.ok ? 0 : 1
  if (!response.ok) console.error(`/readyz answered ${response.status}`)
} catch (error) {
  console.error(`/readyz: ${error instanceof Error ? (error.cause?.message ?? error.message) : error}`)
  process.exitCode = 1
}
