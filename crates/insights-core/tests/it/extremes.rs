//! No input panics: every window, bucket width, zone and demand interval the contract admits,
//! at both ends of years 0000 to 9999, gives an answer whose timestamps are RFC 3339 in UTC,
//! or an error that names a parameter.

use futures_executor::block_on;
use insights_core::{
    format_utc, parse_rfc3339, BrandId, BucketWidth, DemandInterval, Extent, InMemoryMetadata,
    Insights, InsightsError, RangeStats, Scope, SeriesKey, TimeSeriesError, TimeSeriesSource,
    UsageRequest, UsageStats, Window, Zone, DEFAULT_MAX_WINDOW,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

/// A timestamp's text: a date near either end of the range or anywhere, any time of day, zero
/// to nine fraction digits, and `Z` or any offset up to ±23:59.
fn timestamp_text() -> impl Strategy<Value = String> {
    let year = prop_oneof![Just(0), Just(1), Just(9998), Just(9999), 0..=9999i32];
    let offset = prop_oneof![
        Just(None),
        (any::<bool>(), 0..=23u8, 0..=59u8).prop_map(Some),
        Just(Some((true, 23, 59))),
        Just(Some((false, 23, 59))),
    ];
    (
        year,
        1..=12u8,
        1..=31u8,
        (0..=23u8, 0..=59u8, 0..=59u8),
        0..=9usize,
        0..1_000_000_000u32,
        offset,
    )
        .prop_map(
            |(year, month, day, (hour, minute, second), digits, nanos, offset)| {
                let mut text =
                    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
                if digits > 0 {
                    text.push('.');
                    text.push_str(&format!("{nanos:09}")[..digits]);
                }
                match offset {
                    None => text.push('Z'),
                    Some((negative, hours, minutes)) => text.push_str(&format!(
                        "{}{hours:02}:{minutes:02}",
                        if negative { '-' } else { '+' }
                    )),
                }
                text
            },
        )
}

/// An end: another timestamp, or one a short or long way after `start`'s instant.
fn end_after(start: &str, choice: u8, seconds: i64) -> String {
    match parse_rfc3339(start) {
        Ok(instant) if choice > 0 => {
            let length = match choice {
                1 => Duration::seconds(seconds % 7_200 + 1),
                2 => Duration::seconds(seconds % (3 * 86_400) + 1),
                _ => Duration::days(366),
            };
            instant
                .checked_add(length)
                .map(format_utc)
                .unwrap_or_else(|| "9999-12-31T23:59:59.999999999Z".to_owned())
        }
        _ => "9999-12-31T23:59:59.999999999Z".to_owned(),
    }
}

fn is_utc_rfc3339(instant: OffsetDateTime) -> bool {
    let text = format_utc(instant);
    text.ends_with('Z') && parse_rfc3339(&text).map(format_utc).as_deref() == Ok(text.as_str())
}

fn zone_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Zone::all().map(|zone| zone.name()).collect();
    names.sort_unstable();
    names
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_request_is_answered_in_rfc3339_or_refused_naming_a_parameter(
        start in timestamp_text(),
        other_end in timestamp_text(),
        end_choice in 0..4u8,
        seconds in 0..i64::MAX,
        bucket in prop::option::of(prop::sample::select(BucketWidth::ALL.to_vec())),
        zone_index in prop::option::of(any::<prop::sample::Index>()),
        demand in prop::option::of(prop::sample::select(DemandInterval::ALL.to_vec())),
    ) {
        let end = if end_choice == 0 { other_end } else { end_after(&start, end_choice, seconds) };
        // Text that is not a timestamp is the HTTP layer's to word; its own test covers it.
        let (Ok(start), Ok(end)) = (parse_rfc3339(&start), parse_rfc3339(&end)) else {
            return Ok(());
        };
        let window = match Window::new(start, end, DEFAULT_MAX_WINDOW) {
            Ok(window) => window,
            Err(error) => {
                prop_assert!(!error.to_string().is_empty());
                return Ok(());
            }
        };
        let names = zone_names();
        let zone = zone_index.map(|index| Zone::named(index.get::<&str>(&names)).expect("a listed zone"));
        let request = match UsageRequest::new(window, bucket, zone, demand, Some(3)) {
            Ok(request) => request,
            Err(error) => {
                prop_assert!(!error.to_string().is_empty());
                return Ok(());
            }
        };
        let insights = Insights::new(InMemoryMetadata::seed(), Recording::default());
        // A location (two sensors, six circuits) has parts to check, and a sixth of the
        // brand's work: the timestamps are the point here, not the number of circuits.
        let location = insights_core::Catalogue::seed().locations[0].id;
        match block_on(insights.location_usage(&Scope::All, location, &request)) {
            Ok(answer) => {
                let rollup = &answer.rollup;
                prop_assert!(is_utc_rfc3339(rollup.window.start()));
                prop_assert!(is_utc_rfc3339(rollup.window.end()));
                for bucket in rollup.series.iter().flatten() {
                    prop_assert!(is_utc_rfc3339(bucket.bucket.start), "{:?}", bucket);
                    prop_assert!(is_utc_rfc3339(bucket.bucket.end), "{:?}", bucket);
                }
                let peaks = std::iter::once(&rollup.total.figures)
                    .chain(rollup.parts.iter().map(|part| &part.usage.figures))
                    .chain(rollup.series.iter().flatten().map(|bucket| &bucket.figures))
                    .filter_map(|figures| figures.peak_demand.found());
                for peak in peaks {
                    prop_assert!(is_utc_rfc3339(peak.start) && is_utc_rfc3339(peak.end));
                }
            }
            Err(InsightsError::TooMuchWork(error)) => {
                prop_assert!(error.cells > insights_core::MAX_CELLS_PER_REQUEST, "{error}");
            }
            Err(error) => prop_assert!(false, "unexpected error: {error}"),
        }
    }
}

