//! Property tests of the core's laws, over an in-memory source that scans naively.

mod laws;
mod scopes;
mod windows;
