# One image per service: docker build --build-arg SERVICE=ingest -t aspm-ingest .
# SERVICE is one of ingest, scorer, api (or aspm for the CLI).
FROM golang:1.26-bookworm AS build
ARG SERVICE=api
WORKDIR /src
COPY . .
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
RUN if [ "$SERVICE" = aspm ]; then go build -trimpath -ldflags='-s -w' -o /out/app ./cmd/aspm; \
    else go build -trimpath -ldflags='-s -w' -o /out/app ./services/$SERVICE/cmd/aspm-$SERVICE; fi

FROM gcr.io/distroless/static-debian12:nonroot
ARG SERVICE=api
LABEL org.opencontainers.image.title="aspm-${SERVICE}" \
      org.opencontainers.image.description="aspm supply-chain provenance pipeline: ${SERVICE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/app /usr/local/bin/app
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/app"]
