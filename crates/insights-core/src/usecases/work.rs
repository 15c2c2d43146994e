//! The work limit: how many figures a usage request asks the source for, and the bound on it.

use std::fmt;

use crate::bucket::DemandInterval;

use super::request::{Demand, UsageRequest};

/// Figures one call to the time-series source may return (series × ranges). It bounds the
/// memory a request holds at once, about 3 MiB of [`UsageStats`](crate::UsageStats),
/// whatever its window.
pub const CELLS_PER_CALL: usize = 1 << 16;

/// The most figures one usage request may ask the source for in all: circuits × (buckets +
/// demand and baseload intervals), a comparison's included. Past it the answer would take
/// seconds of CPU, so the request is refused with a suggestion that fits.
pub const MAX_CELLS_PER_REQUEST: usize = 16_000_000;

/// The ranges a usage request sums each series over, by kind, its comparison included.
pub(super) struct Ranges {
    /// Windows: 1, or 2 with a comparison.
    pub(super) windows: usize,
    pub(super) buckets: usize,
    pub(super) baseload: usize,
    pub(super) demand: usize,
}

impl Ranges {
    pub(super) fn of(request: &UsageRequest) -> Ranges {
        // A comparison does the same work again over its own window, whose buckets and
        // intervals may number a few more (a year earlier can hold a 29 February).
        let windows: Vec<&UsageRequest> = std::iter::once(request)
            .chain(request.compare.as_ref().map(|(_, other)| other.as_ref()))
            .collect();
        let intervals = |demand: &Option<Demand>| {
            demand
                .as_ref()
                .map_or(0, |demand| demand.edges.len().saturating_sub(1))
        };
        let total = |count: &dyn Fn(&UsageRequest) -> usize| windows.iter().map(|w| count(w)).sum();
        Ranges {
            windows: windows.len(),
            buckets: total(&|w| w.buckets.as_ref().map_or(0, Vec::len)),
            baseload: total(&|w| intervals(&w.baseload)),
            demand: total(&|w| intervals(&w.demand)),
        }
    }

    /// Figures over `n_series` series when these ranges number `ranges` (at least one a
    /// window: every series is summed over each window).
    fn cells(&self, n_series: usize, ranges: usize) -> usize {
        n_series.saturating_mul(ranges.max(self.windows))
    }
}

/// Refuses a request whose work would exceed [`MAX_CELLS_PER_REQUEST`].
pub(super) fn check_work(n_series: usize, request: &UsageRequest) -> Result<(), TooMuchWork> {
    let ranges = Ranges::of(request);
    let (n_buckets, n_baseload, n_demand) = (ranges.buckets, ranges.baseload, ranges.demand);
    // The baseload's quarter hours are fixed work, like the buckets.
    let fixed = n_buckets + n_baseload;
    let n_intervals = n_demand + n_baseload;
    let cells = |count: usize| ranges.cells(n_series, count);
    if cells(n_buckets + n_intervals) <= MAX_CELLS_PER_REQUEST {
        return Ok(());
    }
    let error = match &request.demand {
        Some(demand) if cells(fixed) < MAX_CELLS_PER_REQUEST => {
            // Intervals scale inversely with their length; suggest the finest that fits.
            let fits = |candidate: DemandInterval| {
                let scale = candidate.seconds() as f64 / demand.interval.seconds() as f64;
                cells(fixed + (n_demand as f64 / scale).ceil() as usize) <= MAX_CELLS_PER_REQUEST
            };
            TooMuchWork {
                param: WorkParam::DemandInterval,
                cells: cells(n_buckets + n_intervals),
                // The interval asked for does not fit, nor does any finer one, so the first
                // that fits is coarser.
                suggestion: DemandInterval::ALL
                    .into_iter()
                    .find(|candidate| fits(*candidate))
                    .map(DemandInterval::name),
            }
        }
        // The buckets alone fit, and no demand interval is to blame (the arm above), so the
        // baseload's quarter hours tipped the request over.
        _ if cells(n_buckets) < MAX_CELLS_PER_REQUEST => TooMuchWork {
            param: WorkParam::Baseload,
            cells: cells(n_buckets + n_intervals),
            suggestion: None,
        },
        _ => TooMuchWork {
            param: WorkParam::Bucket,
            cells: cells(n_buckets + n_intervals),
            suggestion: None,
        },
    };
    Err(error)
}

/// Which option made a request too much work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkParam {
    /// The bucket width, over this many circuits.
    Bucket,
    /// The demand interval, over this many circuits.
    DemandInterval,
    /// The baseload's quarter hours, over this many circuits.
    Baseload,
}

/// A request that would ask the source for more than [`MAX_CELLS_PER_REQUEST`] figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooMuchWork {
    /// The option to change.
    pub param: WorkParam,
    /// Circuits × ranges the request needs.
    pub cells: usize,
    /// A coarser demand interval that fits, if one does.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for TooMuchWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let option = match self.param {
            WorkParam::Bucket => "the buckets",
            WorkParam::DemandInterval => "the demand intervals",
            WorkParam::Baseload => "the baseload's quarter hours",
        };
        write!(
            f,
            "{option} over this window and these circuits need {} figures (circuits × ranges), more than the {MAX_CELLS_PER_REQUEST} allowed",
            self.cells
        )?;
        match self.suggestion {
            Some(coarser) => write!(f, "; a demand interval of {coarser} fits"),
            None => Ok(()),
        }
    }
}
