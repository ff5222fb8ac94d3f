/**
 * A marker to find a test's own statements in the shared slow log. Letters only: pt-query-digest's fingerprint
 * turns digits inside identifiers into `?`, and the tests look markers up in fingerprints too.
 */
export const newMarker = (prefix: string): string => {
  let letters = ""
  for (let i = 0; i < 10; i++) letters += String.fromCharCode(97 + Math.floor(Math.random() * 26))
  return `${prefix}_${letters}`
}
