//! API keys: 401 without a valid key, scopes isolated (another tenant's ids answer exactly as
//! ids that do not exist), health endpoints open, and `/metrics` behind a key or not.

use insights_core::SEED_TSV;
use insights_http::auth::{key_line, KeyScope};
use serde_json::json;

use crate::errors::problem;
use crate::support::{scratch_file, TestApp};

/// The 401 problem with `detail`.
fn unauthorized(detail: &str) -> serde_json::Value {
    problem(401, "Unauthorized", detail)
}

const DAY: &str = "start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
const DEMO_BRAND: &str = "11111111-1111-1111-1111-111111111111";
const OTHER_BRAND: &str = "22222222-2222-2222-2222-222222222222";
const EAST: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
const HARBOR: &str = "33333333-3333-3333-3333-333333333333";
const DEMO_KEY: &str = "ins_demo_brand_key";
const EAST_KEY: &str = "ins_east_key";
const HARBOR_KEY: &str = "ins_harbor_key";
const OPERATOR_KEY: &str = "ins_operator_key";

/// The seed plus a second brand, with keys for DemoBrand, East Franchise and Harbor.
async fn spawn(metrics_require_key: bool) -> TestApp {
    let text = format!(
        "{SEED_TSV}{}",
        include_str!("../../../insights-core/tests/fixtures/second_brand.tsv")
    );
    // The file holds only the keys' hashes.
    let file = [
        key_line(
            &KeyScope::Brand(DEMO_BRAND.parse().unwrap()),
            DEMO_KEY,
            "demo",
        ),
        key_line(
            &KeyScope::Organization(EAST.parse().unwrap()),
            EAST_KEY,
            "east",
        ),
        key_line(
            &KeyScope::Organization(HARBOR.parse().unwrap()),
            HARBOR_KEY,
            "",
        ),
        key_line(&KeyScope::Operator, OPERATOR_KEY, "ops"),
    ]
    .join("\n");
    let catalogue = scratch_file("catalogue.tsv", &text);
    let keys = scratch_file("keys", &file);
    let app = TestApp::spawn_settings(&[
        ("INSIGHTS_CATALOGUE", catalogue.to_str().unwrap()),
        ("INSIGHTS_API_KEYS_FILE", keys.to_str().unwrap()),
        (
            "INSIGHTS_METRICS_REQUIRE_KEY",
            if metrics_require_key { "true" } else { "false" },
        ),
    ])
    .await;
    std::fs::remove_file(catalogue).unwrap();
    std::fs::remove_file(keys).unwrap();
    app
}

/// One tenant's entities.
struct Tenant {
    organization: &'static str,
    location: &'static str,
    sensor: &'static str,
    circuit: &'static str,
    brand: &'static str,
}

const EAST_TENANT: Tenant = Tenant {
    organization: EAST,
    location: "ea125f67-6b94-4992-8eb9-d832ae026106",
    sensor: "785097c8-2b34-410a-a8ea-bcaf10791c45",
    circuit: "d36e0c8c-d7d4-5740-88c4-dea626057ff1",
    brand: DEMO_BRAND,
};

const WEST_TENANT: Tenant = Tenant {
    organization: "eac7fee9-07d9-4882-93f5-14f11d3f7b89",
    location: "afe3bacf-9d0d-4acd-b895-9947f58e23cb",
    sensor: "aabe5861-80bf-4244-b217-d2f67ade6682",
    circuit: "f45b3c1b-2ea2-5a16-8a5d-48e4cf913436",
    brand: DEMO_BRAND,
};

const HARBOR_TENANT: Tenant = Tenant {
    organization: HARBOR,
    location: "44444444-4444-4444-4444-444444444444",
    sensor: "55555555-5555-5555-5555-555555555555",
    circuit: "66666666-6666-6666-6666-666666666666",
    brand: OTHER_BRAND,
};

