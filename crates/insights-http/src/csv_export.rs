//! CSV answers of the usage endpoints, for spreadsheets: asked for with `format=csv` or
//! `Accept: text/csv`. The CSV is made from the typed answer's JSON value
//! (`serde_json::to_value`, never from parsed bytes), so it holds the same figures written the
//! same way: one row per bucket when `bucket` is given, otherwise one row
//! per part (sensor, location or organization; the circuit itself for a circuit), after a
//! header row. RFC 4180: comma-separated, CRLF line ends, fields quoted where needed, and an
//! absent value (JSON `null`) as an empty field.
//!
//! Names come from the monolith's metadata, and a spreadsheet runs a cell that starts with
//! `=`, `+`, `-` or `@` (or tab or carriage return) as a formula. As OWASP's CSV-injection
//! guidance advises, such a text field is written with a leading `'`, which spreadsheets show
//! as text; numbers are written as numbers, minus sign and all.

use std::future::Future;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use serde_json::Value;

use crate::middleware::{Answered, Wrapped};

/// The media type of a CSV answer; `header=present` as RFC 4180 registers it.
pub const TEXT_CSV: &str = "text/csv; charset=utf-8; header=present";

/// The usage figures every usage object has, in the order of the JSON's `usage` object (the
/// fields a parameter adds have their columns declared with it, `params::USAGE_PARAMS`;
/// `export.rs` checks the two together cover the object).
pub const USAGE_COLUMNS: &[&str] = &[
    "total_watts",
    "sample_count",
    "average_watts",
    "min_watts",
    "max_watts",
    "energy_wh",
    "coverage",
];

/// Whether `Accept` (every value of the header) prefers `text/csv` to `application/json`:
/// a q-value above 0, and no lower than `application/json`'s. A request's `format` parameter,
/// when given, decides instead (`extract`).
pub fn prefers_csv(headers: &HeaderMap) -> bool {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .collect();
    prefers(&accept)
}

/// Whether `Accept` (its header values) prefers `text/csv` to `application/json`.
fn prefers(accept: &[&str]) -> bool {
    let csv = quality(accept, "text/csv");
    csv > 0.0 && csv >= quality(accept, "application/json")
}

/// The highest q-value `Accept` gives `media` by name (1 when named without one, 0 when not
/// named at all).
fn quality(accept: &[&str], media: &str) -> f64 {
    accept
        .iter()
        .flat_map(|value| value.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';');
            let name = parts.next()?.trim();
            if !name.eq_ignore_ascii_case(media) {
                return None;
            }
            let q = parts
                .filter_map(|parameter| parameter.trim().strip_prefix("q="))
                .find_map(|value| value.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            Some(q.clamp(0.0, 1.0))
        })
        .fold(0.0, f64::max)
}

/// Marks every answer of a route that `answers_csv` names (`routes::answers_csv`, by the
/// route's name) as varying with `Accept`, which may choose its form; the handler writes a
/// CSV answer itself (`answer::Answer::prepare`), from the typed answer.
pub fn negotiate<S: Wrapped<B>, B: MessageBody + 'static>(
    request: ServiceRequest,
    service: &S,
    answers_csv: fn(&str) -> bool,
) -> impl Future<Output = Answered> + 'static {
    let answer = service.call(request);
    async move {
        let mut response = answer.await?.map_into_boxed_body();
        // The route is known once the request has been routed.
        if response.request().match_name().is_some_and(answers_csv) {
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("Accept"));
        }
        Ok(response)
    }
}

/// A roll-up's parts: the answer's one list that no query parameter adds (`sensors`,
/// `locations`, `organizations`, whatever a new roll-up calls its parts); `None` for a
/// circuit, which has none.
fn part_list(answer: &Value) -> Option<&Value> {
    let added = |name: &str| {
        crate::params::USAGE_PARAMS
            .iter()
            .any(|param| param.adds.is_some_and(|added| added.field == name))
    };
    answer
        .as_object()?
        .iter()
        .find(|(name, value)| value.is_array() && !added(name))
        .map(|(_, parts)| parts)
}

