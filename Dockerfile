# rights-platform: one image for every role (gateway, order, voucher, notify, reconciliation, migrate); the
# container's args pick it.
#
#   docker build -t rights-platform:0.1.0 .
#   docker run --rm rights-platform:0.1.0 gateway      # or: order | voucher | notify | reconciliation | migrate
#
# Base image pinned by tag. For reproducible builds pin the digest too, in all three FROM lines:
#   FROM node:20-bookworm-slim@sha256:<digest>   (digest: docker buildx imagetools inspect node:20-bookworm-slim)

# ---- build: every dependency, then tsc and the SQL migrations into dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first, so a source change does not redo the install layer.
# npm install, not npm ci: the lockfile cannot list @bufbuild/buf's darwin/windows binaries (see README), so
# npm ci rejects it; npm install still installs the locked versions. --ignore-scripts: compiling needs no
# install script (proto/gen is committed, buf is not run here).
COPY package.json package-lock.json ./
RUN npm install --ignore-scripts --no-audit --no-fund
# Only what `npm run build` reads: the compiler settings, the generated protobuf code, the sources and the
# migration copier (services/platform/copy-migrations.mjs, inside services/).
COPY tsconfig.json tsconfig.build.json ./
COPY proto/gen ./proto/gen
COPY services ./services
COPY gateway ./gateway
RUN npm run build

# ---- deps: production dependencies only, no install scripts ----
# A stage of its own so the runtime image carries neither the compiler nor the test tools.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
# Files stay owned by root, readable but not writable by the app user: the process cannot change its own code;
# it writes nothing to the filesystem (logs go to stdout; /tmp is an emptyDir in the pod), so it runs with
# readOnlyRootFilesystem: true.
# package.json is needed at runtime: its "type": "module" makes node load dist/**/*.js as ES modules.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Numeric user and group (no passwd entry needed), so Kubernetes runAsNonRoot can verify it is not root.
USER 10001:10001
# gateway HTTP, order, voucher, notify and reconciliation gRPC, Prometheus metrics (every role).
EXPOSE 8080 50051 50052 50053 50054 9464
# node is PID 1 and handles SIGTERM itself (graceful drain); it starts no child processes to reap.
ENTRYPOINT ["node", "dist/services/platform/main.js"]
CMD ["gateway"]
