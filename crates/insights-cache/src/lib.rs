//! A bounded, time-limited cache in front of any [`MetadataRepo`], with single flight: on a
//! miss, one request goes to the store for a key and every concurrent caller shares its answer.
//! It is a decorator of the port, not part of any store, so the composition root can put it in
//! front of whichever store it picks.
//!
//! Fresh entries are served even while the store is down; an expired entry is fetched again,
//! so during an outage it answers with the store's error (a 503), never with stale data.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use insights_core::{
    Brand, BrandId, BrandTree, CircuitContext, CircuitId, LocationId, LocationSummary,
    MetadataError, MetadataRepo, OrganizationId, OrganizationTree, SensorDetail, SensorId,
    SeriesKey,
};
use tokio::time::Instant;

/// What a lookup was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Circuit(CircuitId),
    Organization(OrganizationId),
    Sensor(SensorId),
    Location(LocationId),
    Brand(BrandId),
    /// The list of every brand.
    Brands,
    /// The series of every circuit.
    CircuitSeries,
}

/// A lookup's answer; a missing entity is cached too, so floods of unknown ids stay cheap.
#[derive(Clone, Debug)]
enum Answer {
    Circuit(Option<Arc<CircuitContext>>),
    Organization(Option<Arc<OrganizationTree>>),
    Sensor(Option<Arc<SensorDetail>>),
    Location(Option<Arc<LocationSummary>>),
    Brand(Option<Arc<BrandTree>>),
    Brands(Arc<Vec<Brand>>),
    CircuitSeries(Arc<Vec<SeriesKey>>),
}

type Flight = Shared<BoxFuture<'static, Result<Answer, MetadataError>>>;

#[derive(Default)]
struct Slot {
    value: Option<(Instant, Answer)>,
    flight: Option<Flight>,
}

/// How the cache has been used, for operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from a fresh entry.
    pub hits: u64,
    /// Lookups that went to the store or joined a request already going.
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
}

