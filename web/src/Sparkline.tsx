import { useEffect, useRef } from "react"
import uPlot from "uplot"
import "uplot/dist/uPlot.min.css"

// A row's sparkline on the queries page: one uPlot chart per row, no axes, legend or cursor, drawn on a canvas (50 of
// them draw in a few ms). Its own chunk with uPlot, loaded once the page's series have arrived (Queries.tsx), so the
// list's first rows do not wait for it.

const width = 120
const height = 28

const options: uPlot.Options = {
  width,
  height,
  pxAlign: false,
  cursor: { show: false },
  legend: { show: false },
  select: { show: false, left: 0, top: 0, width: 0, height: 0 },
  axes: [{ show: false }, { show: false }],
  scales: { x: { time: false }, y: { range: (_, min, max) => [Math.min(0, min), max > 0 ? max : 1] } },
  series: [{}, { stroke: "#1f4e8c", fill: "rgba(31, 78, 140, 0.15)", width: 1, points: { show: false } }]
}

const Sparkline = ({ xs, ys, label }: { readonly xs: ReadonlyArray<number>; readonly ys: ReadonlyArray<number | null>; readonly label: string }) => {
  const box = useRef<HTMLSpanElement>(null)
  useEffect(() => {
    const element = box.current
    if (element === null) return
    const plot = new uPlot(options, [[...xs], [...ys]], element)
    return () => plot.destroy()
  }, [xs, ys])
  return <span ref={box} className="sparkline" role="img" aria-label={label} />
}

export default Sparkline
