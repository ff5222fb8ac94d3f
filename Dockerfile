# The slowq image: the compiled daemon (dist/, the dashboard in dist/web), production dependencies only, non-root.
#   docker build -t slowq .        (docker-compose.yml builds it for the lab; README: "Run it with Docker")

# Build: every dependency (esbuild, Vite, React), then the bundle and the dashboard.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts here: `prepare` would build before the sources are copied, and no dependency needs its own
# (esbuild finds its binary in its platform package; the native extras of msgpackr and @parcel/watcher are optional).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY plugins ./plugins
COPY web ./web
RUN npm run build && test -f dist/slowq.mjs && test -f dist/web/index.html

# Runtime: production dependencies, the build's dist/, and the few files that run it.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# src/bin/slowq.js runs dist/slowq.mjs when it is newer than every .ts file under src/ and plugins/: with neither
# holding any, the bundle always runs (an absent plugins/ would send it to the TypeScript sources, which are not here).
COPY src/bin/slowq.js ./src/bin/slowq.js
# The compose lab's workload generator (npm run lab:workload), run by tsx, a production dependency.
COPY scripts/lab ./scripts/lab
COPY docker/healthcheck.mjs ./docker/healthcheck.mjs
# SLOWQ_DATA_DIR: slowq's own files (the API token it generates on a first start without one) and, without
# SLOWQ_STORE_URL, the embedded store (/app is not writable by node); mount a volume here.
RUN mkdir -p plugins /var/lib/slowq /etc/slowq/pipelines && chown node:node /var/lib/slowq
ENV SLOWQ_DATA_DIR=/var/lib/slowq
ENV SLOWQ_STORE_DIR=/var/lib/slowq/store
ENV SLOWQ_HTTP_ADDR=0.0.0.0:8080
# glibc raises its mmap threshold after each large free, so a batch's multi-MB protocol buffers then come from the
# heap and fragment it: a fixed threshold returns them to the system at once (1M-event ingest peak RSS 208 -> 172 MB,
# no measurable cost in time).
ENV MALLOC_MMAP_THRESHOLD_=131072
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 CMD ["node", "docker/healthcheck.mjs"]
ENTRYPOINT ["node", "src/bin/slowq.js"]
CMD ["run", "--pipelines", "/etc/slowq/pipelines"]
