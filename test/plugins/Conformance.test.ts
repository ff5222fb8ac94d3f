import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Either, Option, Schema, SchemaAST } from "effect"
import { plugins } from "../../plugins/index.js"
import { Dialect } from "../../src/domain/SlowQueryEvent.js"
import { parsePipeline } from "../../src/pipeline/Loader.js"
import { formatConfigError } from "../../src/pipeline/ConfigProblems.js"
import { projectRoot } from "../support/Cli.js"

const registered = [...plugins.sources, ...plugins.stages]
const pluginsDir = join(projectRoot, "plugins")

/** The config's own fields, with whether each carries a description (on the field or on its type). */
const fields = (ast: SchemaAST.AST): ReadonlyArray<{ readonly name: string; readonly described: boolean }> => {
  // optionalWith(…, { default }) makes the Struct a Transformation whose sides both list the fields.
  const sides = SchemaAST.isTransformation(ast) ? [ast.from, ast.to] : [ast]
  const byName = new Map<string, boolean>()
  for (const side of sides) {
    for (const property of SchemaAST.getPropertySignatures(side)) {
      const name = String(property.name)
      const described =
        Option.isSome(SchemaAST.getDescriptionAnnotation(property)) ||
        Option.isSome(SchemaAST.getDescriptionAnnotation(property.type))
      byName.set(name, (byName.get(name) ?? false) || described)
    }
  }
  return [...byName].map(([name, described]) => ({ name, described }))
}

describe("plugin conformance", () => {
  it("every plugin type is unique and is its folder's name; every folder is registered", () => {
    const types = registered.map((p) => p.type)
    expect(new Set(types).size).toBe(types.length)
    const folders = readdirSync(pluginsDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort()
    expect([...types].sort()).toEqual(folders)
  })

  describe.each(registered.map((p) => [p.type, p] as const))("%s", (type, plugin) => {
    const folder = join(pluginsDir, type)
    const readme = readFileSync(join(folder, "README.md"), "utf8")
    const options = fields(plugin.config.ast)

    it("has a described config whose type field is its type", () => {
      expect(options.map((o) => o.name)).toContain("type")
      expect(options.filter((o) => o.name !== "type" && !o.described).map((o) => o.name)).toEqual([])
      expect(plugin.description.length).toBeGreaterThan(10)
    })

    it("names every option in its README", () => {
      expect(options.filter((o) => !readme.includes(`\`${o.name}\``)).map((o) => o.name)).toEqual([])
    })

    it("ships a sample.yaml that is a valid pipeline using it", () => {
      const file = `plugins/${type}/sample.yaml`
      const result = parsePipeline({
        file,
        text: readFileSync(join(projectRoot, file), "utf8"),
        registry: plugins,
        env: {},
        readSecretFile: () => Either.left("no secret files in samples")
      })
      if (Either.isLeft(result)) expect.fail(formatConfigError(result.left))
      const spec = Either.getOrThrow(result)
      const used = [spec.source.plugin.type, ...spec.stages.map((s) => s.plugin.type)]
      expect(used).toContain(type)
      // A sample shows what to write today: nothing deprecated.
      expect(spec.notes ?? []).toEqual([])
    })
  })

  it("every source declares a dialect id and can be fingerprinted; every stage's dialects are ids", () => {
    const isDialect = Schema.is(Dialect)
    expect(
      plugins.sources.map((source) => [source.type, isDialect(source.dialect), Option.isSome(source.fingerprinter)])
    ).toEqual(plugins.sources.map((source) => [source.type, true, true]))
    expect(plugins.stages.map((stage) => [stage.type, Option.getOrElse(stage.dialects, () => []).every(isDialect)])).toEqual(
      plugins.stages.map((stage) => [stage.type, true])
    )
    expect(plugins.stages.map((stage) => [stage.type, Option.getOrNull(stage.dialects)])).toEqual([
      ["explain", ["mysql", "postgres"]],
      ["analyze", ["mysql", "postgres"]]
    ])
  })
})
