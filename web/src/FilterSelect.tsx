/** One filter of a page's form: a labelled select whose choice goes into the URL through `onChange`. */
export function FilterSelect(props: {
  readonly label: string
  readonly name: string
  readonly value: string
  readonly options: ReadonlyArray<{ readonly value: string; readonly label: string }>
  readonly onChange: (value: string) => void
}) {
  return (
    <label>
      {props.label}{" "}
      <select name={props.name} value={props.value} onChange={(event) => props.onChange(event.target.value)}>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  )
}

/**
 * "All" and the names a facet lists, each with how many queries have it (`shop (12)`), the current choice kept even
 * when the list does not hold it (a link made on another store still shows what it filters on).
 */
export const facetChoices = (
  facets: ReadonlyArray<{ readonly name: string; readonly queries: number }>,
  current: string
) => [
  { value: "", label: "All" },
  ...facets.map((f) => ({ value: f.name, label: `${f.name} (${f.queries})` })),
  ...(current === "" || facets.some((f) => f.name === current) ? [] : [{ value: current, label: current }])
]

/**
 * "All" and the names known, the current choice kept even when the list does not hold it (yet): a link to a
 * pipeline that no longer runs still shows what it filters on.
 */
export const choicesWithAll = (names: ReadonlyArray<string>, current: string) => [
  { value: "", label: "All" },
  ...[...new Set([...names, ...(current === "" ? [] : [current])])].map((name) => ({ value: name, label: name }))
]
