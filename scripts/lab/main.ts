/**
 * npm run lab:workload -- [--mysql URL] [--postgres URL] --rate N [--seconds S] [--seed K] [--status-file PATH]
 *
 * The compose lab's workload service runs this (docker-compose.yml), and the container-free lab test
 * (test/lab/Lab.test.ts) runs it against the local servers. See Workload.ts and ShopMix.ts.
 */
import { ArgsError, parseArgs, usage } from "./Args.js"
import { runWorkload } from "./Workload.js"

const argv = process.argv.slice(2)
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(usage)
} else {
  try {
    const args = parseArgs(argv)
    process.exitCode = await runWorkload(args)
  } catch (error) {
    if (!(error instanceof ArgsError)) throw error
    console.error(`lab:workload: ${error.message}\n\n${usage}`)
    process.exitCode = 2
  }
}
