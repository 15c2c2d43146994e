//! Loading: every bad row is reported with its index and field, and good files load whole.

use std::fs::File;
use std::io::BufReader;

use insights_core::{Duid, SeriesKey, TimeSeriesSource, Window, DEFAULT_MAX_WINDOW};
use time::Duration;

use crate::load;
use insights_mockts::MockTimeSeries;

fn check(text: &str, expected: Result<(usize, usize), &str>) {
    let actual = load(text).map(|source| (source.n_samples(), source.n_series()));
    assert_eq!(actual, expected.map_err(str::to_owned), "input: {text}");
}

const ROW: &str =
    r#"{"duid":"A","circuit_number":1,"timestamp":"2024-04-01T00:00:00Z","power_watts":5}"#;

#[test]
fn loads_valid_files() {
    check("[]", Ok((0, 0)));
    check(&format!("[{ROW}]"), Ok((1, 1)));
    check(
        r#"[{"duid":"A","circuit_number":1,"timestamp":"2024-04-01T00:01:00+00:00","power_watts":5.5,"extra":[1,{"x":2}]},
            {"power_watts":-3,"timestamp":"2024-04-01T00:00:00Z","circuit_number":1,"duid":"A"},
            {"duid":"A","circuit_number":2,"timestamp":"2024-04-01T00:00:00Z","power_watts":0}]"#,
        Ok((3, 2)),
    );
}

