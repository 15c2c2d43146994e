//! Requests give the executor a turn between blocks of work, and only there: a request of one
//! block, every light one, is answered in a single poll.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use insights_core::{Catalogue, DemandInterval, InMemoryMetadata, Insights, Scope, UsageRequest};

use crate::laws::ScanSource;

/// How many polls `future` takes to finish, its source answering at once every time.
fn polls<F: Future>(future: F) -> usize {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    let mut count = 1;
    while future.as_mut().poll(&mut context).is_pending() {
        count += 1;
    }
    count
}

fn check(n_circuits: usize, demand: Option<&str>, expected_polls: usize) {
    let catalogue = Catalogue::synthetic(n_circuits);
    let insights = Insights::new(
        InMemoryMetadata::new(&catalogue),
        ScanSource(HashMap::new()),
    );
    let window = crate::window_between("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z");
    let demand = demand.map(|name| DemandInterval::parse(name).unwrap());
    let request = UsageRequest::new(window, None, None, demand, None).unwrap();
    let brand = catalogue.brands[0].id;
    let actual = polls(async {
        insights
            .brand_usage(&Scope::All, brand, &request)
            .await
            .unwrap()
    });
    assert_eq!(
        actual, expected_polls,
        "{n_circuits} circuits, demand {demand:?}"
    );
}

#[test]
fn a_turn_between_blocks_of_series_and_none_before_the_first() {
    // 256 series are one block. Whether the window is settled is asked first, a pass over
    // the blocks (all of them, when none has a sample after the window), then the totals.
    check(1, None, 1);
    check(256, None, 1);
    check(257, None, 3);
    check(3 * 256, None, 5);
    // Peak demand is one more pass over the same blocks, each block after its first a turn.
    check(256, Some("15m"), 1);
    check(257, Some("15m"), 4);
}
