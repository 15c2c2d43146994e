//! A validated usage request: the window and what to compute over it, built and checked
//! before any data is read.

use std::fmt;

use time::OffsetDateTime;

use crate::bucket::{
    buckets, demand_edges, Bucket, BucketWidth, DemandInterval, TooManyBuckets, Zone,
};
use crate::window::Window;

/// The most circuits `top` may ask for.
pub const MAX_TOP: usize = 100;

/// Which other window a usage answer is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// The window of equal length just before: `[start - length, start)`.
    Previous,
    /// The same local dates and times a year earlier in the request's zone (UTC without
    /// one): 29 February becomes 28 February; a time in a clock change's gap becomes the
    /// gap's end, and one in an overlap the earlier instant.
    Year,
}

impl Comparison {
    /// Every comparison, in the order of [`Comparison::NAMES`].
    pub const ALL: [Comparison; 2] = [Comparison::Previous, Comparison::Year];

    /// The comparisons' names, as a query and an answer write them.
    pub const NAMES: [&'static str; 2] = ["previous", "year"];

    /// The comparison's name.
    pub fn name(self) -> &'static str {
        match self {
            Comparison::Previous => Comparison::NAMES[0],
            Comparison::Year => Comparison::NAMES[1],
        }
    }

    /// Reads a comparison's name.
    pub fn parse(text: &str) -> Option<Comparison> {
        Comparison::ALL
            .into_iter()
            .find(|comparison| comparison.name() == text)
    }
}

/// Why a usage request's options were rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageRequestError {
    /// The comparison window cannot be formed: it would begin before year 0000, or a year
    /// earlier the window's local times fall in one clock change and leave it empty.
    NoComparisonWindow(Comparison),
    /// A zone was given without a bucket width.
    ZoneWithoutBucket,
    /// The bucket width would make too many buckets.
    TooManyBuckets(TooManyBuckets),
    /// `top` is outside `1..=MAX_TOP`.
    TopOutOfRange(usize),
}

impl fmt::Display for UsageRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageRequestError::ZoneWithoutBucket => {
                f.write_str("a time zone applies only to buckets, and none were asked for")
            }
            UsageRequestError::TooManyBuckets(error) => error.fmt(f),
            UsageRequestError::TopOutOfRange(top) => {
                write!(f, "a ranking of {top} circuits is outside 1 to {MAX_TOP}")
            }
            UsageRequestError::NoComparisonWindow(kind) => {
                write!(f, "no {kind:?} window can be compared with this one")
            }
        }
    }
}

impl std::error::Error for UsageRequestError {}

/// Demand intervals: their length and the edges of the whole intervals inside the window.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// The interval length asked for.
    pub interval: DemandInterval,
    /// Consecutive edges bound the whole intervals that fit in the window.
    pub edges: Vec<OffsetDateTime>,
}

/// A validated usage request: the window and what to compute over it.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageRequest {
    pub(super) window: Window,
    pub(super) buckets: Option<Vec<Bucket>>,
    pub(super) demand: Option<Demand>,
    /// The whole [`BASELOAD_INTERVAL`]s whose lowest average power is the baseload.
    pub(super) baseload: Option<Demand>,
    pub(super) top: Option<usize>,
    /// The comparison asked for, and the same request over the other window.
    pub(super) compare: Option<(Comparison, Box<UsageRequest>)>,
}

/// The interval the baseload is the lowest average power over: a quarter hour, aligned as
/// demand intervals are.
pub const BASELOAD_INTERVAL: DemandInterval = DemandInterval::ALL[1];

impl UsageRequest {
    /// Just the window's usage.
    pub fn window(window: Window) -> UsageRequest {
        UsageRequest {
            window,
            buckets: None,
            demand: None,
            baseload: None,
            top: None,
            compare: None,
        }
    }

    /// Checks the options together. Buckets and demand intervals align in `zone`, UTC by
    /// default; without buckets, demand intervals align in UTC.
    pub fn new(
        window: Window,
        bucket: Option<BucketWidth>,
        zone: Option<Zone>,
        demand_interval: Option<DemandInterval>,
        top: Option<usize>,
    ) -> Result<UsageRequest, UsageRequestError> {
        if zone.is_some() && bucket.is_none() {
            return Err(UsageRequestError::ZoneWithoutBucket);
        }
        if let Some(top) = top.filter(|top| !(1..=MAX_TOP).contains(top)) {
            return Err(UsageRequestError::TopOutOfRange(top));
        }
        let zone = zone.unwrap_or_else(Zone::utc);
        let buckets = bucket
            .map(|width| buckets(&window, width, zone))
            .transpose()
            .map_err(UsageRequestError::TooManyBuckets)?;
        let demand = demand_interval.map(|interval| Demand {
            interval,
            edges: demand_edges(&window, interval, zone),
        });
        Ok(UsageRequest {
            window,
            buckets,
            demand,
            baseload: None,
            top,
            compare: None,
        })
    }

    /// The window.
    pub fn window_bounds(&self) -> &Window {
        &self.window
    }

