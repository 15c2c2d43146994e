//! Progress of long runs on a terminal: how much is done, the rate, and what remains. Bars
//! draw on standard error only when it is a terminal, so CI logs stay as they were.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar over `total` things called `unit`, such as samples, headed `what`.
pub fn counting(what: &str, total: u64, unit: &str) -> ProgressBar {
    styled(
        what,
        total,
        &format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}, {{rate}}, {{eta}} left"),
    )
}

/// A bar over `total` bytes, headed `what`.
pub fn bytes(what: &str, total: u64) -> ProgressBar {
    styled(
        what,
        total,
        "{msg} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left",
    )
}

/// Turns `bar` into a spinner saying `what`, for work after the counted part whose length
/// is unknown (an import's rollups after its last sample was read).
pub fn then(bar: &ProgressBar, what: &str) {
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("the template is valid"),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
}

fn styled(what: &str, total: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("the template is valid")
            .with_key(
                "rate",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    // Whole units a second: `per_sec` shows four decimals of noise.
                    let _ = write!(out, "{:.0}/s", state.per_sec());
                },
            )
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar over a run of known length (load runs), moved by the clock until dropped.
pub struct Timed {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Timed {
    /// A bar over `length`, headed `what`.
    pub fn start(what: &str, length: Duration) -> Timed {
        let total_ms = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
        let bar = styled(
            what,
            total_ms,
            "{msg} [{bar:30}] {elapsed} done, {eta} left",
        );
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = (!bar.is_hidden()).then(|| {
            let (bar, stop) = (bar.clone(), stop.clone());
            let started = Instant::now();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    bar.set_position(elapsed.min(total_ms));
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        });
        Timed { bar, stop, ticker }
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.bar.finish_and_clear();
    }
}
