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

/// One sample as read, before grouping into series.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawSample {
    pub(crate) timestamp: i64,
    pub(crate) watts: f64,
    pub(crate) row: u32,
}

/// The rows of a file grouped by series, in no particular order within a series.
#[derive(Debug, Default)]
pub(crate) struct RawSeries {
    pub(crate) series: HashMap<SeriesKey, Vec<RawSample>>,
    pub(crate) n_rows: usize,
}

/// Reads a JSON array of `{duid, circuit_number, timestamp, power_watts}` objects.
pub(crate) fn read_rows(reader: impl Read) -> Result<RawSeries, LoadError> {
    let failure = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let result = deserializer
        .deserialize_seq(RowsVisitor { failure: &failure })
        .and_then(|rows| deserializer.end().map(|()| rows));
    match (result, failure.into_inner()) {
        (Ok(rows), _) => Ok(rows),
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

struct RowsVisitor<'a> {
    failure: &'a RefCell<Option<LoadError>>,
}

impl<'de> Visitor<'de> for RowsVisitor<'_> {
    type Value = RawSeries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of sample objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawSeries, A::Error> {
        let mut rows = RawSeries::default();
        // Interning duids means a row allocates nothing once its series has been seen.
        let mut duids: HashMap<String, Duid> = HashMap::new();
        loop {
            let row = rows.n_rows;
            let seed = RowSeed {
                row,
                failure: self.failure,
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
            let row_index = u32::try_from(row).map_err(|_| {
                fail(
                    self.failure,
                    Some(row),
                    LoadErrorKind::Syntax("more than 4,294,967,295 rows".into()),
                )
            })?;
            let duid = match duids.get(parsed.duid.as_str()) {
                Some(duid) => duid.clone(),
                None => {
                    let duid = Duid(parsed.duid.clone());
                    duids.insert(parsed.duid, duid.clone());
                    duid
                }
            };
            let key = SeriesKey {
                duid,
                circuit_number: parsed.circuit_number,
            };
            rows.series.entry(key).or_default().push(RawSample {
                timestamp: parsed.timestamp,
                watts: parsed.watts,
                row: row_index,
            });
            rows.n_rows += 1;
        }
        Ok(rows)
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
    duid: String,
    circuit_number: u32,
    timestamp: i64,
    watts: f64,
}

struct RowSeed<'a> {
    row: usize,
    failure: &'a RefCell<Option<LoadError>>,
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
        let invalid = |field: &'static str, reason: String| {
            fail::<A::Error>(
                self.failure,
                row,
                LoadErrorKind::InvalidField { field, reason },
            )
        };
        let mut duid: Option<String> = None;
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
            let value: JsonScalar = map
                .next_value()
                .map_err(|error| invalid(field, format!("could not be read: {error}")))?;
            let duplicate =
                || fail::<A::Error>(self.failure, row, LoadErrorKind::DuplicateField(field));
            match key {
                FieldName::Duid => {
                    let JsonScalar::Text(text) = value else {
                        return Err(invalid(
                            field,
                            format!("must be a string, found {}", value.describe()),
                        ));
                    };
                    if text.is_empty() {
                        return Err(invalid(field, "is empty".into()));
                    }
                    if duid.replace(text).is_some() {
                        return Err(duplicate());
                    }
                }
                FieldName::CircuitNumber => {
                    let number = match value {
                        JsonScalar::Unsigned(number) => {
                            u32::try_from(number).ok().filter(|n| *n > 0)
                        }
                        _ => None,
                    }
                    .ok_or_else(|| {
                        invalid(
                            field,
                            format!("must be a positive integer, found {}", value.describe()),
                        )
                    })?;
                    if circuit_number.replace(number).is_some() {
                        return Err(duplicate());
                    }
                }
                FieldName::Timestamp => {
                    let JsonScalar::Text(text) = value else {
                        return Err(invalid(
                            field,
                            format!("must be an RFC 3339 string, found {}", value.describe()),
                        ));
                    };
                    let instant =
                        parse_rfc3339(&text).map_err(|error| invalid(field, error.to_string()))?;
                    let nanos = i64::try_from(instant.unix_timestamp_nanos()).map_err(|_| {
                        invalid(
                            field,
                            format!(
                                "{} is outside the years 1678 to 2262 that samples may use",
                                format_utc(instant)
                            ),
                        )
                    })?;
                    if timestamp.replace(nanos).is_some() {
                        return Err(duplicate());
                    }
                }
                FieldName::PowerWatts => {
                    let number = match value {
                        JsonScalar::Unsigned(number) => Some(number as f64),
                        JsonScalar::Signed(number) => Some(number as f64),
                        JsonScalar::Float(number) => Some(number),
                        _ => None,
                    }
                    .filter(|number| number.is_finite())
                    .ok_or_else(|| {
                        invalid(
                            field,
                            format!("must be a finite number, found {}", value.describe()),
                        )
                    })?;
                    if watts.replace(number).is_some() {
                        return Err(duplicate());
                    }
                }
                FieldName::Other => unreachable!("skipped above"),
            }
        }
        let missing =
            |field| fail::<A::Error>(self.failure, row, LoadErrorKind::MissingField(field));
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

/// A field value as JSON gave it, so that a wrong type is reported with the field's name.
enum JsonScalar {
    Text(String),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl JsonScalar {
    fn describe(&self) -> String {
        match self {
            JsonScalar::Text(text) => format!("the string {text:?}"),
            JsonScalar::Unsigned(number) => format!("the number {number}"),
            JsonScalar::Signed(number) => format!("the number {number}"),
            JsonScalar::Float(number) => format!("the number {number}"),
            JsonScalar::Bool(value) => format!("{value}"),
            JsonScalar::Null => "null".into(),
        }
    }
}

impl<'de> de::Deserialize<'de> for JsonScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = JsonScalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Text(text))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Unsigned(number))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Signed(number))
            }
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Float(number))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Bool(value))
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonScalar, E> {
                Ok(JsonScalar::Null)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}
