import { isIP } from "node:net"
import { Option } from "effect"

// DNS rebinding: a web page from attacker.example, whose name the attacker then points at 127.0.0.1, can read the
// API from the user's browser, as same-origin. The browser still sends `Host: attacker.example`; refusing Host
// values that are not a name of this server closes that hole (as Jupyter and many dev servers do). An IP literal in
// Host cannot be an attacker's name, but only the address the client actually connected to is taken.

/** Which Host values the API answers: any, or localhost, the address connected to and the listed names. */
export type HostPolicy =
  | { readonly _tag: "Any" }
  | { readonly _tag: "Listed"; readonly names: ReadonlyArray<string> }

const hostPattern = /^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*)(:(\d{1,5}))?$/i

/**
 * The canonical host name of a Host header or of a configured name, without its port: lower case, IPv6 in brackets
 * and shortened, IPv4 as four numbers. None for anything that is not a host name with an optional port.
 */
export const canonicalHost = (text: string): Option.Option<string> => {
  const match = hostPattern.exec(text.trim())
  if (match === null) return Option.none()
  if (match[6] !== undefined && Number(match[6]) > 65_535) return Option.none()
  const name = match[1]!
  if (name.startsWith("[") && isIP(name.slice(1, -1)) !== 6) return Option.none()
  try {
    // The WHATWG parser canonicalizes addresses ([0:0::1] → [::1], 2130706433 → 127.0.0.1) as browsers send them.
    return Option.some(new URL(`http://${name}/`).hostname)
  } catch {
    return Option.none()
  }
}

/** The address a socket was reached at, as a Host header would name it: IPv4-mapped IPv6 as IPv4, IPv6 in brackets. */
export const hostOfLocalAddress = (address: string): string => {
  const unmapped = address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1")
  return isIP(unmapped) === 6 ? `[${unmapped}]` : unmapped
}

/**
 * Whether a request may be answered: its Host header (any port) is localhost, the address the client connected to,
 * or a listed name; or the policy allows any.
 */
export const hostAllowed = (policy: HostPolicy, header: string | undefined, localAddress: string | undefined): boolean => {
  if (policy._tag === "Any") return true
  if (header === undefined) return false
  const host = canonicalHost(header)
  if (Option.isNone(host)) return false
  return (
    host.value === "localhost" ||
    (localAddress !== undefined && host.value === hostOfLocalAddress(localAddress)) ||
    policy.names.includes(host.value)
  )
}

/** Probes answer whatever the Host: they tell nothing worth stealing, and orchestrators send an address or a pod name. */
export const hostCheckExempt = (path: string): boolean => path === "/healthz" || path === "/readyz"
