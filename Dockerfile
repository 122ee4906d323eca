# syntax=docker/dockerfile:1.7
# The gateway's image: `docker build -t tributary .` (README, "Deploying").
#
# Two stages: `build` compiles the TypeScript with every devDependency (tsc); the runtime stage has
# the production dependencies only (`npm ci --omit=dev`), the compiled `dist/`, and the files the
# gateway reads at run time from the project root (src/paths.ts): the SDL modules (`schema/`), the
# client operations (`operations/`, for the perimeter map), the persisted documents manifest
# (`generated/persisted-operations.json`) and the sandbox's data set (`data/`, for the perimeter
# map's in-process sandbox and for development). test/deploy.test.ts assembles the same runtime tree
# from this file and starts its CMD.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY resolvers ./resolvers
COPY upstreams ./upstreams
COPY workflows ./workflows
COPY sandbox ./sandbox
COPY generated ./generated
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# The embedded workflow log when DATABASE_URL is unset: under /tmp, writable with a read-only root
# filesystem (a tmpfs or emptyDir), so it lasts as long as the container. Production: DATABASE_URL, or
# a volume here, so a restarted container finishes or undoes what it left unfinished.
ENV WORKFLOW_DIR=/tmp/tributary
WORKDIR /app
COPY package.json package-lock.json ./
# The npm cache stays in the build's cache mount, not in a layer.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY schema ./schema
COPY operations ./operations
COPY generated/persisted-operations.json ./generated/persisted-operations.json
COPY data ./data
# Files stay root-owned and read-only to the process: it writes only standard output and the
# embedded workflow log (WORKFLOW_DIR, under /tmp), so the root filesystem may be mounted read-only. A numeric user lets Kubernetes' runAsNonRoot verify it.
USER 1000:1000
EXPOSE 4000
# No curl in the slim image: node's own fetch (PORT as the gateway reads it).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then((r)=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
# `npm start`'s node command without its build step (package.json "start"; the test checks they
# agree): node is PID 1 and receives SIGTERM itself, which starts the gateway's drain.
CMD ["node", "--heap-growing-percent=100", "--max-semi-space-size=32", "dist/src/main.js"]
