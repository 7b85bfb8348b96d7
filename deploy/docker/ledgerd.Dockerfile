# syntax=docker/dockerfile:1
# ledgerd: the ledger, its registry, webhooks and the internal API.
# A static binary (CGO_ENABLED=0) in an image with nothing else in it: no
# shell, no package manager, no libc, and a non-root user. Build from the
# repository's root:
#   docker build -f deploy/docker/ledgerd.Dockerfile -t inflow/ledgerd .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ledgerd ./ledgerd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ledgerd /usr/local/bin/ledgerd
USER 65532:65532
EXPOSE 9201
ENTRYPOINT ["/usr/local/bin/ledgerd"]