/// Every documented operation whose path names one entity, for one tenant's entities: the
/// path with the entity's id (and the day's window where the operation requires `start`), and
/// the entity its 404 names. Taken from the OpenAPI document, so a new route is checked here
/// without being listed.
fn tenant_paths(tenant: &Tenant) -> Vec<(String, String)> {
    let document: serde_json::Value =
        serde_json::from_str(&insights_http::openapi::documents().v3).unwrap();
    let entities = [
        ("{circuit_id}", "circuit", tenant.circuit),
        ("{sensor_id}", "electric sensor", tenant.sensor),
        ("{location_id}", "location", tenant.location),
        ("{organization_id}", "organization", tenant.organization),
        ("{brand_id}", "brand", tenant.brand),
    ];
    let mut paths = Vec::new();
    for (template, operations) in document["paths"].as_object().unwrap() {
        let Some((parameter, kind, id)) = entities
            .iter()
            .find(|(parameter, _, _)| template.contains(parameter))
        else {
            // A path without an id is about no one entity; one with an id of a kind this
            // test does not know fails it, rather than going unchecked.
            assert!(
                !template.contains("_id}"),
                "{template}: add its entity here"
            );
            continue;
        };
        let needs_window = operations["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|parameter| parameter["name"] == "start" && parameter["required"] == true);
        let mut path = template.replace(parameter, id);
        if needs_window {
            path = format!("{path}?{DAY}");
        }
        paths.push((path, format!("{kind} {id}")));
    }
    paths
}

/// What a key may see of a tenant's entities.
#[derive(Clone, Copy)]
enum Sees {
    /// Everything: the tenant's brand is the key's.
    Everything,
    /// All but the brand as a whole, which would show the organization's siblings.
    AllButTheBrand,
    /// Nothing: another tenant's.
    Nothing,
}

/// The statuses a key gets on the tenant's paths, one letter each: `y` for 200, `-` for a
/// 404 whose body is exactly the one an id that does not exist gets; they must be what the
/// key `sees`.
async fn check(app: &TestApp, key: &str, tenant: &Tenant, sees: Sees) {
    let paths = tenant_paths(tenant);
    // Usage, data ranges and metadata: at least the dozen routes the API began with.
    assert!(paths.len() >= 12, "{paths:?}");
    let expected: String = paths
        .iter()
        .map(|(_, entity)| match sees {
            Sees::Everything => 'y',
            Sees::AllButTheBrand if !entity.starts_with("brand ") => 'y',
            Sees::AllButTheBrand | Sees::Nothing => '-',
        })
        .collect();
    let authorization = format!("Bearer {key}");
    let mut actual = String::new();
    for (path, entity) in &paths {
        let answer = app
            .request_with("GET", path, &[("Authorization", &authorization)])
            .await;
        actual.push(match answer.status {
            200 => 'y',
            404 => {
                let not_found = problem(404, "Not Found", &format!("{entity} does not exist"));
                assert_eq!(answer.json(), not_found, "{path}");
                '-'
            }
            status => panic!("{path}: {status} {}", String::from_utf8_lossy(&answer.body)),
        });
    }
    assert_eq!(actual, expected, "key {key}: {paths:?}");
}

#[actix_web::test]
async fn each_key_sees_its_own_scope_only() {
    let app = spawn(true).await;
    check(&app, DEMO_KEY, &EAST_TENANT, Sees::Everything).await;
    check(&app, DEMO_KEY, &WEST_TENANT, Sees::Everything).await;
    check(&app, DEMO_KEY, &HARBOR_TENANT, Sees::Nothing).await;
    // An organization's key never sees its brand as a whole, which would show its siblings.
    check(&app, EAST_KEY, &EAST_TENANT, Sees::AllButTheBrand).await;
    check(&app, EAST_KEY, &WEST_TENANT, Sees::Nothing).await;
    check(&app, EAST_KEY, &HARBOR_TENANT, Sees::Nothing).await;
    check(&app, HARBOR_KEY, &HARBOR_TENANT, Sees::AllButTheBrand).await;
    check(&app, HARBOR_KEY, &EAST_TENANT, Sees::Nothing).await;
}

#[actix_web::test]
async fn the_brand_list_and_the_overall_data_range_follow_the_key() {
    let app = spawn(true).await;
    let get = |key: &'static str, path: &'static str| {
        let app = &app;
        async move {
            let authorization = format!("Bearer {key}");
            app.request_with("GET", path, &[("Authorization", &authorization)])
                .await
        }
    };
    let east = json!({"id": EAST, "name": "East Franchise", "locations": [
        {"id": "3b1ae0b8-1886-476c-9147-18b9d0a4d846", "name": "East‑Boston"},
        {"id": "ea125f67-6b94-4992-8eb9-d832ae026106", "name": "East‑NYC"}
    ]});
    let answer = get(EAST_KEY, "/v1/brands").await;
    assert_eq!(
        (answer.status, answer.json()),
        (
            200,
            json!({"brands": [{"id": DEMO_BRAND, "name": "DemoBrand", "organizations": [east]}]})
        )
    );
    // Answers that depend on the key are private to it, and caches must key on it.
    assert_eq!(
        (answer.cache_control.as_deref(), answer.vary.as_deref()),
        (Some("private, max-age=10"), Some("Authorization"))
    );
    let answer = get(DEMO_KEY, "/v1/brands").await;
    let brands = answer.json();
    let names: Vec<&str> = brands["brands"][0]["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|organization| organization["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Central Franchise", "East Franchise", "West Franchise"]
    );
    assert_eq!(brands["brands"].as_array().unwrap().len(), 1);
    for (key, circuits) in [(DEMO_KEY, 36), (EAST_KEY, 12)] {
        let answer = get(key, "/v1/insights/data-range").await;
        assert_eq!(answer.json()["circuit_count"], circuits, "{key}");
    }
}

#[actix_web::test]
async fn missing_or_wrong_keys_are_401_problems() {
    let app = spawn(true).await;
    let path = &format!("/v1/insights/circuits/{}/usage?{DAY}", EAST_TENANT.circuit);
    let not_bearer = "the Authorization header must be Bearer <key>";
    let not_valid = "the API key is not valid";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[],
            "this service needs an API key: send Authorization: Bearer <key>",
        ),
        (&[("Authorization", "Bearer ins_not_a_key")], not_valid),
        // A key's hash is not a key.
        (
            &[(
                "Authorization",
                "Bearer 3f1bd5d1a2f0e8f5c3c5e2bbaf02d3f9c1f1e1d9b8a7c6d5e4f3a2b1c0d9e8f7",
            )],
            not_valid,
        ),
        // HTTP trims the trailing space, which leaves a scheme without a key.
        (&[("Authorization", "Bearer ")], not_bearer),
        (&[("Authorization", "ins_east_key")], not_bearer),
        (&[("Authorization", "Basic aW5zOmtleQ==")], not_bearer),
    ];
    for (headers, detail) in cases {
        let answer = app.request_with("GET", path, headers).await;
        assert_eq!(
            (
                answer.status,
                answer.content_type.as_str(),
                answer.www_authenticate.as_deref()
            ),
            (
                401,
                "application/problem+json",
                Some("Bearer realm=\"insights\"")
            ),
            "{headers:?}"
        );
        assert_eq!(answer.json(), unauthorized(detail), "{headers:?}");
    }
    // The scheme is case-insensitive, as RFC 9110 says.
    let answer = app
        .request_with("GET", path, &[("Authorization", "bearer ins_east_key")])
        .await;
    assert_eq!(answer.status, 200);
}

