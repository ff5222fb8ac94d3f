import { useEffect, useRef } from "react"
import uPlot from "uplot"
import "uplot/dist/uPlot.min.css"
import type { SeriesJson } from "./api.js"
import { formatCount, formatMs } from "./format.js"

// A query's series (GET /api/v1/queries/{id}/series) drawn with uPlot: MIT, ~20 KB gzipped, canvas, fast with many
// charts (the sparklines to come). Loaded with the first chart only (QueryDetail.tsx).

const height = 180

const Chart = ({ title, options, data }: { readonly title: string; readonly options: Omit<uPlot.Options, "width" | "height">; readonly data: uPlot.AlignedData }) => {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const element = box.current
    if (element === null) return
    const plot = new uPlot({ ...options, width: element.clientWidth, height }, data, element)
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height }))
    resize.observe(element)
    return () => {
      resize.disconnect()
      plot.destroy()
    }
  }, [options, data])
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  )
}

const SeriesCharts = ({ series }: { readonly series: SeriesJson }) => {
  const xs = series.points.map((p) => Date.parse(p.start) / 1000)
  const step = series.step_seconds >= 3600 ? `${series.step_seconds / 3600} h` : `${series.step_seconds / 60} min`
  const calls: uPlot.AlignedData = [xs, series.points.map((p) => p.calls)]
  const latency: uPlot.AlignedData = [xs, series.points.map((p) => p.mean_ms), series.points.map((p) => p.p95_ms)]
  return (
    <div className="charts">
      <Chart
        title={`Calls per ${step}`}
        data={calls}
        options={{
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
          axes: [{}, { values: (_, ticks) => ticks.map((t) => formatCount(t)), size: 60 }],
          series: [{}, { label: "calls", stroke: "#1f4e8c", fill: "rgba(31, 78, 140, 0.15)", value: (_, v) => (v === null ? "–" : formatCount(v)) }]
        }}
      />
      <Chart
        title={`Time per call (mean and p95) per ${step}`}
        data={latency}
        options={{
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
          axes: [{}, { values: (_, ticks) => ticks.map((t) => formatMs(t)), size: 70 }],
          series: [
            {},
            { label: "mean", stroke: "#2e7d32", value: (_, v) => formatMs(v), spanGaps: false },
            { label: "p95", stroke: "#c62828", dash: [6, 4], value: (_, v) => formatMs(v), spanGaps: false }
          ]
        }}
      />
    </div>
  )
}

export default SeriesCharts
