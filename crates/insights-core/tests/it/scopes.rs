//! Scopes: a caller sees its own brand or organization and nothing else, and what it may
//! not see is answered exactly as an id that does not exist.

use std::collections::HashMap;
use std::sync::Arc;

use futures_executor::block_on;
use insights_core::{
    BrandId, Catalogue, CircuitId, EntityRef, InMemoryMetadata, Insights, InsightsError,
    LocationId, OrganizationId, Scope, SensorId, SeriesKey, UsageRequest, SEED_TSV,
};

use crate::laws::ScanSource;

/// A source without samples: scopes are about metadata.
fn no_samples() -> ScanSource {
    ScanSource(HashMap::new())
}

/// The seed's DemoBrand plus a second brand, so brand scopes have something to exclude.
fn two_brands() -> Insights<InMemoryMetadata, ScanSource> {
    let text = format!("{SEED_TSV}{}", include_str!("../fixtures/second_brand.tsv"));
    let catalogue = Catalogue::parse_tsv(&text).expect("the fixture parses");
    Insights::new(InMemoryMetadata::new(&catalogue), no_samples())
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

/// Which of the twelve lookups answer, as one letter each (c l o b s m d: circuit, location,
/// organization and brand usage, sensor, location summary, brand metadata; C L O B S: the
/// data range of a circuit, location, organization, brand and sensor), `-` where the answer
/// is the not-found error of a missing id.
fn visible(
    insights: &Insights<InMemoryMetadata, ScanSource>,
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
    let ranges = [
        ('C', EntityRef::Circuit(circuit_id)),
        ('L', EntityRef::Location(location_id)),
        ('O', EntityRef::Organization(organization_id)),
        ('B', EntityRef::Brand(brand_id)),
        ('S', EntityRef::Sensor(sensor_id)),
    ]
    .map(|(letter, entity)| {
        (
            letter,
            block_on(insights.data_range(scope, Some(entity))).map(drop),
        )
    });
    answers
        .into_iter()
        .chain(ranges)
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
    check(Scope::All, "clobsmdCLOBS", "clobsmdCLOBS");
    check(
        Scope::Brand(DEMO_BRAND.parse().unwrap()),
        "clobsmdCLOBS",
        "------------",
    );
    check(
        Scope::Brand(OTHER_BRAND.parse().unwrap()),
        "------------",
        "clobsmdCLOBS",
    );
    // An organization never sees its brand as a whole: that would show its siblings.
    check(
        Scope::Organization(EAST.parse().unwrap()),
        "clo-sm-CLO-S",
        "------------",
    );
    check(
        Scope::Organization(WEST.parse().unwrap()),
        "------------",
        "------------",
    );
    check(
        Scope::Organization(HARBOR.parse().unwrap()),
        "------------",
        "clo-sm-CLO-S",
    );
    // A key for an id that does not exist sees nothing.
    check(
        Scope::Brand(HARBOR.parse().unwrap()),
        "------------",
        "------------",
    );
}

/// The brands a scope lists, each with its organizations, and how many circuits its overall
/// data range counts.
fn listed(scope: Scope) -> (Vec<(String, Vec<String>)>, usize) {
    let insights = two_brands();
    let brands = block_on(insights.visible_brands(&scope))
        .unwrap()
        .into_iter()
        .map(|visible| {
            (
                visible.brand.name,
                visible
                    .organizations
                    .into_iter()
                    .map(|visible| visible.organization.name)
                    .collect(),
            )
        })
        .collect();
    let range = block_on(insights.data_range(&scope, None)).unwrap();
    (brands, range.circuit_count)
}

#[test]
fn the_brand_list_and_the_overall_range_stay_within_the_scope() {
    let names = |list: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(brand, organizations)| {
                (
                    brand.to_string(),
                    organizations.iter().map(|name| name.to_string()).collect(),
                )
            })
            .collect()
    };
    let demo: (&str, &[&str]) = (
        "DemoBrand",
        &["Central Franchise", "East Franchise", "West Franchise"],
    );
    let other = listed(Scope::Brand(OTHER_BRAND.parse().unwrap()));
    assert_eq!(other.0.len(), 1);
    let (other_name, other_organizations) = other.0[0].clone();
    assert_eq!(other_organizations.len(), 1);
    assert_eq!(
        listed(Scope::Brand(DEMO_BRAND.parse().unwrap())),
        (names(&[demo]), 36)
    );
    let all = listed(Scope::All);
    assert_eq!(all.0.len(), 2);
    assert!(all.0.contains(&(other_name.clone(), other_organizations)));
    assert_eq!(all.1, 36 + other.1);
    assert_eq!(
        listed(Scope::Organization(EAST.parse().unwrap())),
        (names(&[("DemoBrand", &["East Franchise"])]), 12)
    );
    // A key for ids that do not exist sees nothing, and its range counts no circuit.
    assert_eq!(listed(Scope::Brand(HARBOR.parse().unwrap())), (vec![], 0));
    assert_eq!(
        listed(Scope::Organization(OTHER_BRAND.parse().unwrap())),
        (vec![], 0)
    );
}

