//! The database holds exactly the embedded catalogue, and every lookup answers as the
//! embedded store does.

use std::collections::BTreeSet;

use insights_core::{
    BrandId, Catalogue, CircuitId, InMemoryMetadata, LocationId, MetadataRepo, OrganizationId,
    SensorId,
};
use insights_testdb::TestDb;
use uuid::Uuid;

use crate::store;

/// Every row of a table as text, for an order-free comparison.
fn rows(db: &TestDb, sql: &str) -> BTreeSet<Vec<String>> {
    db.query_text(sql)
        .into_iter()
        .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
        .collect()
}

#[test]
fn init_sql_holds_exactly_the_embedded_catalogue() {
    let db = TestDb::new();
    let seed = Catalogue::seed();
    let set = |rows: Vec<Vec<String>>| rows.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(
        rows(&db, "SELECT id, name FROM brands"),
        set(seed
            .brands
            .iter()
            .map(|b| vec![b.id.to_string(), b.name.clone()])
            .collect())
    );
    assert_eq!(
        rows(&db, "SELECT id, brand_id, name FROM organizations"),
        set(seed
            .organizations
            .iter()
            .map(|o| vec![o.id.to_string(), o.brand_id.to_string(), o.name.clone()])
            .collect())
    );
    assert_eq!(
        rows(&db, "SELECT id, organization_id, name FROM locations"),
        set(seed
            .locations
            .iter()
            .map(|l| vec![
                l.id.to_string(),
                l.organization_id.to_string(),
                l.name.clone()
            ])
            .collect())
    );
    assert_eq!(
        rows(
            &db,
            "SELECT id, location_id, duid, name FROM electric_sensors"
        ),
        set(seed
            .sensors
            .iter()
            .map(|s| vec![
                s.id.to_string(),
                s.location_id.to_string(),
                s.duid.0.clone(),
                s.name.clone()
            ])
            .collect())
    );
    assert_eq!(
        rows(
            &db,
            "SELECT id, sensor_id, circuit_number, name FROM circuits"
        ),
        set(seed
            .circuits
            .iter()
            .map(|c| vec![
                c.id.to_string(),
                c.sensor_id.to_string(),
                c.circuit_number.to_string(),
                c.name.clone()
            ])
            .collect())
    );
}

#[tokio::test]
async fn every_lookup_matches_the_embedded_store() {
    let db = TestDb::new();
    let store = store(&db);
    let embedded = InMemoryMetadata::seed();
    let seed = Catalogue::seed();
    for circuit in &seed.circuits {
        assert_eq!(
            store.circuit(circuit.id).await.unwrap(),
            embedded.circuit(circuit.id).await.unwrap()
        );
    }
    for organization in &seed.organizations {
        assert_eq!(
            store.organization(organization.id).await.unwrap(),
            embedded.organization(organization.id).await.unwrap()
        );
    }
    for sensor in &seed.sensors {
        assert_eq!(
            store.sensor(sensor.id).await.unwrap(),
            embedded.sensor(sensor.id).await.unwrap()
        );
    }
    for location in &seed.locations {
        assert_eq!(
            store.location(location.id).await.unwrap(),
            embedded.location(location.id).await.unwrap()
        );
    }
    for brand in &seed.brands {
        assert_eq!(
            store.brand(brand.id).await.unwrap(),
            embedded.brand(brand.id).await.unwrap()
        );
    }
    let mut from_db = store.circuit_series().await.unwrap();
    let mut from_seed = embedded.circuit_series().await.unwrap();
    from_db.sort();
    from_seed.sort();
    assert_eq!(from_db, from_seed);
}

#[tokio::test]
async fn unknown_ids_are_none() {
    let db = TestDb::new();
    let store = store(&db);
    let unknown = Uuid::from_u128(7);
    assert_eq!(store.circuit(CircuitId(unknown)).await, Ok(None));
    assert_eq!(store.organization(OrganizationId(unknown)).await, Ok(None));
    assert_eq!(store.sensor(SensorId(unknown)).await, Ok(None));
    assert_eq!(store.location(LocationId(unknown)).await, Ok(None));
    assert_eq!(store.brand(BrandId(unknown)).await, Ok(None));
}

