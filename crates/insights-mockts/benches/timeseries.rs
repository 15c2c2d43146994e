//! Criterion benches of the file source and the use cases over it: window statistics by window
//! length, bucketed series, an organization of 1,000 circuits, and loading the shipped file.
//!
//! Run with `cargo bench -p insights-mockts`. Compare entries of one run with each other; the
//! absolute numbers depend on the machine.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_executor::block_on;
use insights_core::{
    BucketWidth, Catalogue, DynMetadataRepo, DynTimeSeriesSource, Extent, InMemoryMetadata,
    Insights, MetadataRepo, Scope, SeriesKey, TimeSeriesError, TimeSeriesSource, UsageRequest,
    UsageStats, Window, Zone, DEFAULT_MAX_WINDOW,
};
use insights_mockts::MockTimeSeries;
use time::{Duration, OffsetDateTime};

const START: OffsetDateTime = time::macros::datetime!(2024-01-01 00:00 UTC);

/// A sample file with one row per minute for `days` days for each series.
fn samples(series: &[SeriesKey], days: i64) -> String {
    let mut text = String::with_capacity(series.len() * days as usize * 1440 * 90);
    text.push('[');
    let mut first = true;
    for (index, key) in series.iter().enumerate() {
        for minute in 0..days * 1440 {
            let at = insights_core::format_utc(START + Duration::minutes(minute));
            let watts = 500 + (minute * 37 + index as i64 * 101) % 2000;
            if !first {
                text.push(',');
            }
            first = false;
            write!(
                text,
                r#"{{"duid":"{}","circuit_number":{},"timestamp":"{at}","power_watts":{watts}}}"#,
                key.duid, key.circuit_number
            )
            .unwrap();
        }
    }
    text.push(']');
    text
}

/// The file source seen through `window_stats` alone, its ranges asked one window at a time
/// (as the port's default did): what bucketed requests cost before the index's own
/// `range_stats` was wired in.
struct DefaultPath(Arc<MockTimeSeries>);

impl TimeSeriesSource for DefaultPath {
    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        self.0.extent(series).await
    }

    async fn has_samples_from(
        &self,
        series: &[SeriesKey],
        from: OffsetDateTime,
    ) -> Result<bool, TimeSeriesError> {
        self.0.has_samples_from(series, from).await
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        self.0.window_stats(series, window).await
    }

    insights_core::slow_range_stats!(range_stats, combined_range_stats);
}

fn series_keys(catalogue: &Catalogue) -> Vec<SeriesKey> {
    block_on(InMemoryMetadata::new(catalogue).circuit_series()).unwrap()
}

fn window(length: Duration) -> Window {
    // Start mid-year and unaligned, so both ends fall inside the data and inside blocks.
    let start = START + Duration::days(100) + Duration::seconds(17);
    let start = if length > Duration::days(200) {
        START + Duration::seconds(17)
    } else {
        start
    };
    Window::new(start, start + length, DEFAULT_MAX_WINDOW).unwrap()
}

fn benches(c: &mut Criterion) {
    // One series, a year of minutes: 527,040 samples.
    let one = Catalogue::synthetic(1);
    let keys = series_keys(&one);
    let year = MockTimeSeries::from_reader(samples(&keys, 366).as_bytes()).unwrap();
    let mut group = c.benchmark_group("window_stats");
    for (name, length) in [
        ("1h", Duration::hours(1)),
        ("1d", Duration::days(1)),
        ("30d", Duration::days(30)),
        ("365d", Duration::days(365)),
    ] {
        let window = window(length);
        group.bench_function(name, |b| {
            b.iter(|| black_box(year.series_stats(black_box(&keys[0]), black_box(&window))))
        });
    }
    group.finish();

    let year = Arc::new(year);
    let default_path = Insights::new(InMemoryMetadata::new(&one), DefaultPath(Arc::clone(&year)));
    let insights = Insights::new(InMemoryMetadata::new(&one), year);
    let circuit_id = one.circuits[0].id;
    let mut group = c.benchmark_group("bucketed");
    for (name, length, width) in [
        ("day_in_hours", Duration::days(1), BucketWidth::Hour),
        ("day_in_minutes", Duration::days(1), BucketWidth::Minute),
        ("year_in_days", Duration::days(365), BucketWidth::Day),
    ] {
        let request = UsageRequest::new(
            window(length),
            Some(width),
            Some(Zone::named("America/New_York").unwrap()),
            None,
            None,
        )
        .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    block_on(insights.circuit_usage(&Scope::All, circuit_id, black_box(&request)))
                        .unwrap(),
                )
            })
        });
        // The same request with its ranges asked one window at a time, side by side.
        group.bench_function(format!("{name}_default_path"), |b| {
            b.iter(|| {
                black_box(
                    block_on(default_path.circuit_usage(
                        &Scope::All,
                        circuit_id,
                        black_box(&request),
                    ))
                    .unwrap(),
                )
            })
        });
    }
    group.finish();

    // An organization of 1,000 circuits with a day of minutes each: 1.44 M samples. The
    // synthetic brand spreads circuits over organizations, so gather them into one.
    let mut thousand = Catalogue::synthetic(1000);
    let organization_id = thousand.organizations[0].id;
    thousand.organizations.truncate(1);
    for location in &mut thousand.locations {
        location.organization_id = organization_id;
    }
    let source =
        MockTimeSeries::from_reader(samples(&series_keys(&thousand), 1).as_bytes()).unwrap();
    let source = Arc::new(source);
    let metadata = Arc::new(InMemoryMetadata::new(&thousand));
    let insights = Insights::new(Arc::clone(&metadata), Arc::clone(&source));
    // The same stores behind trait objects, as the service holds them.
    let dynamic: Insights<Arc<dyn DynMetadataRepo>, Arc<dyn DynTimeSeriesSource>> =
        Insights::new(metadata, source);
    let day = Window::new(
        START + Duration::hours(3),
        START + Duration::hours(21),
        DEFAULT_MAX_WINDOW,
    )
    .unwrap();
    let mut group = c.benchmark_group("organization_usage");
    group.bench_function("1000_circuits", |b| {
        b.iter(|| {
            black_box(
                block_on(insights.organization_usage(
                    &Scope::All,
                    organization_id,
                    &UsageRequest::window(day),
                ))
                .unwrap(),
            )
        })
    });
    group.bench_function("1000_circuits_trait_objects", |b| {
        b.iter(|| {
            black_box(
                block_on(dynamic.organization_usage(
                    &Scope::All,
                    organization_id,
                    &UsageRequest::window(day),
                ))
                .unwrap(),
            )
        })
    });
    group.finish();

    let shipped = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mock_timeseries.json"
    ))
    .unwrap();
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("shipped_file", |b| {
        b.iter(|| black_box(MockTimeSeries::from_reader(black_box(&shipped[..])).unwrap()))
    });
    group.finish();
}

criterion_group!(timeseries, benches);
criterion_main!(timeseries);
