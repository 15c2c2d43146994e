//! The metadata cache: hot lookups stay off the store, one request per key on a miss, the TTL
//! holds, outages serve fresh entries and fail expired ones, and the size is bounded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use insights_cache::{CacheStats, CachedMetadata};
use insights_core::{
    Catalogue, InMemoryMetadata, MetadataError, MetadataRepo, OrganizationId, METADATA_REPO_METHODS,
};

/// The seed store, slowed down, counting its calls, and able to fail like an outage.
#[derive(Default)]
struct Probe {
    calls: AtomicUsize,
    /// The port methods the store was asked, in order.
    asked: Mutex<Vec<&'static str>>,
    down: AtomicBool,
}

struct CountingStore {
    seed: InMemoryMetadata,
    probe: Arc<Probe>,
}

impl MetadataRepo for CountingStore {
    async fn circuit(
        &self,
        id: insights_core::CircuitId,
    ) -> Result<Option<Arc<insights_core::CircuitContext>>, MetadataError> {
        self.enter("circuit").await?;
        self.seed.circuit(id).await
    }
    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Arc<insights_core::OrganizationTree>>, MetadataError> {
        self.enter("organization").await?;
        self.seed.organization(id).await
    }
    async fn sensor(
        &self,
        id: insights_core::SensorId,
    ) -> Result<Option<Arc<insights_core::SensorDetail>>, MetadataError> {
        self.enter("sensor").await?;
        self.seed.sensor(id).await
    }
    async fn location(
        &self,
        id: insights_core::LocationId,
    ) -> Result<Option<Arc<insights_core::LocationSummary>>, MetadataError> {
        self.enter("location").await?;
        self.seed.location(id).await
    }
    async fn brand(
        &self,
        id: insights_core::BrandId,
    ) -> Result<Option<Arc<insights_core::BrandTree>>, MetadataError> {
        self.enter("brand").await?;
        self.seed.brand(id).await
    }
    async fn circuit_series(&self) -> Result<Vec<insights_core::SeriesKey>, MetadataError> {
        self.enter("circuit_series").await?;
        self.seed.circuit_series().await
    }
    async fn brands(&self) -> Result<Vec<insights_core::Brand>, MetadataError> {
        self.enter("brands").await?;
        self.seed.brands().await
    }
}

impl CountingStore {
    async fn enter(&self, method: &'static str) -> Result<(), MetadataError> {
        self.probe.calls.fetch_add(1, Ordering::SeqCst);
        self.probe.asked.lock().unwrap().push(method);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if self.probe.down.load(Ordering::SeqCst) {
            return Err(MetadataError::Unavailable {
                reason: "down".into(),
            });
        }
        Ok(())
    }
}

fn cache(ttl_seconds: u64, capacity: usize) -> (Arc<CachedMetadata<CountingStore>>, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let store = CountingStore {
        seed: InMemoryMetadata::seed(),
        probe: probe.clone(),
    };
    (
        Arc::new(CachedMetadata::new(
            store,
            Duration::from_secs(ttl_seconds),
            capacity,
        )),
        probe,
    )
}

fn organization(index: usize) -> OrganizationId {
    insights_core::Catalogue::seed().organizations[index].id
}

