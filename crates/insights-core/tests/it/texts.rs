//! Every error's text, word for word: what a service that links the core logs or shows. The
//! HTTP layer shows few of them as they are: a timestamp's error (after the parameter's name)
//! and a lookup's not-found; it words the other 400s itself (`insights-http`'s `wording.rs`),
//! and logs the ports' failures, never showing them.

use std::fmt::Display;

use insights_core::{
    parse_rfc3339, Bound, BrandId, BucketWidth, CatalogueError, CatalogueErrorKind, CircuitId,
    Comparison, Duid, EntityRef, InsightsError, LocationId, MetadataError, OrganizationId,
    SensorId, SeriesKey, TimeSeriesError, TimestampError, TooManyBuckets, TooMuchWork,
    UsageRequestError, WindowError, WorkParam,
};
use time::Duration;

fn check(value: &dyn Display, expected: &str) {
    assert_eq!(value.to_string(), expected);
}

const ID: &str = "11111111-2222-3333-4444-555555555555";

#[test]
fn lookups_name_the_entity_they_did_not_find() {
    let not_found = |entity| InsightsError::NotFound(entity);
    let id: uuid::Uuid = ID.parse().unwrap();
    check(
        &not_found(EntityRef::Brand(BrandId::from(id))),
        &format!("brand {ID} does not exist"),
    );
    check(
        &not_found(EntityRef::Organization(OrganizationId::from(id))),
        &format!("organization {ID} does not exist"),
    );
    check(
        &not_found(EntityRef::Location(LocationId::from(id))),
        &format!("location {ID} does not exist"),
    );
    check(
        &not_found(EntityRef::Sensor(SensorId::from(id))),
        &format!("electric sensor {ID} does not exist"),
    );
    check(
        &not_found(EntityRef::Circuit(CircuitId::from(id))),
        &format!("circuit {ID} does not exist"),
    );
}

#[test]
fn ids_and_keys_print_as_the_contract_writes_them() {
    let id: CircuitId = ID.to_uppercase().parse().unwrap();
    check(&id, ID);
    let key = SeriesKey {
        duid: Duid("6D12E310B371FCB1".to_owned()),
        circuit_number: 7,
    };
    check(&key.duid, "6D12E310B371FCB1");
    check(&key, "6D12E310B371FCB1/7");
    for (width, name) in BucketWidth::ALL
        .into_iter()
        .zip(["1m", "5m", "15m", "30m", "1h", "1d", "1w", "1mo"])
    {
        check(&width, name);
    }
}

#[test]
fn port_failures_say_which_port_and_why() {
    let reason = || "connection refused".to_owned();
    let cases: [(InsightsError, &str); 4] = [
        (
            MetadataError::Unavailable { reason: reason() }.into(),
            "metadata store unavailable: connection refused",
        ),
        (
            MetadataError::Inconsistent { reason: reason() }.into(),
            "metadata store returned inconsistent data: connection refused",
        ),
        (
            TimeSeriesError::Unavailable { reason: reason() }.into(),
            "time-series source unavailable: connection refused",
        ),
        (
            TimeSeriesError::Failed { reason: reason() }.into(),
            "time-series source failed: connection refused",
        ),
    ];
    for (error, expected) in cases {
        check(&error, expected);
    }
}

#[test]
fn refused_requests_say_what_to_change() {
    let work = |param, suggestion| {
        InsightsError::TooMuchWork(TooMuchWork {
            param,
            cells: 16_000_001,
            suggestion,
        })
    };
    check(
        &work(WorkParam::Bucket, None),
        "the buckets over this window and these circuits need 16000001 figures (circuits × ranges), more than the 16000000 allowed",
    );
    check(
        &work(WorkParam::DemandInterval, Some("30m")),
        "the demand intervals over this window and these circuits need 16000001 figures (circuits × ranges), more than the 16000000 allowed; a demand interval of 30m fits",
    );
    check(
        &work(WorkParam::Baseload, None),
        "the baseload's quarter hours over this window and these circuits need 16000001 figures (circuits × ranges), more than the 16000000 allowed",
    );
    check(
        &UsageRequestError::ZoneWithoutBucket,
        "a time zone applies only to buckets, and none were asked for",
    );
    check(
        &UsageRequestError::TopOutOfRange(101),
        "a ranking of 101 circuits is outside 1 to 100",
    );
    check(
        &UsageRequestError::NoComparisonWindow(Comparison::Year),
        "no Year window can be compared with this one",
    );
    let too_many = |suggestion| TooManyBuckets {
        width: BucketWidth::FiveMinutes,
        count: 10_001,
        suggestion,
    };
    check(
        &UsageRequestError::TooManyBuckets(too_many(None)),
        "buckets of 5m would make 10001 over this window, more than the 10000 allowed",
    );
    check(
        &too_many(Some(BucketWidth::Hour)),
        "buckets of 5m would make 10001 over this window, more than the 10000 allowed; buckets of 1h fit",
    );
}

