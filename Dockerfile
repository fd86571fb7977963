# Multi-stage build: a static binary in a small non-root image.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" \
#                --build-arg COMMIT="$(git rev-parse HEAD)" -t directus-ircd .
#
# VERSION and COMMIT are stamped into the binary (`directus-ircd version`, the IRC VERSION
# reply, the start-up log) and into the image's OCI labels. An empty COMMIT makes the binary
# fall back to the Go build info, which has no VCS data here (.git is not in the context).
#
# Base images are fully qualified so that podman and buildah resolve them without a
# registries.conf search list. For a release, pin them by digest as well, so that a rebuild
# uses exactly the tested bytes and a moved tag cannot change the image:
#   FROM docker.io/library/golang:1.26@sha256:<digest> AS build
#   FROM gcr.io/distroless/static-debian12:nonroot@sha256:<digest>
# (`docker buildx imagetools inspect IMAGE` or `skopeo inspect docker://IMAGE` print the
# digest; Renovate or Dependabot can keep pinned digests current.)
ARG VERSION=0.1.0-dev
ARG COMMIT=

FROM docker.io/library/golang:1.26 AS build
ARG VERSION
ARG COMMIT
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/directus-ircd/directus-ircd/internal/version.version=${VERSION} -X github.com/directus-ircd/directus-ircd/internal/version.commit=${COMMIT}" -o /out/directus-ircd ./cmd/directus-ircd

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION
ARG COMMIT
# The project has no license file yet: NOASSERTION (SPDX) until it has one.
LABEL org.opencontainers.image.title="directus-ircd" \
      org.opencontainers.image.description="IRC server whose one channel is a Directus collection" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/directus-ircd/directus-ircd" \
      org.opencontainers.image.licenses="NOASSERTION"
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
