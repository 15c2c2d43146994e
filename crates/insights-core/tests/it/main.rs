//! Property tests of the core's laws, over an in-memory source that scans naively.

mod dynamic;
mod extremes;
mod laws;
mod model;
mod oracle;
mod scopes;
mod texts;
mod turns;
mod windows;

use insights_core::{parse_rfc3339, Window, DEFAULT_MAX_WINDOW};

/// A window from two RFC 3339 texts that must make one.
pub(crate) fn window_between(start: &str, end: &str) -> Window {
    let instant = |text| parse_rfc3339(text).unwrap();
    Window::new(instant(start), instant(end), DEFAULT_MAX_WINDOW).unwrap()
}
