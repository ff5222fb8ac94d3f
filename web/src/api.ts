import type { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import type { Schema } from "effect"
import type {
  FindingList,
  PipelineList,
  PipelineView,
  QueryDetail,
  QueryFindingList,
  QueryList,
  RollupSeries,
  RunAccepted,
  SchedulerState,
  SeriesBatch,
  SlowqApi
} from "../../src/http/Api.js"
import type { ExplainView, PlanView } from "../../plugins/explain/PlanStore.js"
import type { QueryFacets } from "../../src/http/Api.js"

// The API's types come from the server's own definition (src/http/Api.ts), type-only: the answers are the JSON the
// schemas encode to (Schema.Encoded: dates as ISO text), the parameters the keys each endpoint's schema declares. No
// Effect code reaches the browser: decoding with the schemas would need Api.ts's runtime imports (the store's
// readers), and Effect's Schema alone would more than double the page's JavaScript. The answers are trusted as
// this server's own; what the page reads of them is drawn as text.

type Groups = SlowqApi extends HttpApi.HttpApi<string, infer G, infer _E, infer _R> ? G : never
type GroupName = HttpApiGroup.HttpApiGroup.Name<Groups>
type Endpoint<G extends GroupName, N extends string> = HttpApiEndpoint.HttpApiEndpoint.WithName<
  HttpApiGroup.HttpApiGroup.EndpointsWithName<Groups, G>,
  N
>
/** The URL parameters of an endpoint, as sent: any of the keys its schema declares, each as text. */
export type Params<G extends GroupName, N extends string> = {
  readonly [K in keyof HttpApiEndpoint.HttpApiEndpoint.UrlParams<Endpoint<G, N>>]?: string
}

export type QueryListJson = Schema.Schema.Encoded<typeof QueryList>
export type QueryListItemJson = QueryListJson["queries"][number]
export type QueryOrder = QueryListJson["order"]
export type QueryFacetsJson = Schema.Schema.Encoded<typeof QueryFacets>
export type FacetCountJson = QueryFacetsJson["databases"][number]
export type QueryDetailJson = Schema.Schema.Encoded<typeof QueryDetail>
export type QuerySampleJson = QueryDetailJson["samples"][number]
export type SeriesJson = Schema.Schema.Encoded<typeof RollupSeries>
export type SeriesPointJson = SeriesJson["points"][number]
export type SeriesBatchJson = Schema.Schema.Encoded<typeof SeriesBatch>
export type SparkSeriesJson = SeriesBatchJson["series"][number]
export type FindingListJson = Schema.Schema.Encoded<typeof FindingList>
export type FindingJson = FindingListJson["findings"][number]
export type Severity = FindingJson["severity"]
export type QueryFindingListJson = Schema.Schema.Encoded<typeof QueryFindingList>
export type PipelineListJson = Schema.Schema.Encoded<typeof PipelineList>
export type PipelineJson = Schema.Schema.Encoded<typeof PipelineView>
export type RunAcceptedJson = Schema.Schema.Encoded<typeof RunAccepted>
export type SchedulerStateJson = Schema.Schema.Encoded<typeof SchedulerState>
export type PlanJson = Schema.Schema.Encoded<typeof PlanView>
export type ExplainJson = Schema.Schema.Encoded<typeof ExplainView>

/**
 * The explain stage's fields of a query's detail (an enrichment: plugins/explain/PlanStore.ts declares them, so
 * Api.ts's core QueryDetail does not name them). Absent when no explain plugin is registered.
 */
export interface ExplainFieldsJson {
  readonly plan_known?: boolean
  readonly explain?: ReadonlyArray<ExplainJson>
  readonly plans?: ReadonlyArray<PlanJson>
}
export const explainFieldsOf = (detail: QueryDetailJson): ExplainFieldsJson => detail as QueryDetailJson & ExplainFieldsJson

/** Why a read failed, as the page explains it. */
export type ApiFailure =
  | { readonly kind: "token-missing"; readonly message: string }
  | { readonly kind: "token-wrong"; readonly message: string }
  | { readonly kind: "not-found"; readonly message: string }
  | { readonly kind: "bad-request"; readonly message: string }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "unreachable"; readonly message: string }
  | { readonly kind: "other"; readonly message: string }

