//! CSV answers: parsed back, they hold exactly the JSON answer's figures.

use serde_json::Value;

use crate::support::TestApp;

const ORGANIZATION_DAY: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:10:00Z&end=2024-04-02T00:00:00Z";

/// The CSV's header and rows.
fn parse(body: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new().from_reader(body);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// A JSON value as the CSV writes it.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Each CSV row against its JSON object: the row's own columns from `object`, the usage
/// columns from its `usage`, peak demand flattened.
fn assert_rows_match(header: &[String], rows: &[Vec<String>], objects: &[Value]) {
    assert_eq!(rows.len(), objects.len());
    for (row, object) in rows.iter().zip(objects) {
        for (column, cell) in header.iter().zip(row) {
            let usage = &object["usage"];
            let expected = match column.as_str() {
                "start" | "end" | "partial" | "id" | "name" => &object[column.as_str()],
                "peak_demand_watts" => &usage["peak_demand"]["watts"],
                "peak_demand_start" => &usage["peak_demand"]["start"],
                "peak_demand_end" => &usage["peak_demand"]["end"],
                "comparison_start" => &usage["comparison"]["window"]["start"],
                "comparison_end" => &usage["comparison"]["window"]["end"],
                "comparison_energy_wh" => &usage["comparison"]["energy_wh"],
                "energy_wh_change" => &usage["comparison"]["energy_wh_change"],
                "energy_wh_ratio" => &usage["comparison"]["energy_wh_ratio"],
                figure => &usage[figure],
            };
            assert_eq!(cell, &text(expected), "{column} of {object}");
        }
    }
}

#[actix_web::test]
async fn csv_rows_are_the_json_answers_buckets_or_parts() {
    let app = TestApp::spawn().await;
    let options = "&bucket=1h&tz=Asia/Kathmandu&demand_interval=15m&baseload=true&compare=previous";
    let json = app.get(&format!("{ORGANIZATION_DAY}{options}")).await;
    let csv = app
        .get(&format!("{ORGANIZATION_DAY}{options}&format=csv"))
        .await;
    assert_eq!(
        (csv.status, csv.content_type.as_str()),
        (200, "text/csv; charset=utf-8; header=present")
    );
    assert!(String::from_utf8_lossy(&csv.body).contains("\r\n"));
    let (header, rows) = parse(&csv.body);
    assert_eq!(
        header.join(","),
        "start,end,partial,total_watts,sample_count,average_watts,min_watts,max_watts,energy_wh,coverage,peak_demand_watts,peak_demand_start,peak_demand_end,baseload_watts,comparison_start,comparison_end,comparison_energy_wh,energy_wh_change,energy_wh_ratio"
    );
    let buckets = json.json()["series"].as_array().unwrap().clone();
    assert_eq!(buckets.len(), 25);
    assert_rows_match(&header, &rows, &buckets);
    // The two forms are two representations: their tags differ, and caches key on Accept.
    assert_ne!(csv.etag, json.etag);
    assert!(csv.vary.as_deref().unwrap_or_default().contains("Accept"));

    // Without buckets, one row per location; Accept works as format=csv does.
    let parts = app
        .request_with("GET", ORGANIZATION_DAY, &[("Accept", "text/csv")])
        .await;
    let (header, rows) = parse(&parts.body);
    assert_eq!(header[..2], ["id", "name"]);
    let locations = app.get(ORGANIZATION_DAY).await.json()["locations"]
        .as_array()
        .unwrap()
        .clone();
    assert_rows_match(&header, &rows, &locations);
    // A circuit without buckets is its own one row.
    let circuit = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-01T06:00:00Z";
    let (header, rows) = parse(&app.get(&format!("{circuit}&format=csv")).await.body);
    let answer = app.get(circuit).await.json();
    let object = serde_json::json!({"id": answer["circuit"]["id"], "name": answer["circuit"]["name"], "usage": answer["usage"]});
    assert_rows_match(&header, &rows, &[object]);
}

#[actix_web::test]
async fn format_takes_json_or_csv_only_and_errors_stay_problems() {
    let app = TestApp::spawn().await;
    let json = app.get(&format!("{ORGANIZATION_DAY}&format=json")).await;
    assert_eq!(json.content_type, "application/json");
    let bad = app.get(&format!("{ORGANIZATION_DAY}&format=xml")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["invalid_params"][0]["reason"],
        "`format` must be json or csv, got \"xml\""
    );
    // A 404 asked for as CSV is still a problem+json.
    let missing = app
        .get("/v1/insights/organizations/00000000-0000-4000-8000-000000000000/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&format=csv")
        .await;
    assert_eq!(
        (missing.status, missing.content_type.as_str()),
        (404, "application/problem+json")
    );
}

#[actix_web::test]
async fn names_that_a_spreadsheet_would_run_are_exported_as_text() {
    // East Franchise's two locations renamed by a careless or hostile monolith user.
    let catalogue = insights_core::SEED_TSV
        .replace(
            "East\u{2011}NYC",
            "=HYPERLINK(\"http://evil.example\",\"NYC\")",
        )
        .replace("East\u{2011}Boston", "+cmd|' /C calc'!A0");
    assert_ne!(catalogue, insights_core::SEED_TSV);
    let file = crate::support::scratch_file("hostile.tsv", &catalogue);
    let app = TestApp::spawn_settings(&[("INSIGHTS_CATALOGUE", file.to_str().unwrap())]).await;
    std::fs::remove_file(file).unwrap();
    let answer = app.get(&format!("{ORGANIZATION_DAY}&format=csv")).await;
    let (header, rows) = parse(&answer.body);
    assert_eq!(&header[..2], ["id", "name"]);
    let names: Vec<&str> = rows.iter().map(|row| row[1].as_str()).collect();
    assert_eq!(
        names,
        [
            "'+cmd|' /C calc'!A0",
            "'=HYPERLINK(\"http://evil.example\",\"NYC\")"
        ]
    );
}

#[actix_web::test]
async fn accept_with_csv_at_q_0_answers_json() {
    let app = TestApp::spawn().await;
    let answer = app
        .request_with(
            "GET",
            ORGANIZATION_DAY,
            &[("Accept", "application/json, text/csv;q=0")],
        )
        .await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (200, "application/json")
    );
    let csv = app
        .request_with("GET", ORGANIZATION_DAY, &[("Accept", "text/csv;q=0.5")])
        .await;
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
}