#[actix_web::test]
async fn health_stays_open_and_metrics_follow_the_setting() {
    for metrics_require_key in [true, false] {
        let app = spawn(metrics_require_key).await;
        for path in ["/healthz", "/readyz"] {
            assert_eq!(app.get(path).await.status, 200, "{path}");
        }
        let anonymous = app.get("/metrics").await.status;
        let mut with_keys = Vec::new();
        for key in ["Bearer ins_harbor_key", "Bearer ins_operator_key"] {
            let answer = app
                .request_with("GET", "/metrics", &[("Authorization", key)])
                .await;
            with_keys.push(answer.status);
        }
        let (tenant, operator) = (with_keys[0], with_keys[1]);
        // The figures cover every tenant, so a tenant's key may not read them.
        let expected = if metrics_require_key {
            (401, 403, 200)
        } else {
            (200, 200, 200)
        };
        assert_eq!(
            (anonymous, tenant, operator),
            expected,
            "metrics_require_key={metrics_require_key}"
        );
    }
    // Without keys there is nothing to present: data and metrics are open.
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/metrics").await.status, 200);
    assert_eq!(
        app.get(&format!("/v1/brands/{DEMO_BRAND}/metadata"))
            .await
            .json()["id"],
        json!(DEMO_BRAND)
    );
}