/// The CSV of a usage answer; see the module documentation.
pub fn to_csv(answer: &Value) -> Result<Vec<u8>, csv::Error> {
    // (the row's own columns, its usage object)
    let mut rows: Vec<(Vec<(&str, &Value)>, &Value)> = Vec::new();
    let labels: &[&str];
    if let Some(buckets) = answer.get("series").and_then(Value::as_array) {
        labels = &["start", "end", "partial"];
        for bucket in buckets {
            let own = labels.iter().map(|name| (*name, &bucket[*name])).collect();
            rows.push((own, &bucket["usage"]));
        }
    } else if let Some(parts) = part_list(answer) {
        labels = &["id", "name"];
        for part in parts.as_array().into_iter().flatten() {
            let own = labels.iter().map(|name| (*name, &part[*name])).collect();
            rows.push((own, &part["usage"]));
        }
    } else {
        labels = &["id", "name"];
        let circuit = &answer["circuit"];
        let own = labels.iter().map(|name| (*name, &circuit[*name])).collect();
        rows.push((own, &answer["usage"]));
    }
    // The optional figures appear in every usage object of an answer, or in none; the
    // parameters that add them declare their columns.
    let added: Vec<(&str, &str)> = crate::params::USAGE_PARAMS
        .iter()
        .filter_map(|param| param.adds)
        .filter(|added| {
            rows.first()
                .is_some_and(|(_, usage)| usage.get(added.field).is_some())
        })
        .flat_map(|added| added.csv_columns.iter().copied())
        .collect();
    let mut header: Vec<&str> = labels.to_vec();
    header.extend_from_slice(USAGE_COLUMNS);
    header.extend(added.iter().map(|(column, _)| *column));
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(&header)?;
    for (own, usage) in &rows {
        let mut record: Vec<String> = own.iter().map(|(_, value)| field(value)).collect();
        record.extend(USAGE_COLUMNS.iter().map(|name| field(&usage[*name])));
        record.extend(
            added
                .iter()
                .map(|(_, pointer)| field(usage.pointer(pointer).unwrap_or(&Value::Null))),
        );
        writer.write_record(&record)?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

/// A JSON value as a CSV field: strings as they are unless a spreadsheet would run them (see
/// the module documentation), numbers and booleans as JSON writes them, and `null` (or a
/// missing value) as an empty field.
fn field(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            format!("'{text}")
        }
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(answer: Value, expected: &str) {
        let bytes = to_csv(&answer).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn parts_buckets_and_circuits_make_rows_with_rfc_4180_quoting() {
        let usage = |total: Value, peak: Value| {
            json!({"total_watts": total, "sample_count": 2, "average_watts": null, "min_watts": 1.5,
                   "max_watts": 2, "energy_wh": 0.05, "coverage": 1.0, "peak_demand": peak})
        };
        check(
            json!({"organization": {}, "locations": [
                {"id": "a", "name": "East, \"NYC\"", "usage": usage(json!(3), Value::Null)},
                {"id": "b", "name": "Line\nbreak", "usage": usage(json!(0.1), json!({"watts": 7, "start": "s", "end": "e"}))}
            ]}),
            "id,name,total_watts,sample_count,average_watts,min_watts,max_watts,energy_wh,coverage,peak_demand_watts,peak_demand_start,peak_demand_end\r\n\
             a,\"East, \"\"NYC\"\"\",3,2,,1.5,2,0.05,1.0,,,\r\n\
             b,\"Line\nbreak\",0.1,2,,1.5,2,0.05,1.0,7,s,e\r\n",
        );
        check(
            json!({"circuit": {"id": "c", "name": "Circuit 1"}, "usage": {"total_watts": 1, "sample_count": 1,
                   "average_watts": 1, "min_watts": 1, "max_watts": 1, "energy_wh": 0.016666666666666666,
                   "coverage": 0.5, "baseload_watts": null}}),
            "id,name,total_watts,sample_count,average_watts,min_watts,max_watts,energy_wh,coverage,baseload_watts\r\n\
             c,Circuit 1,1,1,1,1,1,0.016666666666666666,0.5,\r\n",
        );
        check(
            json!({"circuit": {}, "usage": {}, "series": [
                {"start": "2024-04-01T00:00:00Z", "end": "2024-04-01T01:00:00Z", "partial": true, "usage": {"total_watts": 12345678901234567890u64}}
            ]}),
            "start,end,partial,total_watts,sample_count,average_watts,min_watts,max_watts,energy_wh,coverage\r\n\
             2024-04-01T00:00:00Z,2024-04-01T01:00:00Z,true,12345678901234567890,,,,,,\r\n",
        );
    }

    #[test]
    fn names_a_spreadsheet_would_run_are_written_as_text_and_numbers_stay_numbers() {
        let part = |name: &str| {
            json!({"id": "x", "name": name, "usage": {"total_watts": -3.5, "sample_count": 1,
                   "average_watts": -3.5, "min_watts": -3.5, "max_watts": -3.5, "energy_wh": -0.06,
                   "coverage": 1.0}})
        };
        let header = "id,name,total_watts,sample_count,average_watts,min_watts,max_watts,energy_wh,coverage\r\n";
        let row = |name: &str| format!("x,{name},-3.5,1,-3.5,-3.5,-3.5,-0.06,1.0\r\n");
        for (name, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tTab", "'\tTab"),
            ("\rReturn", "\"'\rReturn\""),
            ("Plain = fine", "Plain = fine"),
            ("East\u{2011}NYC", "East\u{2011}NYC"),
        ] {
            check(
                json!({"location": {}, "sensors": [part(name)]}),
                &format!("{header}{}", row(written)),
            );
        }
    }

    #[test]
    fn accept_chooses_csv_only_when_it_prefers_it() {
        fn check(accept: &[&str], expected: bool) {
            assert_eq!(prefers(accept), expected, "{accept:?}");
        }
        check(&["text/csv"], true);
        check(&["text/csv; charset=utf-8"], true);
        check(&["application/json, text/csv"], true);
        check(&["application/json, text/csv;q=0"], false);
        check(&["application/json;q=0.9, text/csv;q=0.5"], false);
        check(&["application/json;q=0.5", "TEXT/CSV;q=0.9"], true);
        check(&["text/html,application/xhtml+xml,*/*;q=0.8"], false);
        check(&[], false);
        check(&["text/csv;q=nonsense"], true);
    }
}
