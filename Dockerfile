# syntax=docker/dockerfile:1
# Blink's image: one static-ish binary on a distroless base, run as an unprivileged user.
#   docker build -t blink .            docker run -p 3000:3000 blink
#   docker run --rm blink migrate      (the one-off migration; AUTO_MIGRATE=1, the default, also migrates at start)
# tests/deploy.rs checks this file and runs its steps on the host (scripts/dockerfile-on-host), as CI does.

ARG RUST_VERSION=1.95

# Build stage. Dependencies are compiled first, against placeholder sources, so that a change to Blink's own code
# reuses that layer and recompiles only Blink (minutes instead of a quarter of an hour).
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
# A patched dependency (see Cargo.toml's [patch.crates-io]).
COPY vendor ./vendor
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin blink \
    && rm -rf src target/release/blink target/release/deps/blink-* target/release/deps/libblink-* \
       target/release/.fingerprint/blink-*
# Everything the binary embeds: migrations, stylesheets and scripts, templates, and the plugin interface (WIT).
COPY src ./src
COPY migrations ./migrations
COPY assets ./assets
COPY templates ./templates
COPY plugins/wit ./plugins/wit
RUN cargo build --release --locked --bin blink && strip target/release/blink
# The data directory, made here because the runtime image has no shell to make it.
RUN mkdir -p /rootfs/var/lib/blink

# Runtime stage: glibc, CA certificates and the binary; no shell, no package manager, no curl.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="Blink" \
      org.opencontainers.image.description="A fast, safe, self-hosted link shortener" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=build --chown=65532:65532 /rootfs/var/lib/blink /var/lib/blink
COPY --from=build /src/target/release/blink /usr/local/bin/blink
# distroless's `nonroot` user (65532), by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /var/lib/blink
# The embedded SQLite database lives in the volume; set DATABASE_URL to use PostgreSQL instead.
# MIMALLOC_ARENA_EAGER_COMMIT=0: the allocator commits memory as it is used and gives freed memory back, which kept
# ~20 MB less resident under load at no measured cost (bench/README.md, memory under load). Read before `main`
# runs, so it can only be set from outside.
ENV PORT=3000 \
    DATABASE_URL=sqlite:///var/lib/blink/blink.db \
    AUTO_MIGRATE=1 \
    LOG_FORMAT=json \
    MIMALLOC_ARENA_EAGER_COMMIT=0
VOLUME ["/var/lib/blink"]
EXPOSE 3000
# `blink healthcheck` reads the same configuration as the server (PORT, blink.toml) and asks GET /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["blink", "healthcheck"]
# Blink is PID 1 and handles SIGTERM and SIGINT itself (it drains in-flight requests within
# server.shutdown_grace, then exits 0); it starts no child processes, so nothing needs reaping and no init is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["blink"]
CMD ["serve"]