#[tokio::test(start_paused = true)]
async fn hot_lookups_do_not_touch_the_store() {
    let (cache, probe) = cache(60, 100);
    let first = cache.organization(organization(0)).await.unwrap();
    for _ in 0..100 {
        assert_eq!(cache.organization(organization(0)).await.unwrap(), first);
    }
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        cache.stats(),
        CacheStats {
            hits: 100,
            misses: 1,
            entries: 1
        }
    );
    // An unknown id is cached too.
    let unknown = OrganizationId(uuid::Uuid::from_u128(9));
    assert_eq!(cache.organization(unknown).await, Ok(None));
    assert_eq!(cache.organization(unknown).await, Ok(None));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_brand_list_and_the_circuit_series_are_cached_like_lookups() {
    let (cache, probe) = cache(60, 100);
    let seed = InMemoryMetadata::seed();
    for _ in 0..3 {
        assert_eq!(cache.brands().await, seed.brands().await);
        assert_eq!(cache.circuit_series().await, seed.circuit_series().await);
    }
    assert_eq!(probe.calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(cache.brands().await, seed.brands().await);
    assert_eq!(probe.calls.load(Ordering::SeqCst), 3);
}

/// The cache's keys and answers are written apart from the port, so this is what finds a
/// method added to the port but not to them: `CountingStore` must write the new method, and
/// until this test asks it twice and the store sees it once, the test fails.
#[tokio::test(start_paused = true)]
async fn every_method_of_the_port_is_cached() {
    let (cache, probe) = cache(60, 100);
    let seed = Catalogue::seed();
    for _ in 0..2 {
        assert!(cache.circuit(seed.circuits[0].id).await.unwrap().is_some());
        assert!(cache
            .organization(seed.organizations[0].id)
            .await
            .unwrap()
            .is_some());
        assert!(cache.sensor(seed.sensors[0].id).await.unwrap().is_some());
        assert!(cache
            .location(seed.locations[0].id)
            .await
            .unwrap()
            .is_some());
        assert!(cache.brand(seed.brands[0].id).await.unwrap().is_some());
        assert!(!cache.circuit_series().await.unwrap().is_empty());
        assert!(!cache.brands().await.unwrap().is_empty());
    }
    let mut asked = probe.asked.lock().unwrap().clone();
    asked.sort_unstable();
    let mut methods = METADATA_REPO_METHODS.to_vec();
    methods.sort_unstable();
    assert_eq!(
        asked, methods,
        "each method reaches the store once, then hits"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_send_one_request_per_key() {
    let (cache, probe) = cache(60, 100);
    let lookups: Vec<_> = (0..50)
        .map(|index| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.organization(organization(index % 2)).await })
        })
        .collect();
    for lookup in lookups {
        assert!(lookup.await.unwrap().unwrap().is_some());
    }
    assert_eq!(
        probe.calls.load(Ordering::SeqCst),
        2,
        "one request for each of the two keys"
    );
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl() {
    let (cache, probe) = cache(60, 100);
    cache.organization(organization(0)).await.unwrap();
    tokio::time::advance(Duration::from_secs(59)).await;
    cache.organization(organization(0)).await.unwrap();
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1, "still fresh at 59 s");
    tokio::time::advance(Duration::from_secs(2)).await;
    cache.organization(organization(0)).await.unwrap();
    assert_eq!(
        probe.calls.load(Ordering::SeqCst),
        2,
        "fetched again after 60 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_serves_fresh_entries_and_fails_expired_ones() {
    let (cache, probe) = cache(60, 100);
    cache.organization(organization(0)).await.unwrap();
    probe.down.store(true, Ordering::SeqCst);
    assert!(
        cache.organization(organization(0)).await.unwrap().is_some(),
        "fresh: served"
    );
    assert!(
        matches!(
            cache.organization(organization(1)).await,
            Err(MetadataError::Unavailable { .. })
        ),
        "never cached: 503"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(
        matches!(
            cache.organization(organization(0)).await,
            Err(MetadataError::Unavailable { .. })
        ),
        "expired: 503, not stale"
    );
    probe.down.store(false, Ordering::SeqCst);
    assert!(
        cache.organization(organization(0)).await.unwrap().is_some(),
        "recovered"
    );
}

#[tokio::test(start_paused = true)]
async fn the_cache_is_bounded() {
    let (cache, probe) = cache(60, 2);
    for index in 0..3 {
        cache.organization(organization(index)).await.unwrap();
    }
    assert_eq!(cache.stats().entries, 2);
    // The oldest entry made room, so asking for it again goes to the store.
    cache.organization(organization(0)).await.unwrap();
    assert_eq!(probe.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_full_cache_evicts_the_oldest_tenth_at_once() {
    // Ids that name nothing: "none" answers are cached like any other.
    let unknown = |index: u128| OrganizationId::from(uuid::Uuid::from_u128(index + 1));
    let (cache, probe) = cache(60, 10);
    let mut entries = Vec::new();
    for index in 0..25 {
        tokio::time::advance(std::time::Duration::from_millis(1)).await;
        cache.organization(unknown(index)).await.unwrap();
        entries.push(cache.stats().entries);
    }
    // Full at 10, then each miss past it makes room for one tenth: down to 9, then back to 10.
    assert_eq!(
        entries,
        [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
            10
        ]
    );
    let calls = probe.calls.load(Ordering::SeqCst);
    // The newest stay; the oldest went.
    cache.organization(unknown(24)).await.unwrap();
    cache.organization(unknown(15)).await.unwrap();
    assert_eq!(probe.calls.load(Ordering::SeqCst), calls);
    cache.organization(unknown(14)).await.unwrap();
    assert_eq!(probe.calls.load(Ordering::SeqCst), calls + 1);
}
