# Multi-stage build of the Insights Service. No Docker engine runs on the development
# machines, so this file has not been built there; CI only validates docker-compose.yml
# (`cargo xtask compose-check`). README.md says what was and was not run.

# The toolchain the tests run on; cargo-chef caches the dependencies in their own layer, so
# an edit to the sources rebuilds only the workspace's crates.
FROM rust:1.95.0-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p insights-http --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p insights-http

FROM debian:12.11-slim
RUN useradd --system --uid 10001 --home-dir /app insights
WORKDIR /app
COPY --from=build /src/target/release/insights-http /usr/local/bin/insights-http
COPY data/ /app/data/
USER insights
ENV INSIGHTS_ADDR=0.0.0.0:8080 \
    INSIGHTS_TIMESERIES=/app/data/mock_timeseries.json \
    RUST_LOG=info
EXPOSE 8080
# The binary probes its own /healthz, so the slim image needs no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/insights-http", "healthcheck"]
# The service stops gracefully on SIGTERM: no new connections, requests in flight finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/insights-http"]
