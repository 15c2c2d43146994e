//! Criterion benches of the file source and the use cases over it: window statistics by window
//! length, bucketed series, an organization of 1,000 circuits, and loading the shipped file.
//!
//! Run with `cargo bench -p insights-mockts`. Compare entries of one run with each other; the
//! absolute numbers depend on the machine.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_executor::block_on;
use insights_core::{
    Brand, BrandId, BucketWidth, Catalogue, Circuit, CircuitId, Duid, ElectricSensor,
    InMemoryMetadata, Insights, Location, LocationId, Organization, OrganizationId, SensorId,
    SeriesKey, UsageRequest, Window, Zone, DEFAULT_MAX_WINDOW,
};
use insights_mockts::MockTimeSeries;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

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

/// One organization with `n_circuits` circuits: 10 per sensor, 2 sensors per location.
fn catalogue(n_circuits: usize) -> Catalogue {
    let id = |kind: u128, index: usize| Uuid::from_u128((kind << 64) | index as u128);
    let brand = Brand {
        id: BrandId(id(1, 0)),
        name: "Bench".into(),
    };
    let organization = Organization {
        id: OrganizationId(id(2, 0)),
        name: "Bench org".into(),
        brand_id: brand.id,
    };
    let n_sensors = n_circuits.div_ceil(10);
    let locations: Vec<Location> = (0..n_sensors.div_ceil(2))
        .map(|index| Location {
            id: LocationId(id(3, index)),
            name: format!("Location {index:04}"),
            organization_id: organization.id,
        })
        .collect();
    let sensors: Vec<ElectricSensor> = (0..n_sensors)
        .map(|index| ElectricSensor {
            id: SensorId(id(4, index)),
            duid: Duid(format!("BENCH{index:06}")),
            name: format!("Panel-{index}"),
            location_id: locations[index / 2].id,
        })
        .collect();
    let circuits = (0..n_circuits)
        .map(|index| Circuit {
            id: CircuitId(id(5, index)),
            name: format!("Circuit {}", index % 10 + 1),
            circuit_number: (index % 10 + 1) as u32,
            sensor_id: sensors[index / 10].id,
        })
        .collect();
    Catalogue {
        brands: vec![brand],
        organizations: vec![organization],
        locations,
        sensors,
        circuits,
    }
}

fn series_keys(catalogue: &Catalogue) -> Vec<SeriesKey> {
    catalogue
        .circuits
        .iter()
        .map(|circuit| SeriesKey {
            duid: catalogue
                .sensors
                .iter()
                .find(|sensor| sensor.id == circuit.sensor_id)
                .unwrap()
                .duid
                .clone(),
            circuit_number: circuit.circuit_number,
        })
        .collect()
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
    let one = catalogue(1);
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

    let insights = Insights::new(InMemoryMetadata::new(&one), year);
    let circuit_id = one.circuits[0].id;
    let mut group = c.benchmark_group("bucketed");
    for (name, length, width) in [
        ("day_in_hours", Duration::days(1), BucketWidth::Hour),
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
                    block_on(insights.circuit_usage(circuit_id, black_box(&request))).unwrap(),
                )
            })
        });
    }
    group.finish();

    // An organization of 1,000 circuits with a day of minutes each: 1.44 M samples.
    let thousand = catalogue(1000);
    let source =
        MockTimeSeries::from_reader(samples(&series_keys(&thousand), 1).as_bytes()).unwrap();
    let insights = Insights::new(InMemoryMetadata::new(&thousand), source);
    let organization_id = thousand.organizations[0].id;
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
                block_on(insights.organization_usage(organization_id, &UsageRequest::window(day)))
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
