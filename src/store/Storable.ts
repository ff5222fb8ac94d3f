// What PostgreSQL refuses in text it is sent, made storable at the one place where outside text enters the store.
//
// - NUL: `text` cannot hold it ("invalid byte sequence for encoding UTF8: 0x00") and `jsonb` refuses its escape
//   `\u0000` ("unsupported Unicode escape sequence"). A zero-filled block in a slow log after a crash puts NULs into
//   any header field, not only into the statement.
// - Lone UTF-16 surrogates: node-pg encodes a `text` parameter to UTF-8 with U+FFFD in their place, but
//   JSON.stringify writes them as `\ud800` escapes, which `jsonb` refuses. Every other JS string is valid UTF-8 once
//   encoded, and bytes that were not UTF-8 became U+FFFD when the source decoded them.
// Both become U+FFFD, the replacement character, which says "something unreadable was here" to whoever reads it.

declare global {
  // ES2024 (Node 20 has both); the project's lib is ES2023.
  interface String {
    isWellFormed(): boolean
    toWellFormed(): string
  }
}

/** `text` as PostgreSQL takes it; the same string when nothing needed changing (native scans, ~0.1 ms per MB). */
export const storableText = (text: string): string => {
  const hasNul = text.includes("\u0000")
  if (!hasNul && text.isWellFormed()) return text
  const wellFormed = text.toWellFormed()
  return hasNul ? wellFormed.replaceAll("\u0000", "\uFFFD") : wellFormed
}

export const storableTextOrNull = (text: string | null): string | null => (text === null ? null : storableText(text))

// An escape of NUL or of a surrogate (JSON.stringify escapes only the lone ones), not itself escaped: preceded by an
// even number of backslashes.
const REFUSED_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi

/**
 * `value` as JSON text that `jsonb` takes, keys and values at any depth; JSON.stringify's own result when nothing
 * needed changing. Undefined for what JSON.stringify leaves out (undefined, a function).
 */
export const storableJson = (value: unknown): string | undefined => {
  const json = JSON.stringify(value)
  if (json === undefined || (!json.includes("\\u0000") && !json.includes("\\ud") && !json.includes("\\uD"))) return json
  return json.replace(REFUSED_ESCAPE, "$1\\ufffd")
}
