//! Reloading: a file that loads replaces the index whole; one that does not changes nothing.

use insights_core::{Duid, SeriesKey, TimeSeriesSource, Window, DEFAULT_MAX_WINDOW};
use insights_mockts::ReloadableTimeSeries;
use time::Duration;

/// A file of series A/1 with one sample of `watts` every `spacing_s` seconds from midnight.
fn samples(watts: &[i64], spacing_s: u32) -> String {
    let rows: Vec<String> = watts
        .iter()
        .zip(0..)
        .map(|(watts, index)| {
            let second = index * spacing_s;
            format!(
                r#"{{"duid":"A","circuit_number":1,"timestamp":"2024-04-01T00:{:02}:{:02}Z","power_watts":{watts}}}"#,
                second / 60,
                second % 60
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

/// (samples, sum of watts, nominal interval in seconds) of series A/1 over its first hour.
fn answer(source: &ReloadableTimeSeries) -> (u64, String, i64) {
    let key = SeriesKey {
        duid: Duid("A".into()),
        circuit_number: 1,
    };
    let start = insights_core::parse_rfc3339("2024-04-01T00:00:00Z").unwrap();
    let hour = Window::new(start, start + Duration::HOUR, DEFAULT_MAX_WINDOW).unwrap();
    let stats =
        futures_executor::block_on(source.window_stats(std::slice::from_ref(&key), &hour)).unwrap();
    let extent = futures_executor::block_on(source.extent(&[key])).unwrap();
    (
        stats[0].n_samples(),
        format!("{:?}", stats[0].total()),
        extent.map_or(0, |extent| extent.interval.whole_seconds()),
    )
}

#[test]
fn a_reload_answers_from_the_new_file_and_a_bad_file_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("insights-mockts-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("samples.json");
    std::fs::write(&path, samples(&[1, 2, 3], 60)).unwrap();
    let source = ReloadableTimeSeries::load(&path).unwrap();
    let first = answer(&source);
    assert_eq!((first.0, first.2), (3, 60));
    // A caller holding the old index keeps it whole while the source moves on.
    let held = source.current();

    std::fs::write(&path, samples(&[10, 20, 30, 40], 30)).unwrap();
    let fresh = source.reload().unwrap();
    assert_eq!((fresh.n_samples(), held.n_samples()), (4, 3));
    let second = answer(&source);
    assert_eq!((second.0, second.2), (4, 30));
    assert_ne!(second.1, first.1);

    for bad in ["", "[", r#"[{"duid":"A"}]"#] {
        std::fs::write(&path, bad).unwrap();
        assert!(source.reload().is_err(), "{bad:?} loaded");
        assert_eq!(answer(&source), second, "after {bad:?}");
    }
    std::fs::remove_file(&path).unwrap();
    assert!(source.reload().is_err(), "a missing file loaded");
    assert_eq!(answer(&source), second);
    assert_eq!(source.path(), path);
    std::fs::remove_dir_all(dir).unwrap();
}
