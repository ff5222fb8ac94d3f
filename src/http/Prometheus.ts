import { readdirSync } from "node:fs"
import { Effect, Metric, MetricBoundaries, MetricState, Option } from "effect"
import type { MetricPair } from "effect"
import type { GaugeFamily } from "../plugin/Enrichment.js"

// Effect's metric registry, rendered in the Prometheus text exposition format 0.0.4. Only slowq's own metrics
// (`slowq_*`) are exposed from the registry, plus the usual `process_*` / `nodejs_*` gauges of a Node service.

export const httpRequestsTotal = Metric.counter("slowq_http_requests_total", {
  description: "HTTP requests answered, by method and status code.",
  incremental: true
})

export const httpRequestSeconds = Metric.histogram(
  "slowq_http_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "Time from request to response."
)

export const storeReadsInFlight = Metric.gauge("slowq_http_store_reads_in_flight", {
  description: "API requests running or waiting for a store read slot."
})

export const requestsRefusedTotal = Metric.counter("slowq_http_requests_refused_total", {
  description: "API requests refused with 503 and Retry-After: too many were in flight, or waiting for the store.",
  incremental: true
})

interface Sample {
  readonly suffix: string
  readonly labels: ReadonlyArray<readonly [string, string]>
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  readonly help: string
  readonly samples: Array<Sample>
}

const escapeLabel = (value: string) => value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"')
const escapeHelp = (value: string) => value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")
const validName = (name: string) => /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)
const validLabel = (name: string) => /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) && !name.startsWith("__")

const formatValue = (value: number) =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

