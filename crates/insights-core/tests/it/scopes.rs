//! Scopes: a caller sees its own brand or organization and nothing else, and what it may
//! not see is answered exactly as an id that does not exist.

use futures_executor::block_on;
use insights_core::{
    BrandId, Catalogue, CircuitId, InMemoryMetadata, Insights, InsightsError, LocationId,
    OrganizationId, Scope, SensorId, SeriesKey, TimeSeriesError, TimeSeriesSource, UsageRequest,
    UsageStats, Window, SEED_TSV,
};
use time::Duration;

/// A source without samples: scopes are about metadata.
#[derive(Debug)]
struct NoSamples;

impl TimeSeriesSource for NoSamples {
    fn nominal_interval(&self) -> Duration {
        Duration::minutes(1)
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        _window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        Ok(vec![UsageStats::default(); series.len()])
    }
}

/// The seed's DemoBrand plus a second brand, so brand scopes have something to exclude.
fn two_brands() -> Insights<InMemoryMetadata, NoSamples> {
    let text = format!("{SEED_TSV}{}", include_str!("../fixtures/second_brand.tsv"));
    let catalogue = Catalogue::parse_tsv(&text).expect("the fixture parses");
    Insights::new(InMemoryMetadata::new(&catalogue), NoSamples)
}

const DEMO_BRAND: &str = "11111111-1111-1111-1111-111111111111";
const OTHER_BRAND: &str = "22222222-2222-2222-2222-222222222222";
const EAST: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
const WEST: &str = "eac7fee9-07d9-4882-93f5-14f11d3f7b89";
const HARBOR: &str = "33333333-3333-3333-3333-333333333333";

/// One entity of each kind under East Franchise, and under the other brand.
const EAST_ENTITIES: Entities = Entities {
    organization: EAST,
    location: "ea125f67-6b94-4992-8eb9-d832ae026106",
    sensor: "785097c8-2b34-410a-a8ea-bcaf10791c45",
    circuit: "d36e0c8c-d7d4-5740-88c4-dea626057ff1",
    brand: DEMO_BRAND,
};
const HARBOR_ENTITIES: Entities = Entities {
    organization: HARBOR,
    location: "44444444-4444-4444-4444-444444444444",
    sensor: "55555555-5555-5555-5555-555555555555",
    circuit: "66666666-6666-6666-6666-666666666666",
    brand: OTHER_BRAND,
};

struct Entities {
    organization: &'static str,
    location: &'static str,
    sensor: &'static str,
    circuit: &'static str,
    brand: &'static str,
}

/// Which of the seven lookups answer, as one letter each (c l o b s m d: circuit, location,
/// organization and brand usage, sensor, location summary, brand metadata), `-` where the
/// answer is the not-found error of a missing id.
fn visible(
    insights: &Insights<InMemoryMetadata, NoSamples>,
    scope: &Scope,
    entities: &Entities,
) -> String {
    let window = crate::window_between("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z");
    let request = UsageRequest::window(window);
    let circuit_id: CircuitId = entities.circuit.parse().unwrap();
    let location_id: LocationId = entities.location.parse().unwrap();
    let organization_id: OrganizationId = entities.organization.parse().unwrap();
    let brand_id: BrandId = entities.brand.parse().unwrap();
    let sensor_id: SensorId = entities.sensor.parse().unwrap();
    let answers = [
        (
            'c',
            block_on(insights.circuit_usage(scope, circuit_id, &request)).map(drop),
        ),
        (
            'l',
            block_on(insights.location_usage(scope, location_id, &request)).map(drop),
        ),
        (
            'o',
            block_on(insights.organization_usage(scope, organization_id, &request)).map(drop),
        ),
        (
            'b',
            block_on(insights.brand_usage(scope, brand_id, &request)).map(drop),
        ),
        (
            's',
            block_on(insights.electric_sensor(scope, sensor_id)).map(drop),
        ),
        (
            'm',
            block_on(insights.location_summary(scope, location_id)).map(drop),
        ),
        (
            'd',
            block_on(insights.brand_metadata(scope, brand_id)).map(drop),
        ),
    ];
    answers
        .into_iter()
        .map(|(letter, answer)| match answer {
            Ok(()) => letter,
            // The same error an unknown id gets: nothing tells the caller the id is real.
            Err(InsightsError::NotFound(_)) => '-',
            Err(error) => panic!("unexpected error {error}"),
        })
        .collect()
}

fn check(scope: Scope, expected_east: &str, expected_harbor: &str) {
    let insights = two_brands();
    assert_eq!(
        (
            visible(&insights, &scope, &EAST_ENTITIES),
            visible(&insights, &scope, &HARBOR_ENTITIES)
        ),
        (expected_east.to_owned(), expected_harbor.to_owned()),
        "{scope:?}"
    );
}

#[test]
fn a_scope_sees_its_own_tenant_only() {
    check(Scope::All, "clobsmd", "clobsmd");
    check(
        Scope::Brand(DEMO_BRAND.parse().unwrap()),
        "clobsmd",
        "-------",
    );
    check(
        Scope::Brand(OTHER_BRAND.parse().unwrap()),
        "-------",
        "clobsmd",
    );
    // An organization never sees its brand as a whole: that would show its siblings.
    check(
        Scope::Organization(EAST.parse().unwrap()),
        "clo-sm-",
        "-------",
    );
    check(
        Scope::Organization(WEST.parse().unwrap()),
        "-------",
        "-------",
    );
    check(
        Scope::Organization(HARBOR.parse().unwrap()),
        "-------",
        "clo-sm-",
    );
    // A key for an id that does not exist sees nothing.
    check(Scope::Brand(HARBOR.parse().unwrap()), "-------", "-------");
}
