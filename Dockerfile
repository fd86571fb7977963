# Multi-stage build: a static binary in a small non-root image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/directus-ircd ./cmd/directus-ircd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/directus-ircd /usr/local/bin/directus-ircd
COPY config.example.yaml /etc/directus-ircd/config.example.yaml
USER nonroot:nonroot
# IRC (plain TCP) and the health endpoint used by HEALTHCHECK.
EXPOSE 6667 8081
ENV DIRECTUS_IRCD_SERVER_LISTEN=0.0.0.0:6667 \
    DIRECTUS_IRCD_HEALTH_LISTEN=0.0.0.0:8081 \
    DIRECTUS_IRCD_LOG_FORMAT=json
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["/usr/local/bin/directus-ircd", "healthcheck", "-url", "http://127.0.0.1:8081/readyz"]
ENTRYPOINT ["/usr/local/bin/directus-ircd"]
CMD ["run"]
