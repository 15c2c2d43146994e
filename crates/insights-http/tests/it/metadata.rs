//! The monolith-compatible metadata endpoints: whole bodies.

use serde_json::json;

use crate::support::TestApp;

#[actix_web::test]
async fn electric_sensor_lists_its_circuits_by_number() {
    let app = TestApp::spawn().await;
    let answer = app
        .get("/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45")
        .await;
    let expected = json!({
        "id": "785097c8-2b34-410a-a8ea-bcaf10791c45",
        "duid": "6D12E310B371FCB1",
        "name": "Panel-1",
        "location": {"id": "ea125f67-6b94-4992-8eb9-d832ae026106", "name": "East‑NYC", "organization_id": "955c3c4d-3a03-4d79-9655-3871f5ad999d"},
        "circuits": [
            {"id": "d36e0c8c-d7d4-5740-88c4-dea626057ff1", "name": "Circuit 1", "circuit_number": 1},
            {"id": "8e120741-3f75-5d9c-b5af-6be8a094364a", "name": "Circuit 2", "circuit_number": 2},
            {"id": "5865cb4e-988b-58da-aca6-86508e015f6d", "name": "Circuit 3", "circuit_number": 3}
        ]
    });
    assert_eq!((answer.status, answer.json()), (200, expected));
}

#[actix_web::test]
async fn circuit_summary_lists_sensors_by_name() {
    let app = TestApp::spawn().await;
    let answer = app
        .get("/v1/locations/fb7aa48f-d6c4-44cc-bb68-89529260c886/circuit-summary")
        .await;
    let circuits = |ids: [&str; 3]| {
        json!([
            {"id": ids[0], "name": "Circuit 1", "circuit_number": 1},
            {"id": ids[1], "name": "Circuit 2", "circuit_number": 2},
            {"id": ids[2], "name": "Circuit 3", "circuit_number": 3}
        ])
    };
    let expected = json!({
        "location": {"id": "fb7aa48f-d6c4-44cc-bb68-89529260c886", "name": "Central‑Dallas"},
        "organization": {"id": "719aeacd-dc94-4476-874b-0d178d8c0c48", "name": "Central Franchise"},
        "sensor_count": 2,
        "circuit_count": 6,
        "sensors": [
            {"id": "459842e9-b637-476f-9214-cae25242e33a", "duid": "27A41104DFE32507", "name": "Panel-1", "circuits": circuits(CIRCUITS_27A4)},
            {"id": "86dfaee4-ef2f-4933-a7ba-943b1251acdd", "duid": "DD67F2DE418FF162", "name": "Panel-2", "circuits": circuits(CIRCUITS_DD67)}
        ]
    });
    assert_eq!((answer.status, answer.json()), (200, expected));
}

#[actix_web::test]
async fn brand_metadata_counts_every_level() {
    let app = TestApp::spawn().await;
    let answer = app
        .get("/v1/brands/11111111-1111-1111-1111-111111111111/metadata")
        .await;
    let location = |id: &str, name: &str| json!({"id": id, "name": name, "sensor_count": 2, "circuit_count": 6});
    let expected = json!({
        "id": "11111111-1111-1111-1111-111111111111",
        "name": "DemoBrand",
        "organizations": [
            {"id": "719aeacd-dc94-4476-874b-0d178d8c0c48", "name": "Central Franchise", "location_count": 2, "locations": [
                location("8b91d138-3376-4ee2-b53e-07a73b5f095d", "Central‑Chicago"),
                location("fb7aa48f-d6c4-44cc-bb68-89529260c886", "Central‑Dallas")
            ]},
            {"id": "955c3c4d-3a03-4d79-9655-3871f5ad999d", "name": "East Franchise", "location_count": 2, "locations": [
                location("3b1ae0b8-1886-476c-9147-18b9d0a4d846", "East‑Boston"),
                location("ea125f67-6b94-4992-8eb9-d832ae026106", "East‑NYC")
            ]},
            {"id": "eac7fee9-07d9-4882-93f5-14f11d3f7b89", "name": "West Franchise", "location_count": 2, "locations": [
                location("afe3bacf-9d0d-4acd-b895-9947f58e23cb", "West‑LA"),
                location("079f2808-5770-44e6-b2d8-ee44bf76e3de", "West‑SF")
            ]}
        ]
    });
    assert_eq!((answer.status, answer.json()), (200, expected));
}

const CIRCUITS_27A4: [&str; 3] = [
    "72590a92-6049-5bef-8acb-3a6f9f10f8b2",
    "1de13479-0895-5956-b885-89774b99c23c",
    "7c030ae4-9496-52bb-b0d7-211523e409c4",
];
const CIRCUITS_DD67: [&str; 3] = [
    "4f66f65b-765b-5545-8b08-be927f75b46a",
    "14e82678-3455-57c4-95ee-7f13e006dbf2",
    "653e685f-5b54-5ff1-8baf-3be74d7d6d79",
];