const formatLabels = (labels: ReadonlyArray<readonly [string, string]>) =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`

const toNumber = (value: number | bigint) => (typeof value === "bigint" ? Number(value) : value)

/** Renders families: one HELP and TYPE per name, then its samples, names in order. */
export const renderFamilies = (families: Iterable<Family>): string => {
  const lines: Array<string> = []
  for (const family of [...families].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (family.samples.length === 0) continue
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`)
    lines.push(`# TYPE ${family.name} ${family.type}`)
    for (const sample of family.samples) {
      lines.push(`${family.name}${sample.suffix}${formatLabels(sample.labels)} ${formatValue(sample.value)}`)
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`
}

/** Turns a snapshot of Effect's registry into families; metrics whose name does not start with `prefix` are left out. */
export const familiesFromSnapshot = (
  snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  prefix: string
): Array<Family> => {
  const byName = new Map<string, Family>()
  for (const pair of snapshot) {
    const { name } = pair.metricKey
    if (!name.startsWith(prefix) || !validName(name)) continue
    const labels = pair.metricKey.tags
      .filter((tag) => validLabel(tag.key) && tag.key !== "le" && tag.key !== "quantile")
      .map((tag) => [tag.key, tag.value] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const help = Option.getOrElse(pair.metricKey.description, () => name)
    const state = pair.metricState
    const family = (type: Family["type"]): Family => {
      const existing = byName.get(name)
      if (existing !== undefined) return existing
      const created: Family = { name, type, help, samples: [] }
      byName.set(name, created)
      return created
    }
    if (MetricState.isCounterState(state)) {
      family("counter").samples.push({ suffix: "", labels, value: toNumber(state.count) })
    } else if (MetricState.isGaugeState(state)) {
      family("gauge").samples.push({ suffix: "", labels, value: toNumber(state.value) })
    } else if (MetricState.isHistogramState(state)) {
      const target = family("histogram")
      let sawInfinity = false
      for (const [boundary, count] of state.buckets) {
        sawInfinity ||= boundary === Infinity
        target.samples.push({ suffix: "_bucket", labels: [...labels, ["le", formatValue(boundary)]], value: count })
      }
      if (!sawInfinity) target.samples.push({ suffix: "_bucket", labels: [...labels, ["le", "+Inf"]], value: state.count })
      target.samples.push({ suffix: "_sum", labels, value: state.sum })
      target.samples.push({ suffix: "_count", labels, value: state.count })
    } else if (MetricState.isSummaryState(state)) {
      const target = family("summary")
      for (const [quantile, value] of state.quantiles) {
        if (Option.isSome(value)) {
          target.samples.push({ suffix: "", labels: [...labels, ["quantile", String(quantile)]], value: value.value })
        }
      }
      target.samples.push({ suffix: "_sum", labels, value: state.sum })
      target.samples.push({ suffix: "_count", labels, value: state.count })
    } else if (MetricState.isFrequencyState(state)) {
      const target = family("counter")
      for (const [key, count] of state.occurrences) {
        target.samples.push({ suffix: "", labels: [...labels, ["key", key]], value: count })
      }
    }
  }
  // Counters of one name may come from several Effect metric keys (same name, other tags): keep them together.
  return [...byName.values()]
}

const openFileDescriptors = (): Option.Option<number> => {
  try {
    return Option.some(readdirSync("/proc/self/fd").length)
  } catch {
    return Option.none()
  }
}

const processStartSeconds = Date.now() / 1000 - process.uptime()

/** The process's own gauges, under the names Prometheus' client libraries use. */
export const processFamilies = (): Array<Family> => {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const gauge = (name: string, help: string, value: number, type: Family["type"] = "gauge"): Family => ({
    name,
    type,
    help,
    samples: [{ suffix: "", labels: [], value }]
  })
  const families = [
    gauge("process_cpu_user_seconds_total", "User CPU time spent, seconds.", cpu.user / 1e6, "counter"),
    gauge("process_cpu_system_seconds_total", "System CPU time spent, seconds.", cpu.system / 1e6, "counter"),
    gauge("process_cpu_seconds_total", "User and system CPU time spent, seconds.", (cpu.user + cpu.system) / 1e6, "counter"),
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, seconds.", processStartSeconds),
    gauge("process_resident_memory_bytes", "Resident memory size, bytes.", memory.rss),
    gauge("nodejs_heap_size_total_bytes", "V8 heap size, bytes.", memory.heapTotal),
    gauge("nodejs_heap_size_used_bytes", "V8 heap used, bytes.", memory.heapUsed),
    gauge("nodejs_external_memory_bytes", "Memory of C++ objects bound to JavaScript objects, bytes.", memory.external)
  ]
  const fds = openFileDescriptors()
  if (Option.isSome(fds)) families.push(gauge("process_open_fds", "Open file descriptors.", fds.value))
  return families
}

/** Creates each pipeline's counters at 0, so that they read 0 before its first run instead of being absent. */
export const touchPipelineCounters = (
  counters: ReadonlyArray<Metric.Metric.Counter<number>>,
  pipelines: ReadonlyArray<string>
) =>
  Effect.forEach(
    pipelines.flatMap((pipeline) => counters.map((counter) => Metric.tagged(counter, "pipeline", pipeline))),
    (counter) => Metric.incrementBy(counter, 0),
    { discard: true }
  )

/**
 * The enrichments' gauges (read from the store at scrape time) as families. One whose name or a label's name
 * Prometheus refuses is left out whole, named in `refused`: a single bad line would make the scraper drop the page.
 */
export const gaugeFamilies = (
  gauges: ReadonlyArray<GaugeFamily>
): { readonly families: Array<Family>; readonly refused: Array<string> } => {
  const families: Array<Family> = []
  const refused: Array<string> = []
  for (const gauge of gauges) {
    const valid =
      validName(gauge.name) &&
      gauge.samples.every((sample) => sample.labels.every(([label]) => validLabel(label) && label !== "le" && label !== "quantile"))
    if (!valid) {
      refused.push(gauge.name)
      continue
    }
    families.push({
      name: gauge.name,
      type: "gauge",
      help: gauge.help,
      samples: gauge.samples.map((sample) => ({ suffix: "", labels: sample.labels, value: sample.value }))
    })
  }
  return { families, refused }
}

/** The whole /metrics page: the registry's slowq_* metrics, the process's, and any families read elsewhere. */
export const renderMetrics = (extra: ReadonlyArray<Family>) =>
  Effect.map(Metric.snapshot, (snapshot) =>
    renderFamilies([...familiesFromSnapshot(snapshot, "slowq_"), ...processFamilies(), ...extra])
  )
