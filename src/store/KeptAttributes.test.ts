import { describe, expect, it } from "vitest"
import { keptAttributes } from "./KeptAttributes.js"

describe("keptAttributes", () => {
  it("keeps the values that say something and leaves out zeros, false and empty text", () => {
    expect(
      keptAttributes({ Killed: 0, Filesort: false, Bytes_sent: 2537, QC_hit: true, Origin: "", Schema: "shop", Delta: -1 })
    ).toEqual({ Bytes_sent: 2537, QC_hit: true, Schema: "shop", Delta: -1 })
  })

  it("keeps a zero written as text: only the typed zero is the default", () => {
    expect(keptAttributes({ Rows: "0", Tmp_table: "false" })).toEqual({ Rows: "0", Tmp_table: "false" })
  })
})
