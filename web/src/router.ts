import { useSyncExternalStore } from "react"

// A router of a few lines: the page and its state live in the URL (path and search parameters), so that a link can
// be shared; navigation is history.pushState plus a notification.

const listeners = new Set<() => void>()
const notify = () => {
  for (const listener of listeners) listener()
}
window.addEventListener("popstate", notify)

const subscribe = (listener: () => void) => {
  listeners.add(listener)
  return () => {
    listeners.delete(listener)
  }
}

const current = () => window.location.pathname + window.location.search

/** The current path and search, re-rendering on every navigation. */
export const useLocation = () => {
  const href = useSyncExternalStore(subscribe, current)
  const url = new URL(href, window.location.origin)
  return { path: url.pathname, search: url.searchParams }
}

export const navigate = (href: string, options: { readonly replace?: boolean } = {}) => {
  if (href === current()) return
  if (options.replace === true) window.history.replaceState(null, "", href)
  else window.history.pushState(null, "", href)
  window.scrollTo(0, 0)
  notify()
}

/** `path?search` with empty values left out. */
export const hrefOf = (path: string, params: Record<string, string | undefined>) => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") search.set(key, value)
  const text = search.toString()
  return text === "" ? path : `${path}?${text}`
}

/** A plain left click on a link navigates in the page; others (new tab, …) are the browser's. */
export const onLinkClick = (event: React.MouseEvent<HTMLAnchorElement>) => {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
  event.preventDefault()
  navigate(event.currentTarget.getAttribute("href") ?? "/")
}
