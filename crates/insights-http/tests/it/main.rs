//! Integration tests of the HTTP API: a real server on port 0, whole JSON bodies compared.

mod admission;
mod analytics;
mod auth;
mod caching;
mod errors;
mod export;
mod extremes;
mod insights;
mod limits;
mod metadata;
mod operations;
mod oracle;
mod postgres;
mod process;
mod proxy;
mod ratelimits;
mod replicas;
mod support;
mod unavailable;
