// test group: other
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { projectRoot as rootWithSlash } from "../support/Cli.js"

const projectRoot = rootWithSlash.replace(/\/$/, "")

/**
 * The compose lab (docker-compose.yml) and the slowq image (Dockerfile), without a Docker engine (none runs on these
 * machines). The compose file is validated by docker-compose itself (Debian's docker-compose 1.29, installed by
 * .ci/prepare-services): `config -q` parses it and checks it against the Compose specification's schema, as
 * `docker-compose up` would before starting anything; `config` prints it resolved (variables, defaults, paths), which
 * is what the assertions read. The image's runtime stage is rebuilt as a folder (its COPY lines, with this checkout's
 * dist/ and node_modules) and slowq is run from it.
 */

const compose = (args: ReadonlyArray<string>, env: Record<string, string> = {}, file = "docker-compose.yml") => {
  // Only PATH and what the test sets: the developer's own SLOWQ_API_TOKEN or LAB_* must not leak into the checks.
  const result = spawnSync("docker-compose", ["-f", file, ...args], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    encoding: "utf8"
  })
  if (result.error !== undefined) throw new Error(`docker-compose did not start (bash .ci/prepare-services installs it): ${result.error.message}`)
  return result
}

interface Service {
  readonly image?: string
  readonly build?: { readonly context: string }
  readonly ports?: ReadonlyArray<string>
  readonly volumes?: ReadonlyArray<string>
  readonly healthcheck?: { readonly test: ReadonlyArray<string> }
  readonly depends_on?: Record<string, { readonly condition: string }>
  readonly environment?: Record<string, string>
  readonly command?: ReadonlyArray<string>
  readonly entrypoint?: ReadonlyArray<string>
}

const resolved = (env: Record<string, string> = {}) => {
  const result = compose(["config"], env)
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: "" })
  return parse(result.stdout) as { services: Record<string, Service>; volumes: Record<string, unknown> }
}

