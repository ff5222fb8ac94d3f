/**
 * What an event's attributes keep in the store: the values that say something. A slow log's header writes some twenty
 * attributes per event, nearly all of them 0 or false (Tmp_tables: 0, Filesort: false, InnoDB_IO_r_ops: 0…), and
 * they were most of an event's stored bytes. An attribute left out reads as its zero (`coalesce(…, false)`, `… ?? 0`);
 * whether a server wrote a zero or nothing at all tells no one anything about a query.
 */
export const keptAttributes = (
  attributes: Readonly<Record<string, string | number | boolean>>
): Record<string, string | number | boolean> => {
  const kept: Record<string, string | number | boolean> = {}
  for (const key in attributes) {
    const value = attributes[key]!
    if (value !== 0 && value !== false && value !== "") kept[key] = value
  }
  return kept
}
