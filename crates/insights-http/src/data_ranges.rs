//! Data ranges read lately, by caller scope and entity, so that choosing a usage answer's
//! `Cache-Control` (`caching::Freshness`) does not cost the time-series source an extent
//! query on every request.

use std::sync::PoisonError;

use insights_core::{DataRange, EntityRef, Scope};

/// How long a data range read to decide `caching::Freshness` is reused. Imports only ever add
/// samples, so a reused range can only be older than the truth: a window may then be called
/// live a moment after it settled (a shorter `max-age`), never settled too early. A reload of
/// the sample file (SIGHUP) may also remove samples; for these 2 s after one, a window may be
/// called settled from the old file's range.
pub const DATA_RANGE_REUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// The most data ranges kept for reuse; a full table is emptied, not grown.
const DATA_RANGES_KEPT: usize = 10_000;

/// Data ranges by caller scope and entity, kept for [`DATA_RANGE_REUSE`] so that a usage
/// answer's `Cache-Control` costs the time-series source one extent query per entity every
/// two seconds rather than one per request.
#[derive(Debug, Default)]
pub struct RecentDataRanges {
    entries: std::sync::Mutex<
        std::collections::HashMap<(Scope, EntityRef), (std::time::Instant, DataRange)>,
    >,
}

impl RecentDataRanges {
    /// The range read for `key` within the last [`DATA_RANGE_REUSE`], if any.
    pub fn get(&self, key: &(Scope, EntityRef)) -> Option<DataRange> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(read, _)| read.elapsed() < DATA_RANGE_REUSE)
            .map(|(_, range)| *range)
    }

    /// Keeps a range just read.
    pub fn put(&self, key: (Scope, EntityRef), range: DataRange) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= DATA_RANGES_KEPT {
            entries.retain(|_, (read, _)| read.elapsed() < DATA_RANGE_REUSE);
            if entries.len() >= DATA_RANGES_KEPT {
                entries.clear();
            }
        }
        entries.insert(key, (std::time::Instant::now(), range));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_data_ranges_are_kept_per_scope_and_entity_and_stay_bounded() {
        let recent = RecentDataRanges::default();
        let range = DataRange {
            circuit_count: 1,
            extent: None,
            nominal_interval: time::Duration::minutes(1),
        };
        let entity =
            |n: u128| EntityRef::Circuit(insights_core::CircuitId(uuid::Uuid::from_u128(n)));
        recent.put((Scope::All, entity(1)), range);
        assert_eq!(recent.get(&(Scope::All, entity(1))), Some(range));
        assert_eq!(recent.get(&(Scope::All, entity(2))), None);
        let brand = Scope::Brand(insights_core::BrandId(uuid::Uuid::from_u128(9)));
        assert_eq!(recent.get(&(brand, entity(1))), None);
        for n in 0..(DATA_RANGES_KEPT as u128 + 5) {
            recent.put((Scope::All, entity(n)), range);
        }
        let kept = recent.entries.lock().unwrap().len();
        assert!(kept <= DATA_RANGES_KEPT, "{kept}");
    }
}
