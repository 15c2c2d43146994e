# Multi-stage build of the Insights Service. Not exercised on the development machines,
# which have no Docker engine; see README.md for what was tested.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p insights-http

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /app insights
WORKDIR /app
COPY --from=build /src/target/release/insights-http /usr/local/bin/insights-http
COPY data/ /app/data/
USER insights
ENV INSIGHTS_ADDR=0.0.0.0:8080 \
    INSIGHTS_TIMESERIES=/app/data/mock_timeseries.json \
    RUST_LOG=info
EXPOSE 8080
# The service stops gracefully on SIGTERM: no new connections, requests in flight finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/insights-http"]
