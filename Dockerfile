# syntax=docker/dockerfile:1
# Build a static smartcloudops binary, then ship it alone on a distroless base as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/smartcloudops ./cmd/smartcloudops
# The data directory, owned by the image's non-root user: a named volume mounted on /data copies
# this ownership on first use, so the bot can write its store there.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/smartcloudops /usr/local/bin/smartcloudops
COPY --from=build --chown=65532:65532 /out/data /data
# State (the bbolt store, charts, audit exports) lives on a volume.
VOLUME ["/data"]
ENV SMARTCLOUDOPS_DATA_DIR=/data \
    SMARTCLOUDOPS_LISTEN=0.0.0.0:9090
EXPOSE 9090
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/smartcloudops"]
CMD ["serve"]
