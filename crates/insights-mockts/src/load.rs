//! Streaming loader for the JSON sample file: validates every row as it is read, without
//! building a `serde_json::Value` of the document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use insights_core::{format_utc, parse_rfc3339, Duid, SeriesKey};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Why the sample file could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError {
    /// The 0-based index of the row in the array, when the problem is in one row.
    pub row: Option<usize>,
    /// What is wrong.
    pub kind: LoadErrorKind,
}

/// The ways the sample file can be wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadErrorKind {
    /// The file could not be read.
    Io(String),
    /// The text is not JSON, or not an array of objects.
    Syntax(String),
    /// A row lacks a field.
    MissingField(&'static str),
    /// A row has a field twice.
    DuplicateField(&'static str),
    /// A field holds the wrong type or value.
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A streamed sample object runs past [`MAX_OBJECT_BYTES`], most likely because it is
    /// never closed.
    ObjectTooLong {
        /// The 1-based line the object starts on.
        line: usize,
    },
    /// Two rows hold a sample of the same series at the same time.
    DuplicateSample {
        /// The series.
        series: SeriesKey,
        /// The timestamp both rows have, in UTC.
        timestamp: String,
        /// The index of the earlier row with it.
        first_row: usize,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(row) = self.row {
            write!(f, "row {row}: ")?;
        }
        match &self.kind {
            LoadErrorKind::Io(message) => write!(f, "failed to read the sample file: {message}"),
            LoadErrorKind::Syntax(message) => write!(
                f,
                "the sample file is not a JSON array of sample objects: {message}"
            ),
            LoadErrorKind::MissingField(field) => write!(f, "missing field `{field}`"),
            LoadErrorKind::DuplicateField(field) => write!(f, "field `{field}` appears twice"),
            LoadErrorKind::InvalidField { field, reason } => write!(f, "field `{field}` {reason}"),
            LoadErrorKind::ObjectTooLong { line } => write!(
                f,
                "the sample object that starts on line {line} is longer than {MAX_OBJECT_BYTES} bytes; a sample is about 100, so it is likely not closed"
            ),
            LoadErrorKind::DuplicateSample {
                series,
                timestamp,
                first_row,
            } => write!(
                f,
                "duplicate sample for duid {} circuit {} at {timestamp}, already given by row {first_row}",
                series.duid, series.circuit_number
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// The longest sample object [`stream_rows`] reads, in bytes: a sample is about 100, and
/// extra fields may make it longer, but an object that is never closed must not be buffered
/// without end (a pipe may feed one for ever).
pub const MAX_OBJECT_BYTES: usize = 64 * 1024;

/// The samples of one series as read, in file order.
#[derive(Debug, Default)]
pub(crate) struct RawSeries {
    pub(crate) timestamps: Vec<i64>,
    pub(crate) values: Vec<f64>,
    /// The row index of each sample, for naming duplicates.
    pub(crate) rows: Vec<u32>,
}

/// The rows of a file grouped by series.
#[derive(Debug, Default)]
pub(crate) struct RawFile {
    pub(crate) series: Vec<(SeriesKey, RawSeries)>,
    pub(crate) n_rows: usize,
}

/// What the row visitors share: interned duids and the series being filled.
#[derive(Default)]
struct State {
    duid_ids: HashMap<Box<str>, u32>,
    duids: Vec<Duid>,
    series_ids: HashMap<(u32, u32), usize>,
    series: Vec<((u32, u32), RawSeries)>,
    /// Files usually list a series' rows together, so the last series is checked first.
    last: Option<((u32, u32), usize)>,
}

impl State {
    fn intern(&mut self, duid: &str) -> u32 {
        if let Some(id) = self.duid_ids.get(duid) {
            return *id;
        }
        let id = self.duids.len() as u32;
        self.duids.push(Duid(duid.to_owned()));
        self.duid_ids.insert(duid.into(), id);
        id
    }

    /// The series key of a parsed row.
    fn key(&self, row: &ParsedRow) -> SeriesKey {
        SeriesKey {
            duid: self.duids[row.duid as usize].clone(),
            circuit_number: row.circuit_number,
        }
    }

    fn push(&mut self, key: (u32, u32), timestamp: i64, watts: f64, row: u32) {
        let index = match self.last {
            Some((last_key, index)) if last_key == key => index,
            _ => {
                let next = self.series.len();
                let index = *self.series_ids.entry(key).or_insert(next);
                if index == next {
                    self.series.push((key, RawSeries::default()));
                }
                self.last = Some((key, index));
                index
            }
        };
        let series = &mut self.series[index].1;
        series.timestamps.push(timestamp);
        series.values.push(watts);
        series.rows.push(row);
    }
}

/// Reads a JSON array of `{duid, circuit_number, timestamp, power_watts}` objects.
pub(crate) fn read_rows(reader: impl Read) -> Result<RawFile, LoadError> {
    let failure = RefCell::new(None);
    let mut state = State::default();
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let result = deserializer
        .deserialize_seq(RowsVisitor {
            failure: &failure,
            state: &mut state,
        })
        .and_then(|n_rows| deserializer.end().map(|()| n_rows));
    match settle(result, failure.into_inner()) {
        Ok(n_rows) => {
            let duids = state.duids;
            let series = state
                .series
                .into_iter()
                .map(|((duid, circuit_number), raw)| {
                    (
                        SeriesKey {
                            duid: duids[duid as usize].clone(),
                            circuit_number,
                        },
                        raw,
                    )
                })
                .collect();
            Ok(RawFile { series, n_rows })
        }
        Err(error) => Err(error),
    }
}

/// A parse's result with its structured failure, if a row recorded one, in place of serde's.
fn settle<T>(
    result: Result<T, serde_json::Error>,
    failure: Option<LoadError>,
) -> Result<T, LoadError> {
    match (result, failure) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(failure)) => Err(failure),
        (Err(error), None) if error.is_io() => Err(LoadError {
            row: None,
            kind: LoadErrorKind::Io(error.to_string()),
        }),
        (Err(error), None) => Err(LoadError {
            row: None,
            kind: LoadErrorKind::Syntax(error.to_string()),
        }),
    }
}

/// Reads rows one at a time and hands each to `on_row` as `(series, ns since the epoch,
/// watts)` as soon as it is read, so a pipe can feed rows without end. The text is either a
/// JSON array of sample objects or a stream of them (NDJSON, or any whitespace between).
/// Each row is checked as the file loader checks it; the first bad row stops the stream.
/// Duplicates are not looked for, as rows are not kept. Returns how many rows were read.
///
/// Objects are cut out of the byte stream by a small scanner (braces, strings and escapes)
/// and each is parsed from its slice: serde_json parses a slice several times faster than a
/// reader, which it reads a byte at a time.
pub(crate) fn stream_rows(
    mut reader: impl Read,
    on_row: &mut dyn FnMut(SeriesKey, i64, f64),
) -> Result<usize, LoadError> {
    let failure = RefCell::new(None);
    let mut state = State::default();
    let mut scanner = Scanner::default();
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut n_rows = 0usize;
    loop {
        let length = buffer.len();
        buffer.resize(length + (1 << 20), 0);
        let read = loop {
            match reader.read(&mut buffer[length..]) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let read = read.map_err(|error| LoadError {
            row: None,
            kind: LoadErrorKind::Io(error.to_string()),
        })?;
        buffer.truncate(length + read);
        let at_end = read == 0;
        while let Some(piece) = scanner.next(&buffer, at_end).map_err(|kind| LoadError {
            row: Some(n_rows),
            kind,
        })? {
            let mut deserializer = serde_json::Deserializer::from_slice(&buffer[piece]);
            let seed = RowSeed {
                row: n_rows,
                failure: &failure,
                state: &mut state,
            };
            let parsed = seed
                .deserialize(&mut deserializer)
                .and_then(|parsed| deserializer.end().map(|()| parsed));
            match parsed {
                Ok(parsed) => on_row(state.key(&parsed), parsed.timestamp, parsed.watts),
                Err(error) => {
                    return Err(failure.into_inner().unwrap_or(LoadError {
                        row: Some(n_rows),
                        kind: LoadErrorKind::Syntax(error.to_string()),
                    }))
                }
            }
            n_rows += 1;
        }
        if at_end {
            return Ok(n_rows);
        }
        // Only the object being scanned is kept: what came before it is parsed, or whitespace
        // and separators, which must not pile up either.
        let done = scanner.start.unwrap_or(scanner.at);
        buffer.drain(..done);
        scanner.shift(done);
    }
}

/// Finds the top-level objects of a JSON array or of a stream of objects in a growing buffer.
#[derive(Default)]
struct Scanner {
    /// Where scanning resumes.
    at: usize,
    /// Where the object being scanned starts, while inside one.
    start: Option<usize>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Whether the text opened with `[`; and whether it was closed.
    array: Option<bool>,
    closed: bool,
    /// Whether a `,` or the opening `[` came since the last object, in an array.
    separated: bool,
    /// The line breaks scanned so far, and the 1-based line the current object starts on.
    line_breaks: usize,
    start_line: usize,
}

impl Scanner {
    /// The next whole object in `buffer`, or `None` when more text is needed (or, at the end,
    /// when there is no more).
    fn next(
        &mut self,
        buffer: &[u8],
        at_end: bool,
    ) -> Result<Option<std::ops::Range<usize>>, LoadErrorKind> {
        let syntax = |reason: String| LoadErrorKind::Syntax(reason);
        while self.at < buffer.len() {
            let byte = buffer[self.at];
            self.at += 1;
            if byte == b'\n' {
                self.line_breaks += 1;
            }
            if let Some(start) = self.start {
                if self.at - start > MAX_OBJECT_BYTES {
                    return Err(LoadErrorKind::ObjectTooLong {
                        line: self.start_line,
                    });
                }
                if self.in_string {
                    match (self.escaped, byte) {
                        (true, _) => self.escaped = false,
                        (false, b'\\') => self.escaped = true,
                        (false, b'"') => self.in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.start = None;
                            self.separated = false;
                            return Ok(Some(start..self.at));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ if self.closed => {
                    return Err(syntax("trailing characters after the array".into()))
                }
                b'[' if self.array.is_none() => {
                    self.array = Some(true);
                    self.separated = true;
                }
                b'{' => {
                    if self.array == Some(true) && !self.separated {
                        return Err(syntax("expected `,` or `]` between sample objects".into()));
                    }
                    self.array.get_or_insert(false);
                    self.start = Some(self.at - 1);
                    self.start_line = self.line_breaks + 1;
                    self.depth = 1;
                }
                b',' if self.array == Some(true) && !self.separated => self.separated = true,
                b']' if self.array == Some(true) => self.closed = true,
                other => {
                    return Err(syntax(format!(
                        "expected a sample object, found `{}`",
                        char::from(other).escape_default()
                    )))
                }
            }
        }
        if at_end {
            if let Some(start) = self.start {
                // Let the parser name what is missing.
                self.start = None;
                return Ok(Some(start..buffer.len()));
            }
            if self.array == Some(true) && !self.closed {
                return Err(syntax("the array is not closed with `]`".into()));
            }
        }
        Ok(None)
    }

    /// Accounts for the first `consumed` bytes leaving the buffer.
    fn shift(&mut self, consumed: usize) {
        self.at -= consumed;
        if let Some(start) = &mut self.start {
            *start -= consumed;
        }
    }
}

/// Reads the file's array of rows into `state`, series by series.
struct RowsVisitor<'a> {
    failure: &'a RefCell<Option<LoadError>>,
    state: &'a mut State,
}

impl<'de> Visitor<'de> for RowsVisitor<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of sample objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n_rows = 0usize;
        loop {
            let row = n_rows;
            let row_index = u32::try_from(row).map_err(|_| {
                fail(
                    self.failure,
                    Some(row),
                    LoadErrorKind::Syntax("more than 4,294,967,295 rows".into()),
                )
            })?;
            let seed = RowSeed {
                row,
                failure: self.failure,
                state: &mut *self.state,
            };
            let element = seq.next_element_seed(seed).inspect_err(|error| {
                // Errors that are not already a row's structured failure still happened in this row.
                self.failure.borrow_mut().get_or_insert_with(|| LoadError {
                    row: Some(row),
                    kind: LoadErrorKind::Syntax(error.to_string()),
                });
            })?;
            let Some(parsed) = element else {
                break;
            };
            self.state.push(
                (parsed.duid, parsed.circuit_number),
                parsed.timestamp,
                parsed.watts,
                row_index,
            );
            n_rows += 1;
        }
        Ok(n_rows)
    }
}

/// Records the structured error and returns a serde error that stops the parse.
fn fail<E: de::Error>(
    failure: &RefCell<Option<LoadError>>,
    row: Option<usize>,
    kind: LoadErrorKind,
) -> E {
    let error = LoadError { row, kind };
    let message = error.to_string();
    failure.borrow_mut().get_or_insert(error);
    E::custom(message)
}

struct ParsedRow {
    duid: u32,
    circuit_number: u32,
    timestamp: i64,
    watts: f64,
}

struct RowSeed<'a> {
    row: usize,
    failure: &'a RefCell<Option<LoadError>>,
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ParsedRow;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ParsedRow, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ParsedRow;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sample object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedRow, A::Error> {
        let row = Some(self.row);
        let failure = self.failure;
        let invalid = |field: &'static str, reason: String| {
            fail::<A::Error>(failure, row, LoadErrorKind::InvalidField { field, reason })
        };
        let duplicate = |field: &'static str| {
            fail::<A::Error>(failure, row, LoadErrorKind::DuplicateField(field))
        };
        let mut duid: Option<u32> = None;
        let mut circuit_number: Option<u32> = None;
        let mut timestamp: Option<i64> = None;
        let mut watts: Option<f64> = None;
        while let Some(key) = map.next_key::<FieldName>()? {
            let field = match key {
                FieldName::Duid => "duid",
                FieldName::CircuitNumber => "circuit_number",
                FieldName::Timestamp => "timestamp",
                FieldName::PowerWatts => "power_watts",
                FieldName::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let read_error =
                |error: A::Error| invalid(field, format!("could not be read: {error}"));
            match key {
                FieldName::Duid => {
                    let parsed = map
                        .next_value_seed(FieldSeed(DuidField(&mut *self.state)))
                        .map_err(read_error)?;
                    if duid
                        .replace(parsed.map_err(|reason| invalid(field, reason))?)
                        .is_some()
                    {
                        return Err(duplicate(field));
                    }
                }
                FieldName::CircuitNumber => {
                    let parsed = map
                        .next_value_seed(FieldSeed(CircuitNumberField))
                        .map_err(read_error)?;
                    if circuit_number
                        .replace(parsed.map_err(|reason| invalid(field, reason))?)
                        .is_some()
                    {
                        return Err(duplicate(field));
                    }
                }
                FieldName::Timestamp => {
                    let parsed = map
                        .next_value_seed(FieldSeed(TimestampField))
                        .map_err(read_error)?;
                    if timestamp
                        .replace(parsed.map_err(|reason| invalid(field, reason))?)
                        .is_some()
                    {
                        return Err(duplicate(field));
                    }
                }
                FieldName::PowerWatts => {
                    let parsed = map
                        .next_value_seed(FieldSeed(WattsField))
                        .map_err(read_error)?;
                    if watts
                        .replace(parsed.map_err(|reason| invalid(field, reason))?)
                        .is_some()
                    {
                        return Err(duplicate(field));
                    }
                }
                FieldName::Other => unreachable!("skipped above"),
            }
        }
        let missing = |field| fail::<A::Error>(failure, row, LoadErrorKind::MissingField(field));
        Ok(ParsedRow {
            duid: duid.ok_or_else(|| missing("duid"))?,
            circuit_number: circuit_number.ok_or_else(|| missing("circuit_number"))?,
            timestamp: timestamp.ok_or_else(|| missing("timestamp"))?,
            watts: watts.ok_or_else(|| missing("power_watts"))?,
        })
    }
}

#[derive(Clone, Copy)]
enum FieldName {
    Duid,
    CircuitNumber,
    Timestamp,
    PowerWatts,
    Other,
}

impl<'de> de::Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldName, E> {
                Ok(match name {
                    "duid" => FieldName::Duid,
                    "circuit_number" => FieldName::CircuitNumber,
                    "timestamp" => FieldName::Timestamp,
                    "power_watts" => FieldName::PowerWatts,
                    _ => FieldName::Other,
                })
            }
        }
        deserializer.deserialize_identifier(NameVisitor)
    }
}

