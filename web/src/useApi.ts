import { useEffect, useState, useSyncExternalStore } from "react"
import { ApiError, type ApiFailure, onTokenChange, readToken } from "./api.js"

export type Loaded<A> =
  | { readonly state: "loading" }
  | { readonly state: "ok"; readonly value: A }
  | { readonly state: "failed"; readonly failure: ApiFailure }

/** The token as kept for this tab; components re-render when it is entered or forgotten. */
export const useToken = () => useSyncExternalStore(onTokenChange, readToken)

/**
 * Runs `load` whenever `key` (what the read depends on: its URL) or the token changes; a read still in flight is
 * aborted, so an answer never lands on a page that asked something else since.
 */
export const useApi = <A>(key: string | null, load: (signal: AbortSignal) => Promise<A>): Loaded<A> => {
  const token = useToken()
  const [loaded, setLoaded] = useState<Loaded<A>>({ state: "loading" })
  // biome-ignore lint/correctness/useExhaustiveDependencies: `key` stands for what `load` reads.
  useEffect(() => {
    if (key === null) return
    const controller = new AbortController()
    setLoaded({ state: "loading" })
    load(controller.signal).then(
      (value) => setLoaded({ state: "ok", value }),
      (error: unknown) => {
        if (controller.signal.aborted) return
        setLoaded({
          state: "failed",
          failure: error instanceof ApiError ? error.failure : { kind: "other", message: String(error) }
        })
      }
    )
    return () => controller.abort()
  }, [key, token])
  return loaded
}
