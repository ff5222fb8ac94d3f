FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
COPY plugins ./plugins
COPY tsconfig.json ./
ENV NODE_ENV=production
USER node
ENTRYPOINT ["node", "src/bin/slowq.js"]
CMD ["run", "--pipelines", "/etc/slowq/pipelines"]