/// A field's value as JSON gave it, borrowed for the moment it is parsed.
enum Found<'a> {
    Text(&'a str),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl Found<'_> {
    fn describe(&self) -> String {
        match self {
            Found::Text(text) => format!("the string {text:?}"),
            Found::Unsigned(number) => format!("the number {number}"),
            Found::Signed(number) => format!("the number {number}"),
            Found::Float(number) => format!("the number {number}"),
            Found::Bool(value) => format!("{value}"),
            Found::Null => "null".into(),
            Found::Array => "an array".into(),
            Found::Object => "an object".into(),
        }
    }
}

/// Turns one field's JSON value into its typed value, or says what is wrong with it.
trait FieldParser {
    type Out;
    fn parse(self, found: Found<'_>) -> Result<Self::Out, String>;
}

/// Reads a field through its parser without allocating; the outer `Result` is a syntax
/// error, the inner one a wrong value.
struct FieldSeed<P>(P);

impl<'de, P: FieldParser> DeserializeSeed<'de> for FieldSeed<P> {
    type Value = Result<P::Out, String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, P: FieldParser> Visitor<'de> for FieldSeed<P> {
    type Value = Result<P::Out, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(self.0.parse(Found::Text(text)))
    }
    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        Ok(self.0.parse(Found::Unsigned(number)))
    }
    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        Ok(self.0.parse(Found::Signed(number)))
    }
    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        Ok(self.0.parse(Found::Float(number)))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(self.0.parse(Found::Bool(value)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.parse(Found::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.0.parse(Found::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.0.parse(Found::Object))
    }
}

struct DuidField<'a>(&'a mut State);

