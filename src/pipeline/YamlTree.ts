/**
 * A pipeline file as YAML: the plain value to decode, where each path sits in the file, and what the walk already
 * found wrong. Nothing here knows what a pipeline is, so decoding can name problems by path and leave lines to this.
 */
import { Either } from "effect"
import { type Document, isAlias, isMap, isNode, isPair, isScalar, isSeq, LineCounter, type Pair, parseDocument, Scalar } from "yaml"
import type { ConfigProblem } from "./ConfigProblems.js"
import { type Environment, interpolate } from "./Interpolate.js"

// ---------------------------------------------------------------------------------------------------------------------
// Paths and locations

export type Segment = string | number
export type Path = ReadonlyArray<Segment>

// JSON rather than a dotted join, so that the root and a key "" or "a.b" and ["a", "b"] never collide.
export const pathId = (path: Path): string => JSON.stringify(path)
export const showPath = (path: Path): string => path.join(".")
export const startsWith = (path: Path, prefix: Path): boolean =>
  prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment)

export interface Position {
  readonly line: number
  readonly column: number
}

export interface Located {
  readonly key: Position | undefined
  readonly value: Position
}

/** Where a problem points: the key (an unknown key), the value (a bad value) or the enclosing map (a missing key). */
export type Anchor = "key" | "value" | "parent"

export interface PathProblem {
  readonly path: Path
  readonly anchor: Anchor
  readonly message: string
}

/** Where a problem points when nothing in the file is closer: its first character. */
export const start: Position = { line: 1, column: 1 }

// ---------------------------------------------------------------------------------------------------------------------
// Reading the YAML: one walk over the document builds the plain value to decode, interpolating every string scalar,
// and records where each path sits in the file and which values came from the environment.

export interface Tree {
  readonly root: unknown
  readonly locations: ReadonlyMap<string, Located>
  /** Paths whose value came from the environment: never echoed. */
  readonly secrets: ReadonlyArray<Path>
  /** The values themselves, for the last scrub of every message. */
  readonly secretValues: ReadonlyArray<string>
  /** Paths whose interpolation failed: a later problem there repeats the one already reported. */
  readonly broken: ReadonlyArray<Path>
  /** Unquoted scalars that were interpolated: typed by the schema that reads them, as compose does. */
  readonly retypable: ReadonlySet<string>
  readonly problems: ReadonlyArray<PathProblem>
}

// Bounds the walk of a document whose aliases expand exponentially ("billion laughs").
const maxNodes = 100_000

/**
 * The keys that repeat an earlier key of the same mapping, as yaml words it. yaml's own check (`uniqueKeys`) compares
 * each key with every earlier one, so 64k keys took 36 s; a set per mapping makes it linear.
 */
const duplicateKeys = (doc: Document.Parsed): Array<{ readonly pos: readonly [number]; readonly message: string }> => {
  const found: Array<{ readonly pos: readonly [number]; readonly message: string }> = []
  // A stack rather than recursion: nesting depth is the file's to choose.
  const pending: Array<unknown> = [doc.contents]
  while (pending.length > 0) {
    const node = pending.pop()
    if (isMap(node)) {
      const seen = new Set<unknown>()
      for (const pair of node.items) {
        const key = pair.key
        // yaml compares scalar keys by value (`===`, so NaN never repeats) and other keys by identity.
        const id = isScalar(key) ? key.value : key
        if (typeof id === "number" && Number.isNaN(id)) continue
        if (seen.has(id) && isNode(key) && key.range) found.push({ pos: [key.range[0]], message: "Map keys must be unique" })
        seen.add(id)
        pending.push(pair.key, pair.value)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) pending.push(item)
    } else if (isPair(node)) {
      pending.push(node.key, node.value)
    }
  }
  return found
}

