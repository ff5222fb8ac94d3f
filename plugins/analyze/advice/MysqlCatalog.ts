import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Schema } from "effect"
import { SLOWQ_MARKER } from "../../../src/plugin/OwnStatement.js"
import type { TableCatalog, TableRef } from "./IndexCandidates.js"

/**
 * What the index advice needs of MySQL/MariaDB's catalog, read from information_schema only (nothing is created,
 * locked or changed on the watched server): a base table's columns and the columns of its B-tree indexes in index
 * order. A prefix index (`a(10)`) counts as one on the column, so its column is never suggested again. Views and
 * unknown tables resolve to nothing. Column names compare case-insensitively, as MySQL compares them.
 */

const ColumnRow = Schema.Struct({ name: Schema.String })
const IndexRow = Schema.Struct({ index_name: Schema.String, column_name: Schema.NullOr(Schema.String) })
const decodeColumns = Schema.decodeUnknown(Schema.Array(ColumnRow))
const decodeIndexes = Schema.decodeUnknown(Schema.Array(IndexRow))

const COLUMNS = `${SLOWQ_MARKER} SELECT c.COLUMN_NAME AS name FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY c.ORDINAL_POSITION`
const INDEXES = `${SLOWQ_MARKER} SELECT INDEX_NAME AS index_name, COLUMN_NAME AS column_name FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_TYPE = 'BTREE' ORDER BY INDEX_NAME, SEQ_IN_INDEX`

const unexpected = (cause: unknown) => new SqlError({ cause, message: "unexpected catalog rows" })

/**
 * One entry per `tables` entry (same order). `database`: the statement's default database (the slow log's `db`),
 * for unqualified names; null when unknown, and unqualified names then resolve to nothing.
 */
export const readMysqlCatalog = Effect.fn("MysqlCatalog.read")(function* (
  connection: Connection,
  tables: ReadonlyArray<TableRef>,
  database: string | null
) {
  const byName = new Map<string, TableCatalog | undefined>()
  const out: Array<TableCatalog | undefined> = []
  for (const table of tables) {
    const schema = table.schema ?? database
    if (schema === null) {
      out.push(undefined)
      continue
    }
    const key = `${schema}\u0000${table.name}`
    if (!byName.has(key)) {
      const columns = yield* connection
        .execute(COLUMNS, [schema, table.name], undefined)
        .pipe(Effect.flatMap((rows) => Effect.mapError(decodeColumns(rows), unexpected)))
      if (columns.length === 0) {
        byName.set(key, undefined)
      } else {
        const rows = yield* connection
          .execute(INDEXES, [schema, table.name], undefined)
          .pipe(Effect.flatMap((rows) => Effect.mapError(decodeIndexes(rows), unexpected)))
        const indexes = new Map<string, Array<string | null>>()
        for (const row of rows) {
          const list = indexes.get(row.index_name) ?? []
          list.push(row.column_name)
          indexes.set(row.index_name, list)
        }
        byName.set(key, {
          database: schema,
          schema,
          name: table.name,
          columns: new Map(columns.map((c) => [c.name.toLowerCase(), c.name])),
          indexes: [...indexes.values()]
        })
      }
    }
    out.push(byName.get(key))
  }
  return out as ReadonlyArray<TableCatalog | undefined>
})
