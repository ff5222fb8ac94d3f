FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The sources are not here yet: skip the prepare script (the bundle build) until they are.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY plugins ./plugins
COPY tsconfig.json ./
RUN npm run build
ENV NODE_ENV=production
USER node
ENTRYPOINT ["node", "src/bin/slowq.js"]
CMD ["run", "--pipelines", "/etc/slowq/pipelines"]
