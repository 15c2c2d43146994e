//! An independent reference: recomputes usage from the raw data file and the catalogue with
//! plain loops, and the `time` crate's own RFC 3339 parser, so the server is checked against
//! arithmetic that shares none of its index code.

use std::sync::OnceLock;

use insights_core::Catalogue;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One sample: (duid, circuit number, ns since the epoch, watts).
pub type Row = (String, u64, i128, i64);

/// The rows of a sample file.
pub fn parse_rows(text: &str) -> Vec<Row> {
    let document: Value = serde_json::from_str(text).unwrap();
    document
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["duid"].as_str().unwrap().to_owned(),
                row["circuit_number"].as_u64().unwrap(),
                instant(row["timestamp"].as_str().unwrap()),
                row["power_watts"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The rows of the shipped data, parsed once.
pub fn rows() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/mock_timeseries.json"
        );
        parse_rows(&std::fs::read_to_string(path).unwrap())
    })
}

/// Nanoseconds since the epoch of an RFC 3339 text.
pub fn instant(text: &str) -> i128 {
    OffsetDateTime::parse(text, &Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
}

/// The `usage` object for the samples of `series` in `[start, end)` of the shipped data.
pub fn usage(series: &[(String, u64)], start: &str, end: &str) -> Value {
    usage_in(rows(), series, instant(start), instant(end), None)
}

/// A JSON number as the server writes watts: whole values as integers.
pub fn watts(value: f64) -> Value {
    if value.fract() == 0.0 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// The `usage` object over `[start, end)` (ns), with `peak_demand` over the whole demand
/// intervals among `demand_edges` that lie in the range, when given.
pub fn usage_in(
    rows: &[Row],
    series: &[(String, u64)],
    start: i128,
    end: i128,
    demand_edges: Option<&[i128]>,
) -> Value {
    let samples: Vec<i64> = rows
        .iter()
        .filter(|(duid, number, at, _)| {
            series.iter().any(|(d, n)| d == duid && n == number) && start <= *at && *at < end
        })
        .map(|row| row.3)
        .collect();
    let n = samples.len();
    let total: i64 = samples.iter().sum();
    let window_seconds = (end - start) as f64 / 1e9;
    let coverage = if series.is_empty() {
        0.0
    } else {
        (n as f64 * 60.0 / (window_seconds * series.len() as f64)).min(1.0)
    };
    let mut usage = json!({
        "total_watts": total,
        "sample_count": n,
        "average_watts": if n == 0 { Value::Null } else { watts(total as f64 / n as f64) },
        "min_watts": samples.iter().min().map_or(Value::Null, |min| json!(min)),
        "max_watts": samples.iter().max().map_or(Value::Null, |max| json!(max)),
        "energy_wh": total as f64 * 60.0 / 3600.0,
        "coverage": coverage,
    });
    if let Some(edges) = demand_edges {
        usage["peak_demand"] = peak(interval_powers(rows, series, edges, start, end));
    }
    usage
}

/// A whole interval's bounds (ns), how many samples it holds, and their average power.
pub type IntervalPower = (i128, i128, usize, f64);

/// Each whole interval among `edges` inside `[start, end)`: its bounds, how many samples it
/// holds and their average power (`sum * 60 / length_s`).
pub fn interval_powers<'a>(
    rows: &'a [Row],
    series: &'a [(String, u64)],
    edges: &'a [i128],
    start: i128,
    end: i128,
) -> impl Iterator<Item = IntervalPower> + 'a {
    edges
        .windows(2)
        .filter(move |pair| start <= pair[0] && pair[1] <= end)
        .map(move |pair| {
            let samples: Vec<i64> = rows
                .iter()
                .filter(|(duid, number, at, _)| {
                    series.iter().any(|(d, n)| d == duid && n == number)
                        && pair[0] <= *at
                        && *at < pair[1]
                })
                .map(|row| row.3)
                .collect();
            let sum: i64 = samples.iter().sum();
            let power = sum as f64 * 60.0 / ((pair[1] - pair[0]) as f64 / 1e9);
            (pair[0], pair[1], samples.len(), power)
        })
}

/// The highest average power over whole intervals in `[start, end)`: earliest on a tie, 0 W
/// for an interval without samples, null when none fits.
pub fn peak(intervals: impl Iterator<Item = IntervalPower>) -> Value {
    let mut best: Option<(f64, i128, i128)> = None;
    for (from, to, _, power) in intervals {
        if best.is_none_or(|(watts, _, _)| power > watts) {
            best = Some((power, from, to));
        }
    }
    best.map_or(
        Value::Null,
        |(power, from, to)| json!({"watts": watts(power), "start": utc(from), "end": utc(to)}),
    )
}

/// The lowest average power over whole intervals in `[start, end)` that hold samples:
/// earliest on a tie, null when none does.
pub fn baseload(intervals: impl Iterator<Item = IntervalPower>) -> Value {
    intervals
        .filter(|(_, _, samples, _)| *samples > 0)
        .map(|(_, _, _, power)| power)
        .reduce(|lowest, power| if power < lowest { power } else { lowest })
        .map_or(Value::Null, watts)
}

/// An instant (ns) as the server writes it.
pub fn utc(nanos: i128) -> String {
    insights_core::format_utc(OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap())
}

/// The seed catalogue, parsed from the generated SQL's source file.
pub fn catalogue() -> Catalogue {
    Catalogue::seed()
}

/// The (duid, circuit number) of every circuit of the given location ids.
pub fn series_of_locations(location_ids: &[String]) -> Vec<(String, u64)> {
    let catalogue = catalogue();
    catalogue
        .circuits
        .iter()
        .filter_map(|circuit| {
            let sensor = catalogue
                .sensors
                .iter()
                .find(|sensor| sensor.id == circuit.sensor_id)?;
            location_ids
                .contains(&sensor.location_id.to_string())
                .then(|| (sensor.duid.0.clone(), u64::from(circuit.circuit_number)))
        })
        .collect()
}