/// Every usage endpoint takes `format`, `compare` and `baseload`, and answers CSV, a
/// comparison, and both at once: a new usage endpoint cannot ship without them. The endpoints
/// are those the handler table declares as usage (`routes::usage_endpoints`), and every
/// documented operation that takes `format` or offers CSV must be one of them.
#[actix_web::test]
async fn every_usage_endpoint_answers_csv_and_a_comparison() {
    let app = TestApp::spawn().await;
    let document: Value = serde_json::from_slice(&app.get("/openapi.json").await.body).unwrap();
    // A seed entity for each kind of path parameter a usage endpoint may take.
    let ids = [
        ("{circuit_id}", "d36e0c8c-d7d4-5740-88c4-dea626057ff1"),
        ("{sensor_id}", "785097c8-2b34-410a-a8ea-bcaf10791c45"),
        ("{location_id}", "ea125f67-6b94-4992-8eb9-d832ae026106"),
        ("{organization_id}", "955c3c4d-3a03-4d79-9655-3871f5ad999d"),
        ("{brand_id}", "11111111-1111-1111-1111-111111111111"),
    ];
    let declared: Vec<(&str, &str)> = insights_http::routes::usage_endpoints().collect();
    for (template, operations) in document["paths"].as_object().unwrap() {
        let operation = &operations["get"];
        let takes_format = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|parameter| parameter["name"] == "format");
        let offers_csv = operation["responses"]["200"]["content"]
            .get("text/csv")
            .is_some();
        let usage = declared.contains(&(
            template.as_str(),
            operation["operationId"].as_str().unwrap(),
        ));
        assert_eq!(
            (takes_format, offers_csv),
            (usage, usage),
            "{template}: format and CSV go with a usage endpoint"
        );
    }
    let mut checked = 0;
    for (template, operation_id) in &declared {
        let operations = &document["paths"][*template];
        assert_eq!(
            operations["get"]["operationId"], *operation_id,
            "{template}"
        );
        let parameters: Vec<&str> = operations["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|parameter| parameter["name"].as_str())
            .collect();
        for name in ["format", "compare", "baseload"] {
            assert!(parameters.contains(&name), "{template} documents no {name}");
        }
        let path = ids.iter().fold(template.to_string(), |path, (name, id)| {
            path.replace(name, id)
        });
        assert!(
            !path.contains('{'),
            "{template}: no seed id for its parameter"
        );
        let window = "start=2024-04-01T06:00:00Z&end=2024-04-01T12:00:00Z&baseload=true";
        let compared = app.get(&format!("{path}?{window}&compare=previous")).await;
        assert_eq!(compared.status, 200, "{template}");
        let body: Value = serde_json::from_slice(&compared.body).unwrap();
        assert!(
            body["usage"]["comparison"].is_object(),
            "{template}: no comparison in {body}"
        );
        assert!(
            body["usage"]["baseload_watts"].is_number(),
            "{template}: no baseload"
        );
        // CSV's usage columns are the usage object's fields, less those a parameter adds,
        // which the parameters declare with their own columns.
        let mut fields: Vec<&str> = body["usage"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|field| {
                !insights_http::params::USAGE_PARAMS
                    .iter()
                    .any(|param| param.adds.is_some_and(|added| added.field == *field))
            })
            .collect();
        let mut columns = insights_http::csv_export::USAGE_COLUMNS.to_vec();
        fields.sort_unstable();
        columns.sort_unstable();
        assert_eq!(fields, columns, "{template}");
        for format in ["format=csv", "format=csv&compare=previous"] {
            let csv = app.get(&format!("{path}?{window}&{format}")).await;
            assert_eq!(csv.status, 200, "{template} {format}");
            assert!(
                csv.header("content-type").unwrap().starts_with("text/csv"),
                "{template} {format}"
            );
            let (header, rows) = parse(&csv.body);
            // A row a part, each named by its id, or one row for an answer without parts.
            let parts = body.as_object().unwrap().values().find_map(|value| {
                value
                    .as_array()
                    .filter(|list| list.first().is_some_and(|part| part["usage"].is_object()))
            });
            assert_eq!(
                rows.len(),
                parts.map_or(1, Vec::len),
                "{template} {format}: {rows:?}"
            );
            let ids: Vec<&str> = match parts {
                Some(parts) => parts
                    .iter()
                    .map(|part| part["id"].as_str().unwrap())
                    .collect(),
                None => vec![path.split('/').nth(4).unwrap()],
            };
            let id_column = header.iter().position(|column| column == "id").unwrap();
            let row_ids: Vec<&str> = rows.iter().map(|row| row[id_column].as_str()).collect();
            assert_eq!(row_ids, ids, "{template} {format}");
            assert!(header.iter().any(|column| column == "energy_wh"));
            assert!(
                header.iter().any(|column| column == "baseload_watts"),
                "{template} {format}: {header:?}"
            );
            assert_eq!(
                header.iter().any(|column| column == "comparison_energy_wh"),
                format.contains("compare"),
                "{template} {format}: {header:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "{checked} usage endpoints found");
}