impl FieldParser for DuidField<'_> {
    type Out = u32;
    fn parse(self, found: Found<'_>) -> Result<u32, String> {
        match found {
            Found::Text("") => Err("is empty".into()),
            // PostgreSQL's text refuses NUL with an error that names no row, and other control
            // characters in an identifier are a mistake that would only show up in logs.
            Found::Text(text) => match text.chars().find(|c| c.is_control()) {
                Some(control) => Err(format!(
                    "holds the control character U+{:04X}; a duid is printable text",
                    u32::from(control)
                )),
                None => Ok(self.0.intern(text)),
            },
            other => Err(format!("must be a string, found {}", other.describe())),
        }
    }
}

struct CircuitNumberField;

impl FieldParser for CircuitNumberField {
    type Out = u32;
    fn parse(self, found: Found<'_>) -> Result<u32, String> {
        match found {
            Found::Unsigned(number) => u32::try_from(number).ok().filter(|number| *number > 0),
            _ => None,
        }
        .ok_or_else(|| format!("must be a positive integer, found {}", found.describe()))
    }
}

struct TimestampField;

impl FieldParser for TimestampField {
    type Out = i64;
    fn parse(self, found: Found<'_>) -> Result<i64, String> {
        let Found::Text(text) = found else {
            return Err(format!(
                "must be an RFC 3339 string, found {}",
                found.describe()
            ));
        };
        let instant = parse_rfc3339(text).map_err(|error| error.to_string())?;
        i64::try_from(instant.unix_timestamp_nanos()).map_err(|_| {
            format!(
                "{} is outside the years 1678 to 2262 that samples may use",
                format_utc(instant)
            )
        })
    }
}

struct WattsField;

impl FieldParser for WattsField {
    type Out = f64;
    fn parse(self, found: Found<'_>) -> Result<f64, String> {
        match found {
            Found::Unsigned(number) => Some(number as f64),
            Found::Signed(number) => Some(number as f64),
            Found::Float(number) => Some(number),
            _ => None,
        }
        .filter(|number| number.is_finite())
        .ok_or_else(|| format!("must be a finite number, found {}", found.describe()))
        .and_then(|number| {
            if number.abs() <= insights_core::MAX_ABS_WATTS {
                Ok(number)
            } else {
                Err(format!(
                    "must be from -1e9 to 1e9 W (1 GW, beyond any circuit), found {number:e}"
                ))
            }
        })
    }
}