    /// A request over `window` whose options are added one by one and checked together by
    /// [`UsageRequestBuilder::build`], for callers that know them as values, not options.
    pub fn builder(window: Window) -> UsageRequestBuilder {
        UsageRequestBuilder {
            window,
            bucket: None,
            zone: None,
            demand_interval: None,
            baseload: false,
            top: None,
            compare: None,
        }
    }
}

/// A usage request's options, collected for [`UsageRequest::new`]'s checks.
#[derive(Clone, Debug)]
pub struct UsageRequestBuilder {
    window: Window,
    bucket: Option<BucketWidth>,
    zone: Option<Zone>,
    demand_interval: Option<DemandInterval>,
    baseload: bool,
    top: Option<usize>,
    compare: Option<Comparison>,
}

impl UsageRequestBuilder {
    /// Buckets of `width`, aligned in UTC unless a zone is given.
    #[must_use]
    pub fn bucket(mut self, width: BucketWidth) -> Self {
        self.bucket = Some(width);
        self
    }

    /// The zone buckets and demand intervals align in; it needs a bucket.
    #[must_use]
    pub fn zone(mut self, zone: Zone) -> Self {
        self.zone = Some(zone);
        self
    }

    /// Peak demand over whole intervals of this length.
    #[must_use]
    pub fn demand_interval(mut self, interval: DemandInterval) -> Self {
        self.demand_interval = Some(interval);
        self
    }

    /// The `count` circuits with the highest totals, 1 to [`MAX_TOP`].
    #[must_use]
    pub fn top(mut self, count: usize) -> Self {
        self.top = Some(count);
        self
    }

    /// The baseload: the lowest average power over whole [`BASELOAD_INTERVAL`]s with
    /// samples, aligned as demand intervals are.
    #[must_use]
    pub fn baseload(mut self) -> Self {
        self.baseload = true;
        self
    }

    /// Every figure also over another window ([`Comparison`]), with the same options.
    #[must_use]
    pub fn compare(mut self, kind: Comparison) -> Self {
        self.compare = Some(kind);
        self
    }

    /// Checks the options together, as [`UsageRequest::new`] does.
    pub fn build(self) -> Result<UsageRequest, UsageRequestError> {
        let Some(kind) = self.compare else {
            return self.build_one();
        };
        let window = self.window;
        let zone = self.zone.unwrap_or_else(Zone::utc);
        let bounds = match kind {
            Comparison::Previous => window
                .start()
                .checked_sub(window.end() - window.start())
                .map(|start| (start, window.start())),
            Comparison::Year => zone
                .year_earlier(window.start())
                .zip(zone.year_earlier(window.end())),
        };
        let other_window = bounds
            .and_then(|(start, end)| Window::new(start, end, time::Duration::MAX).ok())
            .ok_or(UsageRequestError::NoComparisonWindow(kind))?;
        // `build_one` ignores `compare`, so neither request compares again.
        let other = UsageRequestBuilder {
            window: other_window,
            ..self.clone()
        }
        .build_one()?;
        let mut request = self.build_one()?;
        request.compare = Some((kind, Box::new(other)));
        Ok(request)
    }

    /// About how many ranges (buckets, demand and baseload intervals, each window at least
    /// once) a series is summed over, from the window's length alone: what a caller can size
    /// a request by before building it, which for a year of 5-minute intervals takes
    /// milliseconds. Exact for whole buckets aligned with the window; the months of a
    /// calendar count as 28 days.
    pub fn estimated_ranges(&self) -> usize {
        let length = self.window.length_nanos();
        // Rounded up: a partial range is a range too.
        let count = |nanos: i128| {
            let nanos = nanos.max(1);
            usize::try_from((length + nanos - 1) / nanos).unwrap_or(usize::MAX)
        };
        let interval = |interval: DemandInterval| i128::from(interval.seconds()) * 1_000_000_000;
        let buckets = self
            .bucket
            .map_or(0, |width| count(width.shortest().whole_nanoseconds()));
        let demand = self.demand_interval.map_or(0, |i| count(interval(i)));
        let baseload = if self.baseload {
            count(interval(BASELOAD_INTERVAL))
        } else {
            0
        };
        let windows = if self.compare.is_some() { 2 } else { 1 };
        buckets
            .saturating_add(demand)
            .saturating_add(baseload)
            .max(1)
            .saturating_mul(windows)
    }

    /// Checks the options for this window alone; `compare` is [`UsageRequestBuilder::build`]'s.
    fn build_one(self) -> Result<UsageRequest, UsageRequestError> {
        let zone = self.zone;
        let mut request = UsageRequest::new(
            self.window,
            self.bucket,
            self.zone,
            self.demand_interval,
            self.top,
        )?;
        if self.baseload {
            request.baseload = Some(Demand {
                interval: BASELOAD_INTERVAL,
                edges: demand_edges(
                    &request.window,
                    BASELOAD_INTERVAL,
                    zone.unwrap_or_else(Zone::utc),
                ),
            });
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_comparison_reads_back_from_its_name() {
        for (comparison, name) in Comparison::ALL.into_iter().zip(Comparison::NAMES) {
            assert_eq!(
                (comparison.name(), Comparison::parse(name)),
                (name, Some(comparison))
            );
        }
        assert_eq!(Comparison::parse("Previous"), None);
    }
}