export class ApiError extends Error {
  constructor(readonly failure: ApiFailure) {
    super(failure.message)
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The token: entered once, kept for the tab's session (sessionStorage), sent as `Authorization: Bearer …` (ApiAuth.ts).

const tokenKey = "slowq.token"
const tokenListeners = new Set<() => void>()

export const readToken = (): string | null => sessionStorage.getItem(tokenKey)

export const setToken = (token: string | null) => {
  if (token === null || token.trim() === "") sessionStorage.removeItem(tokenKey)
  else sessionStorage.setItem(tokenKey, token.trim())
  for (const listener of tokenListeners) listener()
}

export const onTokenChange = (listener: () => void) => {
  tokenListeners.add(listener)
  return () => {
    tokenListeners.delete(listener)
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Reads

const messageOf = (body: unknown, fallback: string) =>
  typeof body === "object" && body !== null && "message" in body && typeof body.message === "string"
    ? body.message
    : fallback

const failureOf = (status: number, body: unknown): ApiFailure => {
  const message = messageOf(body, `slowq answered ${status}`)
  if (status === 401) return { kind: "token-missing", message }
  if (status === 403) return { kind: "token-wrong", message }
  if (status === 404) return { kind: "not-found", message }
  if (status === 400) return { kind: "bad-request", message }
  if (status === 503) return { kind: "unavailable", message }
  return { kind: "other", message }
}

const call = async <A>(
  method: "GET" | "POST",
  path: string,
  params: Record<string, string | undefined>,
  signal?: AbortSignal
): Promise<A> => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") search.set(key, value)
  const query = search.toString()
  const token = readToken()
  let response: Response
  try {
    response = await fetch(query === "" ? path : `${path}?${query}`, {
      method,
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      ...(signal === undefined ? {} : { signal })
    })
  } catch (cause) {
    if (signal?.aborted === true) throw cause
    throw new ApiError({ kind: "unreachable", message: "slowq does not answer: is `slowq run` still running?" })
  }
  const body: unknown = await response.json().catch(() => null)
  if (!response.ok) throw new ApiError(failureOf(response.status, body))
  return body as A
}

const get = <A>(path: string, params: Record<string, string | undefined>, signal: AbortSignal) =>
  call<A>("GET", path, params, signal)

export const listQueries = (params: Params<"queries", "list">, signal: AbortSignal) =>
  get<QueryListJson>("/api/v1/queries", params, signal)

/** The databases, users and statement types the list can be filtered by, with their fingerprints' counts. */
export const getQueryFacets = (params: Params<"queries", "facets">, signal: AbortSignal) =>
  get<QueryFacetsJson>("/api/v1/queries/facets", params, signal)

export const getQuery = (id: string, params: Params<"queries", "get">, signal: AbortSignal) =>
  get<QueryDetailJson>(`/api/v1/queries/${encodeURIComponent(id)}`, params, signal)

export const getSeries = (id: string, params: Params<"queries", "series">, signal: AbortSignal) =>
  get<SeriesJson>(`/api/v1/queries/${encodeURIComponent(id)}/series`, params, signal)

/** Up to 100 queries' calls and time per step at once: a page's sparklines. */
export const getSeriesBatch = (params: Params<"queries", "batch">, signal: AbortSignal) =>
  get<SeriesBatchJson>("/api/v1/series", params, signal)

export const listFindings = (params: Params<"findings", "list">, signal: AbortSignal) =>
  get<FindingListJson>("/api/v1/findings", params, signal)

export const queryFindings = (id: string, params: Params<"findings", "ofQuery">, signal: AbortSignal) =>
  get<QueryFindingListJson>(`/api/v1/queries/${encodeURIComponent(id)}/findings`, params, signal)

export const listPipelines = (signal: AbortSignal) => get<PipelineListJson>("/api/v1/pipelines", {}, signal)

// Control: each needs the token, always (and is disabled on a daemon started without one).

const pipelinePath = (name: string) => `/api/v1/pipelines/${encodeURIComponent(name)}`

export const runPipeline = (name: string) => call<RunAcceptedJson>("POST", `${pipelinePath(name)}/run`, {})
export const pausePipeline = (name: string) => call<PipelineJson>("POST", `${pipelinePath(name)}/pause`, {})
export const resumePipeline = (name: string) => call<PipelineJson>("POST", `${pipelinePath(name)}/resume`, {})
export const pauseScheduler = () => call<SchedulerStateJson>("POST", "/api/v1/scheduler/pause", {})
export const resumeScheduler = () => call<SchedulerStateJson>("POST", "/api/v1/scheduler/resume", {})
