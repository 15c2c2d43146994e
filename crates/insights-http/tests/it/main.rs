//! Integration tests of the HTTP API: a real server on port 0, whole JSON bodies compared.

mod analytics;
mod errors;
mod insights;
mod metadata;
mod operations;
mod oracle;
mod postgres;
mod proxy;
mod support;