export const readTree = (
  file: string,
  text: string,
  env: Environment
): Either.Either<Tree, ReadonlyArray<ConfigProblem>> => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false })
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const errors = [...doc.errors, ...duplicateKeys(doc)].sort((a, b) => a.pos[0] - b.pos[0])
  // After a mistake the parser reports the rest of the line as a cascade of errors; the first one says it best.
  const syntax = new Map<number, ConfigProblem>()
  for (const error of [...errors, ...doc.warnings]) {
    const offset = error.pos[0]
    const position = at(offset)
    // In a flow collection `{`, `}` and `,` are syntax, so `{url: ${URL}}` breaks unless the value is quoted.
    const hint = text[offset] === "{" && text[offset - 1] === "$" ? ` (quote a value that uses \${...} inside { } or [ ])` : ""
    if (!syntax.has(position.line)) {
      syntax.set(position.line, { file, ...position, path: "", message: `invalid YAML: ${error.message}${hint}` })
    }
  }
  if (syntax.size > 0) return Either.left([...syntax.values()].sort((a, b) => a.line - b.line || a.column - b.column))

  const locations = new Map<string, Located>()
  const secrets: Array<Path> = []
  const secretValues: Array<string> = []
  const broken: Array<Path> = []
  const retypable = new Set<string>()
  const problems: Array<PathProblem> = []
  let nodes = 0

  const positionOf = (node: unknown): Position | undefined =>
    typeof node === "object" && node !== null && "range" in node && Array.isArray(node.range)
      ? at(Number(node.range[0]))
      : undefined

  const readPairs = (pairs: ReadonlyArray<Pair<unknown, unknown>>, path: Path): Record<string, unknown> => {
    const entries: Array<[string, unknown]> = []
    for (const pair of pairs) {
      const keyNode = pair.key
      const keyPosition = positionOf(keyNode)
      if (!isScalar(keyNode) || keyNode.value === null || typeof keyNode.value === "object") {
        problems.push({ path, anchor: "value", message: "has a key that is not a plain name" })
        continue
      }
      const key = String(keyNode.value)
      const childPath = [...path, key]
      const valuePosition = positionOf(pair.value) ?? keyPosition ?? start
      locations.set(pathId(childPath), { key: keyPosition, value: valuePosition })
      entries.push([key, readNode(pair.value, childPath)])
    }
    // fromEntries defines own properties, so a key named __proto__ stays data.
    return Object.fromEntries(entries)
  }

  const readNode = (node: unknown, path: Path): unknown => {
    if (++nodes > maxNodes) {
      if (nodes === maxNodes + 1) problems.push({ path, anchor: "value", message: "expands to too many values (aliases?)" })
      return null
    }
    if (isAlias(node)) return readNode(node.resolve(doc), path)
    if (isMap(node)) return readPairs(node.items, path)
    if (isPair(node)) return readPairs([node], path)
    if (isSeq(node)) {
      return node.items.map((item, index) => {
        const itemPath = [...path, index]
        const value = positionOf(item) ?? locations.get(pathId(path))?.value ?? start
        locations.set(pathId(itemPath), { key: undefined, value })
        return readNode(item, itemPath)
      })
    }
    if (!isScalar(node)) return null
    const raw = node.value
    if (typeof raw !== "string") return raw
    return Either.match(interpolate(raw, env), {
      onLeft: (messages) => {
        for (const message of messages) problems.push({ path, anchor: "value", message })
        broken.push(path)
        return raw
      },
      onRight: ({ fromEnvironment, substituted, value }) => {
        if (fromEnvironment) {
          secrets.push(path)
          secretValues.push(value)
        }
        if (substituted && node.type === Scalar.PLAIN && node.tag === undefined) retypable.add(pathId(path))
        return value
      }
    })
  }

  locations.set(pathId([]), { key: undefined, value: positionOf(doc.contents) ?? start })
  const root = readNode(doc.contents, [])
  return Either.right({ root, locations, secrets, secretValues, broken, retypable, problems })
}

/**
 * Where a problem at `path` shows: on the key for an unknown key, on the enclosing mapping for a missing key, else on
 * the value; a path the file does not hold (a default, a key the schema adds) shows at its nearest written ancestor.
 */
export const locate = (tree: Tree, path: Path, anchor: Anchor): Position => {
  const exact = tree.locations.get(pathId(anchor === "parent" ? path.slice(0, -1) : path))
  let nearest = exact
  for (let up = path.length - 1; nearest === undefined && up >= 0; up--) {
    nearest = tree.locations.get(pathId(path.slice(0, up)))
  }
  return (anchor === "key" && exact !== undefined ? exact.key : undefined) ?? nearest?.value ?? start
}