/// A [`MetadataRepo`] that caches another one's lookups.
pub struct CachedMetadata<M> {
    inner: Arc<M>,
    ttl: Duration,
    capacity: usize,
    slots: Mutex<HashMap<Key, Slot>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<M> std::fmt::Debug for CachedMetadata<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedMetadata")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// The most entries whose room is taken when the cache is made (about 10 MiB).
const PREALLOCATED_ENTRIES: usize = 131_072;

impl<M: MetadataRepo + 'static> CachedMetadata<M> {
    /// Caches `inner`'s lookups for `ttl`, holding at most `capacity` entries.
    pub fn new(inner: M, ttl: Duration, capacity: usize) -> CachedMetadata<M> {
        CachedMetadata {
            inner: Arc::new(inner),
            ttl,
            capacity: capacity.max(1),
            // The table's room is taken up front, so memory stays flat as the cache fills and
            // churns. Twice the capacity, because a hash table that is more than half full of
            // live entries doubles when removals have used up its free slots, rather than
            // rehashing in place. Very large capacities still grow on demand.
            slots: Mutex::new(HashMap::with_capacity(
                capacity.saturating_mul(2).min(PREALLOCATED_ENTRIES),
            )),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// Hits, misses and size so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().len(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        // A panic while holding the lock cannot leave the map inconsistent, so keep using it.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn get(&self, key: Key) -> Result<Answer, MetadataError> {
        let flight = {
            let mut slots = self.lock();
            let now = Instant::now();
            if let Some((fetched, answer)) = slots.get(&key).and_then(|slot| slot.value.as_ref()) {
                if now.duration_since(*fetched) < self.ttl {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(answer.clone());
                }
            }
            self.misses.fetch_add(1, Ordering::Relaxed);
            if !slots.contains_key(&key) && slots.len() >= self.capacity {
                self.evict(&mut slots, now);
            }
            let slot = slots.entry(key).or_default();
            match &slot.flight {
                Some(flight) => flight.clone(),
                None => {
                    let flight = fetch(self.inner.clone(), key).boxed().shared();
                    slot.flight = Some(flight.clone());
                    flight
                }
            }
        };
        let result = flight.clone().await;
        let mut slots = self.lock();
        if let Some(slot) = slots.get_mut(&key) {
            // Only the flight that is still current may settle the slot.
            if slot
                .flight
                .as_ref()
                .is_some_and(|current| current.ptr_eq(&flight))
            {
                slot.flight = None;
                if let Ok(answer) = &result {
                    slot.value = Some((Instant::now(), answer.clone()));
                }
            }
        }
        result
    }

    /// Makes room for a tenth of the capacity at once, so a full cache scans itself once per
    /// tenth of its capacity in misses rather than on every miss: drops expired entries, then
    /// the oldest, never one being fetched.
    fn evict(&self, slots: &mut HashMap<Key, Slot>, now: Instant) {
        slots.retain(|_, slot| {
            slot.flight.is_some()
                || slot
                    .value
                    .as_ref()
                    .is_some_and(|(fetched, _)| now.duration_since(*fetched) < self.ttl)
        });
        let keep = self.capacity - self.capacity.div_ceil(10);
        let Some(excess) = slots.len().checked_sub(keep).filter(|excess| *excess > 0) else {
            return;
        };
        let mut by_age: Vec<(Instant, Key)> = slots
            .iter()
            .filter(|(_, slot)| slot.flight.is_none())
            .filter_map(|(key, slot)| slot.value.as_ref().map(|(fetched, _)| (*fetched, *key)))
            .collect();
        if excess < by_age.len() {
            by_age.select_nth_unstable_by_key(excess, |(fetched, _)| *fetched);
        }
        for (_, key) in by_age.into_iter().take(excess) {
            slots.remove(&key);
        }
    }
}

async fn fetch<M: MetadataRepo>(inner: Arc<M>, key: Key) -> Result<Answer, MetadataError> {
    Ok(match key {
        Key::Circuit(id) => Answer::Circuit(inner.circuit(id).await?),
        Key::Organization(id) => Answer::Organization(inner.organization(id).await?),
        Key::Sensor(id) => Answer::Sensor(inner.sensor(id).await?),
        Key::Location(id) => Answer::Location(inner.location(id).await?),
        Key::Brand(id) => Answer::Brand(inner.brand(id).await?),
        Key::Brands => Answer::Brands(Arc::new(inner.brands().await?)),
        Key::CircuitSeries => Answer::CircuitSeries(Arc::new(inner.circuit_series().await?)),
    })
}

fn mismatch() -> MetadataError {
    MetadataError::Inconsistent {
        reason: "the cache held an answer of another kind for a key".to_owned(),
    }
}

// Every method goes through a `Key`: the test `every_method_of_the_port_is_cached` fails for a
// port method that reaches the store on every call.
impl<M: MetadataRepo + 'static> MetadataRepo for CachedMetadata<M> {
    async fn circuit(&self, id: CircuitId) -> Result<Option<Arc<CircuitContext>>, MetadataError> {
        match self.get(Key::Circuit(id)).await? {
            Answer::Circuit(answer) => Ok(answer),
            _ => Err(mismatch()),
        }
    }

    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Arc<OrganizationTree>>, MetadataError> {
        match self.get(Key::Organization(id)).await? {
            Answer::Organization(answer) => Ok(answer),
            _ => Err(mismatch()),
        }
    }

    async fn sensor(&self, id: SensorId) -> Result<Option<Arc<SensorDetail>>, MetadataError> {
        match self.get(Key::Sensor(id)).await? {
            Answer::Sensor(answer) => Ok(answer),
            _ => Err(mismatch()),
        }
    }

    async fn location(
        &self,
        id: LocationId,
    ) -> Result<Option<Arc<LocationSummary>>, MetadataError> {
        match self.get(Key::Location(id)).await? {
            Answer::Location(answer) => Ok(answer),
            _ => Err(mismatch()),
        }
    }

    async fn brand(&self, id: BrandId) -> Result<Option<Arc<BrandTree>>, MetadataError> {
        match self.get(Key::Brand(id)).await? {
            Answer::Brand(answer) => Ok(answer),
            _ => Err(mismatch()),
        }
    }

    /// Cached like the lookups: the data range of everything asks for it on each request.
    async fn circuit_series(&self) -> Result<Vec<SeriesKey>, MetadataError> {
        match self.get(Key::CircuitSeries).await? {
            Answer::CircuitSeries(answer) => Ok(answer.as_ref().clone()),
            _ => Err(mismatch()),
        }
    }

    async fn brands(&self) -> Result<Vec<Brand>, MetadataError> {
        match self.get(Key::Brands).await? {
            Answer::Brands(answer) => Ok(answer.as_ref().clone()),
            _ => Err(mismatch()),
        }
    }
}