#[actix_web::test]
async fn an_operators_key_reads_no_tenants_data() {
    let app = spawn(true).await;
    let answer = app
        .request_with(
            "GET",
            &format!("/v1/brands/{DEMO_BRAND}/metadata"),
            &[("Authorization", "Bearer ins_operator_key")],
        )
        .await;
    assert_eq!(
        answer.json(),
        unauthorized(
            "an operator's key reads /metrics only; use a brand's or an organization's key"
        )
    );
}

#[actix_web::test]
async fn a_request_without_a_valid_key_is_refused_before_its_parameters_are_read() {
    let app = spawn(true).await;
    // Every parameter is wrong, and the path names no entity: the key is looked at first.
    for path in [
        "/v1/insights/circuits/not-a-uuid/usage?start=yesterday&bucket=2h",
        "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?top=0",
        "/v1/no-such-route",
    ] {
        let answer = app.get(path).await;
        assert_eq!(
            answer.json(),
            unauthorized("this service needs an API key: send Authorization: Bearer <key>"),
            "{path}"
        );
    }
    // Two Authorization headers could be read differently along the way: refused.
    let answer = app
        .request_with(
            "GET",
            &format!("/v1/brands/{DEMO_BRAND}/metadata"),
            &[
                ("Authorization", "Bearer ins_demo_brand_key"),
                ("Authorization", "Bearer ins_east_key"),
            ],
        )
        .await;
    assert_eq!(
        answer.json(),
        unauthorized("send one Authorization header, not several")
    );
}

/// One path of every route under `/v1/`, with ids DemoBrand's key may read.
const DATA_PATHS: [&str; 14] = [
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&format=csv",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45",
    "/v1/locations/ea125f67-6b94-4992-8eb9-d832ae026106/circuit-summary",
    "/v1/brands/11111111-1111-1111-1111-111111111111/metadata",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/data-range",
    "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/data-range",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/data-range",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/data-range",
    "/v1/insights/sensors/785097c8-2b34-410a-a8ea-bcaf10791c45/data-range",
    "/v1/insights/data-range",
    "/v1/brands",
];

/// Another spelling of a path: a byte percent-encoded (either case of hex digit), a slash
/// doubled or as `%2F`, a `/./` segment, a trailing slash; applied at `at` (a byte index,
/// taken modulo the path's length).
#[derive(Clone, Copy, Debug)]
enum Respelling {
    Encode { at: usize, upper: bool },
    DoubleSlash { at: usize },
    EncodedSlash { at: usize, upper: bool },
    DotSegment { at: usize },
    TrailingSlash,
}

