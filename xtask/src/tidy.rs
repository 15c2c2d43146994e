//! Tidy tests: rules of the repository that plain `cargo test` enforces.