describe("docker-compose.yml", () => {
  it("validates with docker-compose config -q, and an invalid copy does not", () => {
    const ok = compose(["config", "-q"])
    expect({ status: ok.status, stdout: ok.stdout, stderr: ok.stderr }).toEqual({ status: 0, stdout: "", stderr: "" })

    // The validator really reads the file: a misspelt key in a copy is refused, naming it.
    const dir = mkdtempSync(join(tmpdir(), "slowq-compose-"))
    try {
      const broken = join(dir, "docker-compose.yml")
      writeFileSync(broken, readFileSync(join(projectRoot, "docker-compose.yml"), "utf8").replace("    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -h 127.0.0.1 -U slowq", "    healthchek:\n      test: [\"CMD-SHELL\", \"pg_isready -h 127.0.0.1 -U slowq"))
      const bad = compose(["config", "-q"], {}, broken)
      expect(bad.status).toBe(1)
      expect(bad.stderr).toBe(`The Compose file '${broken}' is invalid because:\nUnsupported config option for services.store: 'healthchek'\n`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("starts the five lab services with health checks, waits on them, and publishes on the loopback only", () => {
    const { services, volumes } = resolved()
    expect(Object.keys(services).sort()).toEqual(["lab-mysql", "lab-postgres", "slowq", "store", "workload"])
    for (const [name, service] of Object.entries(services)) {
      expect({ name, health: service.healthcheck?.test[0] }).toMatchObject({ name, health: expect.stringMatching(/^CMD/) })
      for (const port of service.ports ?? []) expect({ name, port }).toEqual({ name, port: expect.stringMatching(/^127\.0\.0\.1:/) })
      // Named volumes for data; the only host paths are read-only configuration.
      for (const volume of service.volumes ?? []) {
        const [source, , mode] = volume.split(":")
        if (source!.startsWith("/")) expect({ name, volume, mode }).toEqual({ name, volume, mode: "ro" })
        else expect(Object.keys(volumes)).toContain(source)
      }
    }
    expect(services["lab-mysql"]!.ports).toEqual(["127.0.0.1:3307:3306/tcp"])
    expect(services["lab-postgres"]!.ports).toEqual(["127.0.0.1:5433:5432/tcp"])
    expect(services.slowq!.ports).toEqual(["127.0.0.1:8080:8080/tcp"])
    expect(services.store!.ports).toBeUndefined()
    expect(services.workload!.ports).toBeUndefined()

    expect(services.slowq!.depends_on).toEqual({
      "lab-mysql": { condition: "service_healthy" },
      "lab-postgres": { condition: "service_healthy" },
      store: { condition: "service_healthy" }
    })
    expect(services.workload!.depends_on).toEqual({
      "lab-mysql": { condition: "service_healthy" },
      "lab-postgres": { condition: "service_healthy" }
    })
    expect(Object.keys(volumes).sort()).toEqual(["lab-mysql-data", "lab-postgres-data", "slowq-data", "store-data"])

    // MySQL 8.4 logs every statement to mysql.slow_log.
    expect(services["lab-mysql"]!.image).toBe("mysql:8.4")
    expect(services["lab-mysql"]!.command).toEqual(["--slow-query-log=ON", "--log-output=TABLE", "--long-query-time=0"])
    expect(services.store!.image).toBe("postgres:16")
    expect(services["lab-postgres"]!.build).toEqual({ context: join(projectRoot, "docker/lab-postgres") })
    expect(services.slowq!.build).toEqual({ context: projectRoot })
    expect(services.workload!.build).toEqual({ context: projectRoot })
  })

  it("runs the workload command against both lab databases, and slowq with a data volume and no token by default", () => {
    const { services } = resolved()
    expect(services.workload!.entrypoint).toEqual(["node", "--import", "tsx", "scripts/lab/main.ts"])
    expect(services.workload!.command).toEqual([
      "--mysql",
      "mysql://root:lab-root@lab-mysql:3306/lab",
      "--postgres",
      "postgres://postgres:lab-postgres@lab-postgres:5432/lab",
      "--rate",
      "20",
      "--status-file",
      "/tmp/workload.status"
    ])
    expect(services.slowq!.environment).toEqual({
      SLOWQ_STORE_URL: "postgres://slowq:slowq-store@store:5432/slowq",
      LAB_MYSQL_URL: "mysql://root:lab-root@lab-mysql:3306/lab",
      LAB_POSTGRES_URL: "postgres://postgres:lab-postgres@lab-postgres:5432/lab",
      SLOWQ_LOG_FORMAT: "json",
      SLOWQ_HTTP_ADDR: "0.0.0.0:8080",
      SLOWQ_API_TOKEN: "",
      SLOWQ_DATA_DIR: "/var/lib/slowq"
    })
    expect(services.slowq!.volumes).toEqual([`${projectRoot}/pipelines:/etc/slowq/pipelines:ro`, "slowq-data:/var/lib/slowq:rw"])

    // The .env of a user who wants other passwords, another rate and a token of their own.
    const custom = resolved({
      LAB_MYSQL_ROOT_PASSWORD: "m",
      LAB_POSTGRES_PASSWORD: "p",
      LAB_WORKLOAD_RATE: "5",
      SLOWQ_API_TOKEN: "0123456789abcdef0123",
      SLOWQ_HTTP_PORT: "9090"
    }).services
    expect(custom.slowq!.environment).toMatchObject({
      LAB_MYSQL_URL: "mysql://root:m@lab-mysql:3306/lab",
      LAB_POSTGRES_URL: "postgres://postgres:p@lab-postgres:5432/lab",
      SLOWQ_API_TOKEN: "0123456789abcdef0123"
    })
    expect(custom.slowq!.ports).toEqual(["127.0.0.1:9090:8080/tcp"])
    expect(custom.workload!.command).toEqual([
      "--mysql",
      "mysql://root:m@lab-mysql:3306/lab",
      "--postgres",
      "postgres://postgres:p@lab-postgres:5432/lab",
      "--rate",
      "5",
      "--status-file",
      "/tmp/workload.status"
    ])
  })
})

describe("the slowq image's runtime stage", () => {
  /** The Dockerfile's COPY lines of the runtime stage, which the folder below mirrors. */
  const runtimeCopies = [
    "COPY package.json package-lock.json ./",
    "COPY --from=build /app/dist ./dist",
    "COPY src/bin/slowq.js ./src/bin/slowq.js",
    "COPY scripts/lab ./scripts/lab",
    "COPY docker/healthcheck.mjs ./docker/healthcheck.mjs"
  ]

  it("runs slowq from its files alone: the lab pipelines validate with the compose lab's environment", () => {
    const dockerfile = readFileSync(join(projectRoot, "Dockerfile"), "utf8")
    const stages = dockerfile.split(/^FROM /m)
    const runtime = stages[stages.length - 1]!
    expect(runtime.split("\n").filter((line) => line.startsWith("COPY"))).toEqual(runtimeCopies)
    expect(runtime).toContain("RUN mkdir -p plugins /var/lib/slowq /etc/slowq/pipelines && chown node:node /var/lib/slowq")
    expect(runtime).toMatch(/^USER node$/m)
    expect(runtime).toMatch(/^HEALTHCHECK .* CMD \["node", "docker\/healthcheck\.mjs"\]$/m)
    expect(runtime).toContain("ENV MALLOC_MMAP_THRESHOLD_=131072")

    const app = mkdtempSync(join(tmpdir(), "slowq-image-"))
    try {
      for (const file of ["package.json", "package-lock.json", "src/bin/slowq.js", "docker/healthcheck.mjs"]) {
        cpSync(join(projectRoot, file), join(app, file))
      }
      cpSync(join(projectRoot, "dist"), join(app, "dist"), { recursive: true })
      cpSync(join(projectRoot, "scripts/lab"), join(app, "scripts/lab"), { recursive: true })
      mkdirSync(join(app, "plugins"))
      // The image installs the production dependencies; this checkout's (a superset) stand in for them.
      symlinkSync(join(projectRoot, "node_modules"), join(app, "node_modules"))
      const { services } = resolved()
      const run = (args: ReadonlyArray<string>) =>
        spawnSync(process.execPath, args, {
          cwd: app,
          env: { PATH: process.env.PATH ?? "", ...services.slowq!.environment },
          encoding: "utf8"
        })
      const validate = run(["src/bin/slowq.js", "validate", "--pipelines", join(projectRoot, "pipelines")])
      expect({ status: validate.status, stdout: validate.stdout, stderr: validate.stderr }).toEqual({
        status: 0,
        stdout: `ok  ${projectRoot}/pipelines/lab_mariadb.yaml  (lab_mariadb)\nok  ${projectRoot}/pipelines/lab_postgres.yaml  (lab_postgres)\n`,
        stderr: ""
      })
      // The workload service's command, as its entrypoint runs it.
      const workload = run(["--import", "tsx", "scripts/lab/main.ts", "--rate", "5"])
      expect({ status: workload.status, stderr: workload.stderr.split("\n")[0] }).toEqual({
        status: 2,
        stderr: "lab:workload: give --mysql URL, --postgres URL or both"
      })
    } finally {
      rmSync(app, { recursive: true, force: true })
    }
  })
})
