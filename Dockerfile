# Build stage: compile a release binary.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
# Stylesheets and scripts embedded in the binary and served under /static.
COPY assets ./assets
# The plugin host's bindings are generated from the WIT interface at compile time.
COPY plugins/wit ./plugins/wit
RUN cargo build --release --locked && strip target/release/blink

# Runtime stage: the binary alone, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/blink --create-home blink
COPY --from=build /src/target/release/blink /usr/local/bin/blink
USER blink
WORKDIR /var/lib/blink
ENV PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["blink"]
CMD ["serve"]
