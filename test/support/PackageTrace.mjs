// Loaded with `node --import` (test/cli/LazyLoading.test.ts): records every package of node_modules that the process
// imports, one name a line, in the file SLOWQ_TEST_PACKAGE_TRACE names. Plain JavaScript, because module hooks run
// on a thread of their own, without tsx.
import { register } from "node:module"

register("./PackageTraceHooks.mjs", import.meta.url, { data: { file: process.env.SLOWQ_TEST_PACKAGE_TRACE } })
