//! Integration tests of the file-backed time-series source.

mod index_laws;
mod loading;
mod reload;

use insights_mockts::MockTimeSeries;

/// Loads a sample file from text.
fn load(text: &str) -> Result<MockTimeSeries, String> {
    MockTimeSeries::from_reader(text.as_bytes()).map_err(|error| error.to_string())
}
