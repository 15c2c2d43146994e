//! Property tests of the core's laws, over an in-memory source that scans naively.

mod extremes;
mod laws;
mod scopes;
mod windows;