#[tokio::test]
async fn childless_entities_and_code_point_order_match_the_embedded_store() {
    let db = TestDb::new();
    // An organization without locations, a location without sensors, a sensor without
    // circuits, and names whose code-point order differs from a locale's.
    db.execute(
        "INSERT INTO organizations VALUES ('00000000-0000-4000-8000-000000000001', '11111111-1111-1111-1111-111111111111', 'empty org');
         INSERT INTO locations VALUES ('00000000-0000-4000-8000-000000000002', '955c3c4d-3a03-4d79-9655-3871f5ad999d', 'east-lower');
         INSERT INTO locations VALUES ('00000000-0000-4000-8000-000000000003', '955c3c4d-3a03-4d79-9655-3871f5ad999d', 'Ézé');
         INSERT INTO electric_sensors VALUES ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000003', 'DUIDX', 'Panel-0');",
    );
    let mut catalogue = Catalogue::seed();
    let uuid = |n: u128| Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n);
    catalogue.organizations.push(insights_core::Organization {
        id: OrganizationId(uuid(1)),
        name: "empty org".into(),
        brand_id: catalogue.brands[0].id,
    });
    let east = OrganizationId("955c3c4d-3a03-4d79-9655-3871f5ad999d".parse().unwrap());
    catalogue.locations.push(insights_core::Location {
        id: LocationId(uuid(2)),
        name: "east-lower".into(),
        organization_id: east,
    });
    catalogue.locations.push(insights_core::Location {
        id: LocationId(uuid(3)),
        name: "Ézé".into(),
        organization_id: east,
    });
    catalogue.sensors.push(insights_core::ElectricSensor {
        id: SensorId(uuid(4)),
        duid: insights_core::Duid("DUIDX".into()),
        name: "Panel-0".into(),
        location_id: LocationId(uuid(3)),
    });
    let embedded = InMemoryMetadata::new(&catalogue);
    let store = store(&db);
    assert_eq!(
        store.organization(east).await.unwrap(),
        embedded.organization(east).await.unwrap()
    );
    assert_eq!(
        store.organization(OrganizationId(uuid(1))).await.unwrap(),
        embedded
            .organization(OrganizationId(uuid(1)))
            .await
            .unwrap()
    );
    assert_eq!(
        store.brand(catalogue.brands[0].id).await.unwrap(),
        embedded.brand(catalogue.brands[0].id).await.unwrap()
    );
    assert_eq!(
        store.sensor(SensorId(uuid(4))).await.unwrap(),
        embedded.sensor(SensorId(uuid(4))).await.unwrap()
    );
    let names: Vec<String> = store
        .organization(east)
        .await
        .unwrap()
        .unwrap()
        .locations
        .iter()
        .map(|tree| tree.location.name.clone())
        .collect();
    assert_eq!(names, ["East‑Boston", "East‑NYC", "east-lower", "Ézé"]);
}

#[test]
fn the_reader_role_may_read_and_never_write() {
    let db = TestDb::new();
    assert_eq!(
        db.try_execute("SET ROLE insights_reader; SELECT count(*) FROM circuits"),
        Ok(())
    );
    for statement in [
        "INSERT INTO brands VALUES ('00000000-0000-4000-8000-0000000000aa', 'Intruder')",
        "UPDATE circuits SET name = 'x'",
        "DELETE FROM locations",
        "DROP TABLE circuits",
    ] {
        let refused = db
            .try_execute(&format!("SET ROLE insights_reader; {statement}"))
            .unwrap_err();
        assert!(
            refused.contains("42501") || refused.contains("must be owner"),
            "{statement}: {refused}"
        );
    }
}

/// A pool of one connection, opened on one runtime and asked from another: it answers there
/// too (its rows are read on the runtime that drives it). When that runtime stops, the
/// connection stops with it, and the pool opens another on the runtime that asks.
#[test]
fn a_connection_answers_any_runtime_and_is_replaced_when_its_own_stops() {
    let db = TestDb::new();
    let store = insights_pg::PgMetadata::new(&insights_pg::PgConfig {
        pool_size: 1,
        ..crate::config(db.url())
    })
    .unwrap();
    let organization = OrganizationId("955c3c4d-3a03-4d79-9655-3871f5ad999d".parse().unwrap());
    let home = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let away = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let expected = InMemoryMetadata::new(&Catalogue::seed());
    let expected = away.block_on(expected.organization(organization)).unwrap();
    assert!(expected.is_some());
    let at_home = home.block_on(store.organization(organization)).unwrap();
    assert_eq!(at_home, expected);
    let from_away = away.block_on(store.organization(organization)).unwrap();
    assert_eq!(from_away, expected);
    drop(home);
    let after_home_stopped = away.block_on(store.organization(organization)).unwrap();
    assert_eq!(after_home_stopped, expected);
}