#[test]
fn the_last_hours_of_year_9999_bucket_in_every_zone() {
    let window = crate::window_between("9999-12-30T00:00:00Z", "9999-12-31T23:59:59.999999999Z");
    let first = crate::window_between("0000-01-01T00:00:00Z", "0000-01-03T00:00:00Z");
    let insights = Insights::new(InMemoryMetadata::seed(), Recording::default());
    // One circuit: the zones' boundaries are the point, and every zone is a lot of them.
    let circuit = insights_core::Catalogue::seed().circuits[0].id;
    for zone in Zone::all() {
        for window in [window, first] {
            for width in [BucketWidth::Hour, BucketWidth::Day, BucketWidth::Month] {
                let request = UsageRequest::new(
                    window,
                    Some(width),
                    Some(zone),
                    Some(DemandInterval::ALL[0]),
                    None,
                )
                .unwrap();
                let answer =
                    block_on(insights.circuit_usage(&Scope::All, circuit, &request)).unwrap();
                for bucket in answer.rollup.series.iter().flatten() {
                    assert!(
                        is_utc_rfc3339(bucket.bucket.start),
                        "{} {width}",
                        zone.name()
                    );
                }
            }
        }
    }
}

/// A source with one sample of 1 W per series in every window or range asked about, so every
/// figure is there, that records the most figures (series × ranges) any one call asked for.
#[derive(Debug, Default)]
struct Recording {
    largest_call: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
}

impl TimeSeriesSource for Recording {
    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        self.record(series.len());
        Ok(None)
    }

    async fn has_samples_from(
        &self,
        series: &[SeriesKey],
        _from: OffsetDateTime,
    ) -> Result<bool, TimeSeriesError> {
        self.record(series.len());
        Ok(false)
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        _window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        self.record(series.len());
        Ok(vec![
            UsageStats::of_samples([1.0], Duration::minutes(1));
            series.len()
        ])
    }

    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<RangeStats, TimeSeriesError> {
        let ranges = edges.len() - 1;
        self.record(series.len() * ranges);
        let mut answer = RangeStats::empty(series.len(), ranges);
        for index in 0..series.len() {
            answer
                .series_mut(index)
                .fill(UsageStats::of_samples([1.0], Duration::minutes(1)));
        }
        Ok(answer)
    }

    insights_core::slow_range_stats!(combined_range_stats);
}

impl Recording {
    fn record(&self, cells: usize) {
        use std::sync::atomic::Ordering;
        self.largest_call.fetch_max(cells, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn no_call_to_the_source_asks_for_more_than_the_cell_budget() {
    use std::sync::atomic::Ordering;
    // The heaviest request the API admits: the brand, 366 days, day buckets, 5-minute demand
    // intervals (105,408 of them) and the top 100 circuits.
    let window = crate::window_between("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
    let request = UsageRequest::builder(window)
        .bucket(BucketWidth::Day)
        .zone(Zone::named("America/New_York").unwrap())
        .demand_interval(DemandInterval::ALL[0])
        .top(100)
        .build()
        .unwrap();
    // The builder checks what new() checks, and builds the same request.
    assert_eq!(
        UsageRequest::new(
            window,
            Some(BucketWidth::Day),
            Some(Zone::named("America/New_York").unwrap()),
            Some(DemandInterval::ALL[0]),
            Some(100),
        ),
        Ok(request.clone())
    );
    assert!(UsageRequest::builder(window).top(0).build().is_err());
    // Shared, so the test reads what the source recorded: the use cases give no way around
    // the tenant scope to their stores.
    let source = std::sync::Arc::new(Recording::default());
    let insights = Insights::new(InMemoryMetadata::seed(), source.clone());
    let brand: BrandId = "11111111-1111-1111-1111-111111111111".parse().unwrap();
    let answer = block_on(insights.brand_usage(&Scope::All, brand, &request)).unwrap();
    assert!(
        source.largest_call.load(Ordering::Relaxed) <= insights_core::CELLS_PER_CALL,
        "{} figures in one call",
        source.largest_call.load(Ordering::Relaxed)
    );
    // The peaks keep 40 figures per interval (the total, 3 organizations and the 36 ranked
    // circuits), so a call covers 65,536 / 40 = 1,638 intervals of the 36 circuits.
    assert_eq!(source.largest_call.load(Ordering::Relaxed), 36 * 1638);
    // Streaming split the work, and lost none of it: every interval of every circuit has its
    // one sample, so each interval sums to 36 W, or 36 x 60 s / 300 s on average.
    assert!(source.calls.load(Ordering::Relaxed) > 2);
    let peak = answer.rollup.total.figures.peak_demand.found().unwrap();
    assert_eq!(peak.watts, 36.0 * 60.0 / 300.0);
    // All intervals tie, and the earliest wins.
    assert_eq!(format_utc(peak.start), "2024-01-01T00:00:00Z");
}