#[test]
fn names_the_row_and_the_field() {
    check("", Err("the sample file is not a JSON array of sample objects: EOF while parsing a value at line 1 column 0"));
    check("{}", Err("the sample file is not a JSON array of sample objects: invalid type: map, expected a JSON array of sample objects at line 1 column 1"));
    check(&format!("[{ROW}] trailing"), Err("the sample file is not a JSON array of sample objects: trailing characters at line 1 column 86"));
    check(&format!("[{ROW},"), Err("row 1: the sample file is not a JSON array of sample objects: EOF while parsing a value at line 1 column 84"));
    check(&format!("[{ROW}, 7]"), Err("row 1: the sample file is not a JSON array of sample objects: invalid type: integer `7`, expected a sample object at line 1 column 87"));
    check(
        &format!("[{ROW}, {}]", ROW.replace(r#""duid":"A","#, "")),
        Err("row 1: missing field `duid`"),
    );
    check(
        &format!("[{}]", ROW.replace(r#","power_watts":5"#, "")),
        Err("row 0: missing field `power_watts`"),
    );
    check(
        &format!("[{}]", ROW.replace("2024-04-01T00:00:00Z", "2024-04-01 00:00")),
        Err("row 0: field `timestamp` is not an RFC 3339 timestamp (expected `:` after the minute); expected for example 2024-04-01T00:00:00Z"),
    );
    check(
        &format!("[{}]", ROW.replace("2024-04-01T00:00:00Z", "2024-04-01T00:00:00")),
        Err("row 0: field `timestamp` has no UTC offset; add `Z` or `±hh:mm`, for example 2024-04-01T00:00:00Z"),
    );
    check(
        &format!("[{}]", ROW.replace("2024-04-01T00:00:00Z", "2300-01-01T00:00:00Z")),
        Err("row 0: field `timestamp` 2300-01-01T00:00:00Z is outside the years 1678 to 2262 that samples may use"),
    );
    check(
        &format!("[{}]", ROW.replace(":5}", r#":"5"}"#)),
        Err(r#"row 0: field `power_watts` must be a finite number, found the string "5""#),
    );
    check(
        &format!("[{}]", ROW.replace(":5}", ":null}")),
        Err("row 0: field `power_watts` must be a finite number, found null"),
    );
    check(
        &format!("[{}]", ROW.replace(":5}", ":1e999}")),
        Err(
            "row 0: field `power_watts` could not be read: number out of range at line 1 column 87",
        ),
    );
    // The physical bound, 1 GW either way, is admitted; one watt past it is not.
    check(
        &format!("[{}]", ROW.replace(":5}", ":1000000000}")),
        Ok((1, 1)),
    );
    check(&format!("[{}]", ROW.replace(":5}", ":-1e9}")), Ok((1, 1)));
    check(
        &format!("[{}]", ROW.replace(":5}", ":1000000001}")),
        Err("row 0: field `power_watts` must be from -1e9 to 1e9 W (1 GW, beyond any circuit), found 1.000000001e9"),
    );
    check(
        &format!("[{}]", ROW.replace(":5}", ":6e18}")),
        Err("row 0: field `power_watts` must be from -1e9 to 1e9 W (1 GW, beyond any circuit), found 6e18"),
    );
    check(
        &format!("[{}]", ROW.replace(":5}", ":[5]}")),
        Err("row 0: field `power_watts` must be a finite number, found an array"),
    );
    check(
        &format!(
            "[{}]",
            ROW.replace(r#""circuit_number":1"#, r#""circuit_number":0"#)
        ),
        Err("row 0: field `circuit_number` must be a positive integer, found the number 0"),
    );
    check(
        &format!(
            "[{}]",
            ROW.replace(r#""circuit_number":1"#, r#""circuit_number":1.5"#)
        ),
        Err("row 0: field `circuit_number` must be a positive integer, found the number 1.5"),
    );
    check(
        &format!("[{}]", ROW.replace(r#""duid":"A""#, r#""duid":"""#)),
        Err("row 0: field `duid` is empty"),
    );
    check(
        &format!("[{}]", ROW.replace(r#""duid":"A""#, r#""duid":7"#)),
        Err("row 0: field `duid` must be a string, found the number 7"),
    );
    // PostgreSQL's text cannot hold NUL; no control character belongs in an identifier.
    check(
        &format!(
            "[{ROW},{}]",
            ROW.replace(r#""duid":"A""#, r#""duid":"A\u0000B""#)
        ),
        Err("row 1: field `duid` holds the control character U+0000; a duid is printable text"),
    );
    check(
        &format!("[{}]", ROW.replace(r#""duid":"A""#, r#""duid":"A\tB""#)),
        Err("row 0: field `duid` holds the control character U+0009; a duid is printable text"),
    );
    check(
        &format!("[{}]", ROW.replace(r#""duid":"A""#, r#""duid":"A\u009fB""#)),
        Err("row 0: field `duid` holds the control character U+009F; a duid is printable text"),
    );
    check(
        &format!("[{}]", ROW.replace(r#""duid":"A""#, r#""duid":"A B-é""#)),
        Ok((1, 1)),
    );
    check(
        &format!(
            "[{}]",
            ROW.replace(r#""duid":"A""#, r#""duid":"A","duid":"B""#)
        ),
        Err("row 0: field `duid` appears twice"),
    );
    check(
        &format!("[{ROW},{},{ROW}]", ROW.replace("00:00:00Z", "00:01:00Z")),
        Err("row 2: duplicate sample for duid A circuit 1 at 2024-04-01T00:00:00Z, already given by row 0"),
    );
    // The same instant written with another offset is still a duplicate.
    check(
        &format!("[{ROW},{}]", ROW.replace("00:00:00Z", "02:00:00+02:00")),
        Err("row 1: duplicate sample for duid A circuit 1 at 2024-04-01T00:00:00Z, already given by row 0"),
    );
}

#[test]
fn shipped_file_loads_with_a_one_minute_interval() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mock_timeseries.json"
    );
    let source =
        insights_mockts::MockTimeSeries::from_reader(BufReader::new(File::open(path).unwrap()))
            .unwrap();
    assert_eq!((source.n_samples(), source.n_series()), (51_840, 36));
    let key = SeriesKey {
        duid: Duid("6D12E310B371FCB1".into()),
        circuit_number: 1,
    };
    assert_eq!(interval(&source, "6D12E310B371FCB1"), Duration::minutes(1));
    let day = Window::new(
        insights_core::parse_rfc3339("2024-04-01T00:00:00Z").unwrap(),
        insights_core::parse_rfc3339("2024-04-02T00:00:00Z").unwrap(),
        DEFAULT_MAX_WINDOW,
    )
    .unwrap();
    assert_eq!(source.series_stats(&key, &day).n_samples(), 1440);
    let catalogue_keys: Vec<SeriesKey> = insights_core::Catalogue::seed()
        .circuits
        .iter()
        .map(|circuit| {
            let sensor = insights_core::Catalogue::seed()
                .sensors
                .into_iter()
                .find(|sensor| sensor.id == circuit.sensor_id)
                .unwrap();
            SeriesKey {
                duid: sensor.duid,
                circuit_number: circuit.circuit_number,
            }
        })
        .collect();
    assert!(source.unreferenced(&catalogue_keys).is_empty());
    assert_eq!(
        source.unreferenced(&catalogue_keys[1..]),
        vec![(&key, 1440)]
    );
}

/// The nominal interval of circuit 1 of the sensor `duid`, as its extent reports it.
fn interval(source: &MockTimeSeries, duid: &str) -> Duration {
    let key = SeriesKey {
        duid: Duid(duid.into()),
        circuit_number: 1,
    };
    futures_executor::block_on(source.extent(&[key]))
        .unwrap()
        .unwrap()
        .interval
}

/// The nominal interval of one series with samples at these seconds after 2024-04-01.
fn interval_of(seconds: &[u32]) -> Duration {
    let rows: Vec<String> = seconds
        .iter()
        .map(|second| format!(r#"{{"duid":"A","circuit_number":1,"timestamp":"2024-04-01T00:{:02}:{:02}Z","power_watts":1}}"#, second / 60, second % 60))
        .collect();
    interval(&load(&format!("[{}]", rows.join(","))).unwrap(), "A")
}

#[test]
fn nominal_interval_is_the_most_common_spacing() {
    assert_eq!(
        interval_of(&[0, 30, 60, 90, 150, 210]),
        Duration::seconds(30)
    );
    // No spacing to measure falls back to one minute.
    assert_eq!(interval_of(&[0]), Duration::minutes(1));
}

#[test]
fn each_series_has_its_own_interval_and_energy() {
    // A every minute for an hour, B every 10 s for the same hour, each at 600 W.
    let rows: Vec<String> = (0..3600)
        .step_by(10)
        .flat_map(|second: u32| {
            let at = format!("2024-04-01T00:{:02}:{:02}Z", second / 60, second % 60);
            let fast = format!(
                r#"{{"duid":"B","circuit_number":1,"timestamp":"{at}","power_watts":600}}"#
            );
            let slow = format!(
                r#"{{"duid":"A","circuit_number":1,"timestamp":"{at}","power_watts":600}}"#
            );
            if second.is_multiple_of(60) {
                vec![fast, slow]
            } else {
                vec![fast]
            }
        })
        .collect();
    let source = load(&format!("[{}]", rows.join(","))).unwrap();
    assert_eq!(interval(&source, "A"), Duration::minutes(1));
    assert_eq!(interval(&source, "B"), Duration::seconds(10));
    let start = insights_core::parse_rfc3339("2024-04-01T00:00:00Z").unwrap();
    let hour = Window::new(start, start + Duration::HOUR, DEFAULT_MAX_WINDOW).unwrap();
    let key = |duid: &str| SeriesKey {
        duid: Duid(duid.into()),
        circuit_number: 1,
    };
    let stats =
        futures_executor::block_on(source.window_stats(&[key("A"), key("B")], &hour)).unwrap();
    // 600 W for an hour is 600 Wh, whatever the other series sends.
    assert_eq!((stats[0].energy_wh(), stats[1].energy_wh()), (600.0, 600.0));
    let both = stats[0].merge(stats[1]);
    assert_eq!(
        (both.energy_wh(), both.coverage(hour.length_nanos(), 2)),
        (1200.0, 1.0)
    );
}

/// Streams `text` and lists what reached the callback, or the error's words.
fn check_stream(text: &str, expected: Result<Vec<(&str, u32, i64, f64)>, &str>) {
    let mut rows = Vec::new();
    let result = insights_mockts::stream_rows(text.as_bytes(), &mut |key, at, watts| {
        rows.push((key.duid.0.clone(), key.circuit_number, at, watts));
    });
    let actual = result.map(|n_rows| {
        assert_eq!(n_rows, rows.len());
        rows
    });
    let expected = expected
        .map(|rows| {
            rows.into_iter()
                .map(|(duid, number, at, watts)| (duid.to_owned(), number, at, watts))
                .collect()
        })
        .map_err(str::to_owned);
    assert_eq!(
        actual.map_err(|error| error.to_string()),
        expected,
        "input: {text}"
    );
}

#[test]
fn streams_arrays_and_ndjson_row_by_row() {
    const T0: i64 = 1_711_929_600_000_000_000;
    let second = ROW
        .replace("00:00:00Z", "00:01:00Z")
        .replace(":5}", ":-2.5}");
    let both = vec![("A", 1, T0, 5.0), ("A", 1, T0 + 60_000_000_000, -2.5)];
    check_stream(&format!("[{ROW},{second}]"), Ok(both.clone()));
    check_stream(&format!("{ROW}\n{second}\n"), Ok(both.clone()));
    check_stream(&format!("  \n{ROW}{second}"), Ok(both));
    check_stream("", Ok(vec![]));
    check_stream(" [ ] ", Ok(vec![]));
    // Duplicates pass: the rows are not kept, and the database skips them.
    check_stream(&format!("{ROW}\n{ROW}"), Ok(vec![("A", 1, T0, 5.0); 2]));
    // A bad row stops the stream with its index, after the rows before it went through.
    check_stream(
        &format!("{ROW}\n{}", ROW.replace(":5}", ":1e10}")),
        Err("row 1: field `power_watts` must be from -1e9 to 1e9 W (1 GW, beyond any circuit), found 1e10"),
    );
    // The import's path refuses a NUL in a duid as the loader does, naming the row.
    check_stream(
        &format!(
            "{ROW}\n{}",
            ROW.replace(r#""duid":"A""#, r#""duid":"\u0000""#)
        ),
        Err("row 1: field `duid` holds the control character U+0000; a duid is printable text"),
    );
    check_stream(&format!("{ROW}\n{{"), Err("row 1: the sample file is not a JSON array of sample objects: EOF while parsing an object at line 1 column 1"));
    let syntax = |row: usize, reason: &str| {
        format!("row {row}: the sample file is not a JSON array of sample objects: {reason}")
    };
    check_stream(
        &format!("[{ROW} {ROW}]"),
        Err(&syntax(1, "expected `,` or `]` between sample objects")),
    );
    check_stream(
        &format!("[{ROW}] {ROW}"),
        Err(&syntax(1, "trailing characters after the array")),
    );
    check_stream(
        &format!("[{ROW}, 7]"),
        Err(&syntax(1, "expected a sample object, found `7`")),
    );
    check_stream(
        &format!("[{ROW}"),
        Err(&syntax(1, "the array is not closed with `]`")),
    );
    // Commas and brackets belong to an array only, and only between its objects.
    let found = |row, what: &str| syntax(row, &format!("expected a sample object, found `{what}`"));
    check_stream(&format!("{ROW},{ROW}"), Err(&found(1, ",")));
    check_stream(&format!("[,{ROW}]"), Err(&found(0, ",")));
    check_stream(&format!("[{ROW},,{ROW}]"), Err(&found(1, ",")));
    check_stream(&format!("{ROW}]"), Err(&found(1, "]")));
    check_stream(&format!("{ROW}\n[{ROW}]"), Err(&found(1, "[")));
    check_stream(&format!("[[{ROW}]]"), Err(&found(0, "[")));
    // Braces and quotes inside strings and extra fields do not confuse the scanner.
    let odd = ROW.replace(
        r#""duid":"A","#,
        r#""note":"}{\"]","extra":[{"a":"}"}],"duid":"A","#,
    );
    check_stream(&format!("[{odd}]"), Ok(vec![("A", 1, T0, 5.0)]));
}

#[test]
fn a_streamed_object_longer_than_the_limit_stops_the_stream_with_its_line() {
    const T0: i64 = 1_711_929_600_000_000_000;
    let limit = insights_mockts::MAX_OBJECT_BYTES;
    // ROW with an extra field that makes it `length` bytes long.
    let padded = |length: usize| {
        let pad = "x".repeat(length - ROW.len() - r#""pad":"","#.len());
        ROW.replacen('{', &format!(r#"{{"pad":"{pad}","#), 1)
    };
    assert_eq!(padded(limit).len(), limit);
    check_stream(
        &format!("{ROW}\n{}", padded(limit)),
        Ok(vec![("A", 1, T0, 5.0); 2]),
    );
    let too_long = |row: usize, line: usize| {
        format!("row {row}: the sample object that starts on line {line} is longer than 65536 bytes; a sample is about 100, so it is likely not closed")
    };
    check_stream(
        &format!("[{ROW},\n\n{}]", padded(limit + 1)),
        Err(&too_long(1, 3)),
    );
    // An object never closed is cut off at the limit, not buffered to the end of the input.
    check_stream(
        &format!("{ROW}\n{ROW}\n{{\"duid\":\"{}", "x".repeat(1 << 20)),
        Err(&too_long(2, 3)),
    );
}

/// Hands out at most 7 bytes a read, as a slow pipe does.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = buffer.len().min(7).min(self.0.len());
        buffer[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// A reader that is interrupted before every piece, as a read from a pipe can be by a signal,
/// and fails for good with `failure` once its text is out.
struct Interrupted<'a> {
    text: Trickle<'a>,
    interrupt: bool,
    failure: Option<std::io::ErrorKind>,
}

impl std::io::Read for Interrupted<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        match (self.text.0.is_empty(), self.failure) {
            (true, Some(kind)) => Err(std::io::Error::new(kind, "the disk is gone")),
            _ => self.text.read(buffer),
        }
    }
}

#[test]
fn streams_rows_that_arrive_in_pieces() {
    let text = format!("[{ROW},\n{}]", ROW.replace(":5}", ":6}"));
    let mut watts = Vec::new();
    let n_rows = insights_mockts::stream_rows(Trickle(text.as_bytes()), &mut |_, _, value| {
        watts.push(value)
    })
    .unwrap();
    assert_eq!((n_rows, watts), (2, vec![5.0, 6.0]));
    // Interrupted reads are retried, and a reader's failure is an I/O error, not bad text.
    let stream = |failure| {
        let reader = Interrupted {
            text: Trickle(text.as_bytes()),
            interrupt: false,
            failure,
        };
        insights_mockts::stream_rows(reader, &mut |_, _, _| {}).map_err(|error| error.to_string())
    };
    assert_eq!(stream(None), Ok(2));
    assert_eq!(
        stream(Some(std::io::ErrorKind::BrokenPipe)),
        Err("failed to read the sample file: the disk is gone".to_owned())
    );
}

#[test]
fn a_file_that_cannot_be_read_is_an_io_error() {
    // A failure inside a row is that row's; before the array starts, it is the file's.
    let reader = Interrupted {
        text: Trickle(b""),
        interrupt: false,
        failure: Some(std::io::ErrorKind::BrokenPipe),
    };
    let error = MockTimeSeries::from_reader(reader).unwrap_err();
    assert_eq!(
        (error.row, error.kind),
        (
            None,
            insights_mockts::LoadErrorKind::Io("the disk is gone".to_owned())
        )
    );
}

#[test]
fn equally_common_spacings_give_the_shorter_interval() {
    // Two spacings of 60 s and two of 30 s, in runs of each.
    assert_eq!(interval_of(&[0, 60, 120, 150, 180]), Duration::seconds(30));
    // A run of three 60 s spacings outweighs one of 30 s.
    assert_eq!(interval_of(&[0, 60, 120, 180, 210]), Duration::seconds(60));
}

/// Three series, out of order within a series, one with a fractional sample.
const THREE_SERIES: &str = r#"[
    {"duid":"B","circuit_number":2,"timestamp":"2024-04-01T00:02:00Z","power_watts":7},
    {"duid":"A","circuit_number":1,"timestamp":"2024-04-01T00:01:00Z","power_watts":5.5},
    {"duid":"A","circuit_number":1,"timestamp":"2024-04-01T00:00:00Z","power_watts":-3},
    {"duid":"C","circuit_number":1,"timestamp":"2024-04-01T00:00:00Z","power_watts":1}]"#;

fn key(duid: &str, circuit_number: u32) -> SeriesKey {
    SeriesKey {
        duid: Duid(duid.into()),
        circuit_number,
    }
}

#[test]
fn a_loaded_file_lists_its_samples_series_by_series_in_time_order() {
    let source = load(THREE_SERIES).unwrap();
    let mut by_series: std::collections::BTreeMap<SeriesKey, Vec<(i64, f64)>> = Default::default();
    for (series, at, watts) in source.samples() {
        by_series
            .entry(series.clone())
            .or_default()
            .push((at, watts));
    }
    let t0 = 1_711_929_600_000_000_000i64;
    let minute = 60_000_000_000i64;
    assert_eq!(
        by_series.into_iter().collect::<Vec<_>>(),
        vec![
            (key("A", 1), vec![(t0, -3.0), (t0 + minute, 5.5)]),
            (key("B", 2), vec![(t0 + 2 * minute, 7.0)]),
            (key("C", 1), vec![(t0, 1.0)]),
        ]
    );
    assert_eq!(
        source.unreferenced(&[key("A", 1), key("Z", 9)]),
        vec![(&key("B", 2), 1), (&key("C", 1), 1)]
    );
    assert!(source
        .unreferenced(&[key("A", 1), key("B", 2), key("C", 1)])
        .is_empty());
    // A/1 has a fraction, so its two values are kept beside three prefix sums of whole
    // watts and three of microwatts; B/2 and C/1 keep two integer prefix sums each; every
    // series has one block of extremes in a table of one level, and one slice.
    let extremes = 16 + 24 + 16;
    let a = 2 * 8 + 2 * 8 + 3 * 16 + extremes;
    let integer = 8 + 2 * 8 + extremes;
    assert_eq!(source.heap_bytes(), a + 2 * integer);
}

#[test]
fn window_stats_answer_each_series_in_the_order_asked() {
    let source = load(THREE_SERIES).unwrap();
    let window = Window::new(
        insights_core::parse_rfc3339("2024-04-01T00:00:00Z").unwrap(),
        insights_core::parse_rfc3339("2024-04-01T00:01:30Z").unwrap(),
        DEFAULT_MAX_WINDOW,
    )
    .unwrap();
    let keys = [key("C", 1), key("Z", 9), key("A", 1), key("B", 2)];
    let stats = futures_executor::block_on(source.window_stats(&keys, &window)).unwrap();
    let figures: Vec<(u64, f64)> = stats
        .iter()
        .map(|stats| (stats.n_samples(), stats.total().as_f64()))
        .collect();
    assert_eq!(figures, [(1, 1.0), (0, 0.0), (2, 2.5), (0, 0.0)]);
    for (key, stats) in keys.iter().zip(&stats) {
        assert_eq!(*stats, source.series_stats(key, &window));
    }
}

#[test]
fn the_extent_spans_the_series_asked_for() {
    let source = load(THREE_SERIES).unwrap();
    let at = |text| insights_core::parse_rfc3339(text).unwrap();
    let extent = |keys: &[SeriesKey]| {
        futures_executor::block_on(source.extent(keys))
            .unwrap()
            .map(|extent| (extent.first, extent.last))
    };
    assert_eq!(
        extent(&[key("B", 2), key("A", 1)]),
        Some((at("2024-04-01T00:00:00Z"), at("2024-04-01T00:02:00Z")))
    );
    assert_eq!(
        extent(&[key("B", 2), key("Z", 9)]),
        Some((at("2024-04-01T00:02:00Z"), at("2024-04-01T00:02:00Z")))
    );
    assert_eq!(extent(&[key("Z", 9)]), None);
    assert_eq!(extent(&[]), None);
}

#[test]
fn ranges_need_strictly_increasing_edges() {
    let source = load(THREE_SERIES).unwrap();
    let at = |text: &str| insights_core::parse_rfc3339(text).unwrap();
    let ranges = |edges: &[&str]| {
        let edges: Vec<_> = edges.iter().map(|text| at(text)).collect();
        futures_executor::block_on(source.range_stats(&[key("A", 1), key("Z", 9)], &edges)).map(
            |per_series| {
                per_series
                    .rows()
                    .map(|ranges| ranges.iter().map(|stats| stats.n_samples()).collect())
                    .collect::<Vec<Vec<u64>>>()
            },
        )
    };
    assert_eq!(
        ranges(&[
            "2024-04-01T00:00:00Z",
            "2024-04-01T00:00:30Z",
            "2024-04-01T00:05:00Z"
        ]),
        Ok(vec![vec![1, 1], vec![0, 0]])
    );
    let refused = Err(insights_core::TimeSeriesError::Failed {
        reason: "range edges must be strictly increasing".to_owned(),
    });
    assert_eq!(
        ranges(&["2024-04-01T00:00:00Z", "2024-04-01T00:00:00Z"]),
        refused
    );
    assert_eq!(
        ranges(&["2024-04-01T00:01:00Z", "2024-04-01T00:00:00Z"]),
        refused
    );
}
