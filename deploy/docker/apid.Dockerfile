# syntax=docker/dockerfile:1
# apid: the merchant API, its docs and the console.
# A static binary (CGO_ENABLED=0) in an image with nothing else in it: no
# shell, no package manager, no libc, and a non-root user. Build from the
# repository's root:
#   docker build -f deploy/docker/apid.Dockerfile -t inflow/apid .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/apid ./apid

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/apid /usr/local/bin/apid
USER 65532:65532
EXPOSE 8080 9301
ENTRYPOINT ["/usr/local/bin/apid"]
