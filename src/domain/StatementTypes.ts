/**
 * The statement types the fingerprinter classifies into, as a plain list with no import: the schema
 * (Fingerprint.ts) is made from it, and the dashboard's filter reads it without taking Effect into the browser.
 */
export const STATEMENT_TYPES = [
  "select",
  "insert",
  "update",
  "delete",
  "replace",
  "merge",
  "ddl",
  "utility",
  "call",
  "set",
  "other"
] as const
