import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  bucketOf,
  bucketValueMs,
  GAMMA,
  mergeHistograms,
  quantileMs,
  RELATIVE_ERROR
} from "../../src/domain/LatencyHistogram.js"

/** The nearest-rank q-quantile of raw values, as the histogram reads it. */
const exactQuantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!
}

const histogramOf = (values: ReadonlyArray<number>) => {
  const histogram: Record<string, number> = {}
  for (const value of values) histogram[bucketOf(value)] = (histogram[bucketOf(value)] ?? 0) + 1
  return histogram
}

describe("LatencyHistogram", () => {
  it("buckets are (γ^(i−1), γ^i] microseconds, 1 µs and below in bucket 0", () => {
    expect(GAMMA).toBeCloseTo(1.02 / 0.98, 15)
    expect([bucketOf(0), bucketOf(0.0005), bucketOf(0.001)]).toEqual([0, 0, 0])
    // 1 ms = 1000 µs: ln(1000)/ln(γ) = 172.67…, so bucket 173, which stands for 2γ^173/(γ+1) µs = 0.99299 ms.
    expect(bucketOf(1)).toBe(173)
    expect(bucketValueMs(173)).toBeCloseTo(0.99299, 5)
    expect(bucketOf(1000)).toBe(346)
    expect(bucketOf(3_600_000)).toBe(551)
  })

  it("every value is within 2% of the value of its bucket", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.002, max: 1e8, noNaN: true }), (ms) => {
        expect(Math.abs(bucketValueMs(bucketOf(ms)) - ms) / ms).toBeLessThanOrEqual(RELATIVE_ERROR + 1e-12)
      }),
      { numRuns: 2000 }
    )
  })

  it("quantiles read from merged histograms are within 2% of the raw values' nearest-rank quantiles", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0.01, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 200 }), {
          minLength: 1,
          maxLength: 5
        }),
        fc.constantFrom(0.5, 0.95, 0.99, 1),
        (parts, q) => {
          const merged = mergeHistograms(parts.map(histogramOf))
          const exact = exactQuantile(parts.flat(), q)
          expect(Math.abs(quantileMs(merged, q)! - exact) / exact).toBeLessThanOrEqual(RELATIVE_ERROR + 1e-12)
        }
      ),
      { numRuns: 500 }
    )
  })

  it("merges bucket by bucket; an empty histogram has no quantile", () => {
    expect(mergeHistograms([{ "173": 2, "200": 1 }, null, { "173": 3 }, undefined])).toEqual({ "173": 5, "200": 1 })
    expect(quantileMs({}, 0.5)).toBeNull()
    expect(quantileMs({ "173": 0 }, 0.5)).toBeNull()
  })
})