/// The seed's metadata, counting organization lookups.
#[derive(Debug, Default)]
struct CountingMetadata {
    inner: InMemoryMetadata,
    organization_lookups: std::sync::atomic::AtomicUsize,
}

impl insights_core::MetadataRepo for CountingMetadata {
    async fn circuit(
        &self,
        id: CircuitId,
    ) -> Result<Option<std::sync::Arc<insights_core::CircuitContext>>, insights_core::MetadataError>
    {
        self.inner.circuit(id).await
    }

    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<std::sync::Arc<insights_core::OrganizationTree>>, insights_core::MetadataError>
    {
        self.organization_lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.organization(id).await
    }

    async fn sensor(
        &self,
        id: SensorId,
    ) -> Result<Option<std::sync::Arc<insights_core::SensorDetail>>, insights_core::MetadataError>
    {
        self.inner.sensor(id).await
    }

    async fn location(
        &self,
        id: LocationId,
    ) -> Result<Option<std::sync::Arc<insights_core::LocationSummary>>, insights_core::MetadataError>
    {
        self.inner.location(id).await
    }

    async fn brand(
        &self,
        id: BrandId,
    ) -> Result<Option<std::sync::Arc<insights_core::BrandTree>>, insights_core::MetadataError>
    {
        self.inner.brand(id).await
    }

    async fn circuit_series(&self) -> Result<Vec<SeriesKey>, insights_core::MetadataError> {
        self.inner.circuit_series().await
    }

    async fn brands(&self) -> Result<Vec<insights_core::Brand>, insights_core::MetadataError> {
        self.inner.brands().await
    }
}

/// An organization's key that probes another organization's id costs the store nothing: the
/// scope refuses it before any lookup, so probing cannot load the store or time its answers.
#[test]
fn probing_another_organization_costs_no_lookup() {
    let metadata = std::sync::Arc::new(CountingMetadata {
        inner: InMemoryMetadata::seed(),
        ..CountingMetadata::default()
    });
    let insights = Insights::new(metadata.clone(), no_samples());
    let lookups = || {
        metadata
            .organization_lookups
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let request = UsageRequest::window(crate::window_between(
        "2024-04-01T00:00:00Z",
        "2024-04-02T00:00:00Z",
    ));
    let east: OrganizationId = EAST.parse().unwrap();
    let west: OrganizationId = WEST.parse().unwrap();
    let scope = Scope::Organization(east);
    let refused = block_on(insights.organization_usage(&scope, west, &request));
    assert!(matches!(refused, Err(InsightsError::NotFound(_))));
    assert_eq!(lookups(), 0);
    block_on(insights.organization_usage(&scope, east, &request)).unwrap();
    assert_eq!(lookups(), 1);
    // Other scopes look the organization up and decide from its brand.
    block_on(insights.organization_usage(&Scope::All, west, &request)).unwrap();
    assert_eq!(lookups(), 2);
}

#[test]
fn an_entity_found_under_another_scope_is_no_way_around_this_one() {
    let insights = two_brands();
    let harbor: OrganizationId = HARBOR.parse().unwrap();
    let request = UsageRequest::window(crate::window_between(
        "2024-04-01T00:00:00Z",
        "2024-04-02T00:00:00Z",
    ));
    // Looked up with every tenant in sight, then summed for DemoBrand's key, and for its own.
    let tree = block_on(insights.organization(&Scope::All, harbor)).unwrap();
    let demo = Scope::Brand(DEMO_BRAND.parse().unwrap());
    let refused = block_on(insights.usage_of(&demo, Arc::clone(&tree), &request));
    assert_eq!(
        refused.map(|_| ()),
        Err(InsightsError::NotFound(EntityRef::Organization(harbor)))
    );
    let own = Scope::Organization(harbor);
    assert!(block_on(insights.usage_of(&own, tree, &request)).is_ok());
}