#[test]
fn windows_and_timestamps_say_what_is_wrong() {
    let instant = |text| parse_rfc3339(text).unwrap();
    check(
        &WindowError::EndNotAfterStart {
            start: instant("2024-04-01T01:00:00+01:00"),
            end: instant("2024-03-31T00:00:00Z"),
        },
        "the end (2024-03-31T00:00:00Z) is not after the start (2024-04-01T00:00:00Z)",
    );
    check(
        &WindowError::OutOfRange(Bound::Start),
        "the start falls outside years 0000 to 9999 in UTC",
    );
    check(
        &WindowError::OutOfRange(Bound::End),
        "the end falls outside years 0000 to 9999 in UTC",
    );
    check(
        &WindowError::TooLong {
            length: Duration::days(367),
            max: Duration::days(366),
        },
        "the window is 367d long, more than the maximum of 366d",
    );
    check(
        &TimestampError::Empty,
        "is empty; expected an RFC 3339 timestamp",
    );
    check(
        &TimestampError::NoOffset,
        "has no UTC offset; add `Z` or `±hh:mm`, for example 2024-04-01T00:00:00Z",
    );
    check(
        &TimestampError::TooPrecise { digits: 10 },
        "has 10 fraction digits; at most 9 (nanoseconds) are supported",
    );
    check(
        &TimestampError::Malformed {
            reason: "the hour needs two digits",
        },
        "is not an RFC 3339 timestamp (the hour needs two digits); expected for example 2024-04-01T00:00:00Z",
    );
}

#[test]
fn catalogue_errors_name_the_line_and_the_rule() {
    let id: uuid::Uuid = ID.parse().unwrap();
    let cases: Vec<(CatalogueErrorKind, &str)> = vec![
        (
            CatalogueErrorKind::BadHeader,
            "expected the header `kind<TAB>id<TAB>parent_id<TAB>name<TAB>duid<TAB>circuit_number`",
        ),
        (
            CatalogueErrorKind::FieldCount { found: 5 },
            "expected 6 tab-separated fields, found 5",
        ),
        (
            CatalogueErrorKind::UnknownKind("panel".to_owned()),
            "unknown kind \"panel\"; expected brand, organization, location, electric_sensor or circuit",
        ),
        (
            CatalogueErrorKind::BadUuid {
                field: "id",
                value: "x".to_owned(),
            },
            "`id` is not a UUID: \"x\"",
        ),
        (CatalogueErrorKind::EmptyName, "`name` is empty"),
        (
            CatalogueErrorKind::Duid,
            "`duid` must be set for electric sensors and only for them",
        ),
        (
            CatalogueErrorKind::CircuitNumber("0".to_owned()),
            "`circuit_number` must be a positive integer for circuits and empty otherwise, found \"0\"",
        ),
        (
            CatalogueErrorKind::UnexpectedField("duid"),
            "`duid` must be empty for this kind",
        ),
        (
            CatalogueErrorKind::DuplicateId(id),
            "id 11111111-2222-3333-4444-555555555555 is used twice",
        ),
        (
            CatalogueErrorKind::DuplicateDuid("AB".to_owned()),
            "duid AB is used twice",
        ),
        (
            CatalogueErrorKind::DuplicateCircuitNumber(3),
            "the sensor already has a circuit number 3",
        ),
        (
            CatalogueErrorKind::UnknownParent {
                parent_kind: "location",
                parent_id: id,
            },
            "`parent_id` 11111111-2222-3333-4444-555555555555 names no location on an earlier line",
        ),
    ];
    for (kind, expected) in cases {
        check(
            &CatalogueError { line: 12, kind },
            &format!("catalogue line 12: {expected}"),
        );
    }
}
