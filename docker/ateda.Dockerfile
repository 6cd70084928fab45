# syntax=docker/dockerfile:1
# The ateda ingestor image. Build from the repository root:
#   docker build -f docker/ateda.Dockerfile -t ateda:dev .
# (docker/ateda.Dockerfile.dockerignore keeps the context small.)

# --- build -------------------------------------------------------------------
# Same Debian release as the runtime image, so the binary's glibc matches.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# Registry and target caches survive between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ateda-cli \
 && install -D -m 0755 target/release/ateda /out/ateda

# --- runtime -----------------------------------------------------------------
# debian slim (not distroless): the chart's run.sh wrapper needs /bin/sh and date.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ateda \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --shell /usr/sbin/nologin ateda
COPY --from=build /out/ateda /usr/local/bin/ateda
# Writable paths at run time: /tmp (emptyDir in the chart) and mounted volumes only.
ENV HOME=/tmp \
    RUST_LOG=info
USER 10001:10001
WORKDIR /tmp
EXPOSE 9898
ENTRYPOINT ["/usr/local/bin/ateda"]
CMD ["--help"]
