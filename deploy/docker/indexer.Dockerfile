# syntax=docker/dockerfile:1
# the indexer: follows the chains and publishes their records to Kafka.
# A static binary (CGO_ENABLED=0) in an image with nothing else in it: no
# shell, no package manager, no libc, and a non-root user. Build from the
# repository's root:
#   docker build -f deploy/docker/indexer.Dockerfile -t inflow/indexer .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/indexer ./indexer

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/indexer /usr/local/bin/indexer
USER 65532:65532
EXPOSE 9101
ENTRYPOINT ["/usr/local/bin/indexer", "run"]
