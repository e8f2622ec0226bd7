# syntax=docker/dockerfile:1
#
# The Shipyard server image: `docker build -t shipyard .` at the top of the repository.
#
# Build stage: the Rust toolchain the workspace asks for (rust-version in Cargo.toml), on the
# same Debian release as the runtime image, so the binary needs no newer glibc than it finds.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Only what the build reads: the workspace manifests, the crates, and the Argo CD fixtures the
# simulator behind `shipyard demo` embeds (.dockerignore keeps the rest out).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY fixtures fixtures
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p shipyard \
    && install -D -m 0755 target/release/shipyard /out/shipyard \
    && install -d -m 0750 /out/data

# Runtime: glibc, libgcc and CA certificates, no shell. The binary links nothing else
# (SQLite and TLS are compiled in). `nonroot` is UID/GID 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="shipyard" \
      org.opencontainers.image.description="Shipyard: release control for GitHub and Argo CD" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/shipyard /usr/local/bin/shipyard
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# One process on SQLite keeps its database in the /data volume. Environment variables win over
# the configuration file: to use PostgreSQL or another address, set these two with `-e`.
ENV SHIPYARD_SERVER__LISTEN=0.0.0.0:8080 \
    SHIPYARD_DATABASE__URL=sqlite:///data/shipyard.db
VOLUME ["/data"]
EXPOSE 8080
# 0 when /readyz answers 2xx in time (database up, migrations applied), 1 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/shipyard", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/shipyard"]
CMD ["serve"]
