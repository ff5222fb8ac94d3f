// The resolve hook of PackageTrace.mjs: appends the package of each module resolved under node_modules.
import { appendFileSync } from "node:fs"

let file

export const initialize = (data) => {
  file = data.file
}

export const resolve = async (specifier, context, next) => {
  const resolved = await next(specifier, context)
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)
  if (match !== null && file !== undefined) appendFileSync(file, `${match[1]}\n`)
  return resolved
}
