import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Schema } from "effect"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"
import type { TableCatalog, TableRef } from "./IndexCandidates.js"

/**
 * What the index advice needs of PostgreSQL's catalog for the tables a statement names: the table as the
 * connection's search_path resolves it (`to_regclass`, so an unqualified name means what it meant to the
 * statement), its columns, and the key columns of its valid, non-partial b-tree indexes (INCLUDE columns left
 * out: they do not lead anything). Views, CTE names and unknown tables resolve to nothing.
 */

const CatalogRow = Schema.Struct({
  database: Schema.String,
  schema: Schema.String,
  name: Schema.String,
  columns: Schema.Array(Schema.String),
  indexes: Schema.Array(Schema.Array(Schema.NullOr(Schema.String)))
})
const decodeRows = Schema.decodeUnknown(Schema.Array(CatalogRow))

const QUERY = `${SLOWQ_MARKER} SELECT current_database()::text AS database, n.nspname::text AS schema, c.relname::text AS name,
  (SELECT coalesce(json_agg(a.attname::text ORDER BY a.attnum), '[]'::json) FROM pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(json_agg(
      (SELECT json_agg(a.attname::text ORDER BY k.ord)
         FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE k.ord <= i.indnkeyatts)
      ORDER BY i.indexrelid), '[]'::json)
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid = c.oid AND i.indisvalid AND i.indpred IS NULL AND am.amname = 'btree') AS indexes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')`

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`

/** One entry per `tables` entry (same order), undefined where the name is not a table. */
export const readPostgresCatalog = Effect.fn("PostgresCatalog.read")(function* (
  connection: Connection,
  tables: ReadonlyArray<TableRef>
) {
  const byName = new Map<string, TableCatalog | undefined>()
  const out: Array<TableCatalog | undefined> = []
  for (const table of tables) {
    const qualified = table.schema === null ? quoted(table.name) : `${quoted(table.schema)}.${quoted(table.name)}`
    if (!byName.has(qualified)) {
      const rows = yield* connection.execute(QUERY, [qualified], undefined)
      const decoded = yield* decodeRows(rows).pipe(
        Effect.mapError((cause) => new SqlError({ cause, message: "unexpected catalog rows" }))
      )
      const row = decoded[0]
      byName.set(
        qualified,
        row === undefined
          ? undefined
          : {
              database: row.database,
              schema: row.schema,
              name: row.name,
              columns: new Map(row.columns.map((c) => [c, c])),
              indexes: row.indexes
            }
      )
    }
    out.push(byName.get(qualified))
  }
  return out as ReadonlyArray<TableCatalog | undefined>
})
