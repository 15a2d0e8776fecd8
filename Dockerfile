# syntax=docker/dockerfile:1
# One image per binary of this repository, the binary chosen with SERVICE:
#
#   docker build --build-arg SERVICE=ingest -t aspm-ingest:dev .
#
# SERVICE is ingest, scorer or api (the services) or aspm (the CLI: aspm demo seed, aspm token,
# …); `make images` builds all four. The binaries are static (CGO_ENABLED=0: the SQLite driver is
# modernc's, pure Go) and run on distroless static as its nonroot user (65532), with no shell.
# Every image also holds /usr/local/bin/healthcheck (deploy/compose/healthcheck), a container
# health check that GETs /readyz, and /var/lib/aspm, owned by the nonroot user, for volumes.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
ARG SERVICE=api
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    case "$SERVICE" in \
      ingest|scorer|api) pkg=./services/$SERVICE/cmd/aspm-$SERVICE ;; \
      aspm) pkg=./cmd/aspm ;; \
      *) echo "SERVICE=$SERVICE: want ingest, scorer, api or aspm" >&2; exit 1 ;; \
    esac && \
    go build -trimpath -ldflags='-s -w' -o /out/bin/app "$pkg" && \
    go build -trimpath -ldflags='-s -w' -o /out/bin/healthcheck ./deploy/compose/healthcheck && \
    mkdir -p /out/data/trust /out/data/tokens && chmod 0700 /out/data/tokens

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
ARG SERVICE=api
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="aspm-${SERVICE}" \
      org.opencontainers.image.description="aspm, software supply-chain provenance (collect, verify and score what you deploy): ${SERVICE}" \
      org.opencontainers.image.source="https://github.com/aspmhq/aspm" \
      org.opencontainers.image.url="https://github.com/aspmhq/aspm" \
      org.opencontainers.image.documentation="https://github.com/aspmhq/aspm/blob/main/README.md" \
      org.opencontainers.image.vendor="aspmhq" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data/ /var/lib/aspm/
USER 65532:65532
WORKDIR /var/lib/aspm
ENTRYPOINT ["/usr/local/bin/app"]