fn respell(path: &str, respelling: Respelling) -> String {
    let slashes: Vec<usize> = path.match_indices('/').map(|(index, _)| index).collect();
    // Earlier respellings may have escaped every slash; the first byte stands in then.
    let slash = |at: usize| slashes.get(at % slashes.len().max(1)).copied().unwrap_or(0);
    let hex = |byte: u8, upper: bool| {
        if upper {
            format!("%{byte:02X}")
        } else {
            format!("%{byte:02x}")
        }
    };
    match respelling {
        Respelling::Encode { at, upper } => {
            let at = at % path.len();
            format!(
                "{}{}{}",
                &path[..at],
                hex(path.as_bytes()[at], upper),
                &path[at + 1..]
            )
        }
        Respelling::DoubleSlash { at } => {
            let at = slash(at);
            format!("{}/{}", &path[..at], &path[at..])
        }
        Respelling::EncodedSlash { at, upper } => {
            let at = slash(at);
            format!("{}{}{}", &path[..at], hex(b'/', upper), &path[at + 1..])
        }
        Respelling::DotSegment { at } => {
            let at = slash(at);
            format!("{}/.{}", &path[..at], &path[at..])
        }
        Respelling::TrailingSlash => format!("{path}/"),
    }
}

fn respelling() -> impl proptest::strategy::Strategy<Value = Respelling> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (any::<usize>(), any::<bool>()).prop_map(|(at, upper)| Respelling::Encode { at, upper }),
        1 => any::<usize>().prop_map(|at| Respelling::DoubleSlash { at }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(at, upper)| Respelling::EncodedSlash { at, upper }),
        1 => any::<usize>().prop_map(|at| Respelling::DotSegment { at }),
        1 => Just(Respelling::TrailingSlash),
    ]
}

/// The status of a GET of `path_and_query` with `key`, over a raw connection, so the path
/// goes out exactly as spelled.
fn raw_status(addr: &str, path_and_query: &str, key: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let authorization = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: test\r\n{authorization}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .get(9..12)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer}"))
}

#[actix_web::test]
async fn no_spelling_of_a_data_path_gets_past_the_key_check_or_fails() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let app = spawn(true).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        // As sent, every path is 401 without a key and 200 with DemoBrand's.
        for path in DATA_PATHS {
            assert_eq!(raw_status(&addr, path, None), 401, "{path}");
            assert_eq!(raw_status(&addr, path, Some(DEMO_KEY)), 200, "{path}");
        }
        let strategy = (
            prop::sample::select(&DATA_PATHS[..]),
            prop::collection::vec(respelling(), 1..=3),
        );
        let mut runner = TestRunner::new(Config {
            cases: 300,
            ..Config::default()
        });
        runner
            .run(&strategy, |(path, respellings)| {
                let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
                let respelled = respellings
                    .iter()
                    .fold(path_only.to_owned(), |path, r| respell(&path, *r));
                let sent = if query.is_empty() {
                    respelled.clone()
                } else {
                    format!("{respelled}?{query}")
                };
                // Another spelling never reaches a handler: without a key it is refused
                // (401, or 400 for a needless escape) or routes nowhere (404); with a key
                // it is answered only when the spelling is the path itself.
                let without = raw_status(&addr, &sent, None);
                prop_assert!([400, 401, 404].contains(&without), "{sent}: {without}");
                let with = raw_status(&addr, &sent, Some(DEMO_KEY));
                let expected: &[u16] = if respelled == path_only {
                    &[200]
                } else {
                    &[400, 404]
                };
                prop_assert!(expected.contains(&with), "{sent} with a key: {with}");
                Ok(())
            })
            .unwrap();
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn a_needlessly_escaped_path_is_a_400_that_says_so() {
    let app = spawn(true).await;
    let answer = app
        .get(&format!("/%761/insights/organizations/{EAST}/usage?{DAY}"))
        .await;
    assert_eq!(
        (answer.status, answer.json()),
        (
            400,
            json!({
                "type": "about:blank",
                "title": "Bad Request",
                "status": 400,
                "detail": "the path percent-escapes letters, digits or -._~, which need no escape; send them as they are",
            })
        )
    );
}
