# syntax=docker/dockerfile:1
#
# The `tollgate` server as a container image (docs/operations.md, "Containers").
#
#   docker build -t tollgate:local .
#   docker run --rm -p 127.0.0.1:8080:8080 -v tollgate-data:/var/lib/tollgate tollgate:local
#
# Build stage: the official Rust image (the workspace needs Rust 1.94 or newer; this is the
# toolchain CI builds with), on the same Debian release as the final stage so that the binary
# and the C libraries it links against (glibc, libgcc_s) match. BuildKit cache mounts keep the
# cargo registry and the target directory between builds.
# Final stage: debian:bookworm-slim with ca-certificates only, the binary, and a non-root user.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
# The target directory is a cache mount, so the binary is copied out of it within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin tollgate \
    && install -D -m 0755 target/release/tollgate /out/tollgate

FROM debian:${DEBIAN_RELEASE}-slim

# ca-certificates is deliberately not pinned to a version: it must follow Debian's updates of the
# CA bundle, and an exact version pin breaks the build as soon as the mirror moves past it. The
# base image is pinned by its release tag (pin it by digest for reproducible builds).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tollgate \
    && useradd --system --uid 10001 --gid tollgate --home-dir /var/lib/tollgate \
        --no-create-home --shell /usr/sbin/nologin tollgate \
    && install -d -o tollgate -g tollgate -m 0750 /var/lib/tollgate

COPY --from=build /out/tollgate /usr/local/bin/tollgate
# Fails the build if the binary is missing a shared library in this image.
RUN ["tollgate", "--version"]

# Settings are a TOML file (--config PATH) and TOLLGATE_<SECTION>__<KEY> variables, which take
# precedence over the file. In a container the server must listen on every interface; the
# default database is the SQLite file sqlite://tollgate.db, relative to the working directory,
# so /var/lib/tollgate/tollgate.db (with its generated JWT key tollgate.db.jwt-secret beside it
# when auth.jwt_secret is unset). Mount a volume there to keep them.
ENV TOLLGATE_SERVER__LISTEN=0.0.0.0:8080
WORKDIR /var/lib/tollgate
USER 10001:10001
EXPOSE 8080

# GET /healthz answers 200 while the process serves HTTP (GET /readyz also checks the database:
# use it for a load balancer's readiness, not for restarts). The image has no HTTP client, so
# bash's /dev/tcp sends the request. Port 8080: override the check if server.listen changes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM stops the server gracefully: requests in flight finish, queued usage events are
# written and leases given back (allow it up to a minute: docs/operations.md).
STOPSIGNAL SIGTERM
ENTRYPOINT ["tollgate"]
CMD ["serve"]
