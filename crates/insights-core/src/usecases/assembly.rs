//! Turning the source's figures into a roll-up: totals and ranking, the peak-demand and
//! baseload passes over intervals, and the blocks of work between yields.

use time::OffsetDateTime;

use crate::bucket::Bucket;
use crate::stats::{SampleSum, Usage, UsageStats};

use super::answer::{
    BucketUsage, Figures, GroupUsage, PartUsage, Peak, PeakDemand, RankedCircuit, Rollup,
};
use super::members::{Member, SERIES_PER_CALL};
use super::request::{Demand, UsageRequest};
use super::scope::EntityRef;
use super::work::CELLS_PER_CALL;

/// Step 1's result.
pub(super) struct Totals {
    /// Each member's total over the window, in member order.
    pub(super) series: Vec<UsageStats>,
    /// Each bucket's total over all members, when buckets were asked for.
    pub(super) buckets: Option<Vec<UsageStats>>,
}

/// Step 2: the `count` members with the highest totals, highest first, then by circuit id,
/// so the ranking is total and stable.
pub(super) fn rank(members: &[Member<'_>], totals: &[UsageStats], count: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..members.len()).collect();
    ranked.sort_by(|&a, &b| {
        totals[b]
            .total()
            .cmp(&totals[a].total())
            .then_with(|| members[a].circuit.id.cmp(&members[b].circuit.id))
    });
    ranked.truncate(count);
    ranked
}

/// What step 3 needs besides the keys.
pub(super) struct PeakPlan<'a> {
    pub(super) members: &'a [Member<'a>],
    pub(super) n_parts: usize,
    pub(super) top: &'a [usize],
    pub(super) buckets: &'a [Bucket],
    pub(super) demand: &'a Demand,
    pub(super) pick: Pick,
}

/// Which interval step 3 looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pick {
    /// The highest average power: peak demand. An interval without samples is 0 W.
    Highest,
    /// The lowest average power among intervals with samples: the baseload.
    Lowest,
}

impl PeakPlan<'_> {
    /// The demand of one interval: its summed samples as average power over its length,
    /// energy (each sample times its series' interval) over `length_s`; `None` where the baseload skips an interval without
    /// samples.
    pub(super) fn candidate(
        &self,
        sum: SampleSum,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Option<PeakDemand> {
        if self.pick == Pick::Lowest && sum.n_samples() == 0 {
            return None;
        }
        let length_seconds = (end - start).as_seconds_f64();
        Some(PeakDemand {
            watts: sum.energy_watt_seconds() / length_seconds,
            start,
            end,
        })
    }

    /// Keeps the better of the best so far and a later candidate; the earliest wins a tie.
    pub(super) fn keep(&self, best: &mut Option<PeakDemand>, candidate: PeakDemand) {
        let better = match self.pick {
            Pick::Highest => best.is_none_or(|best| candidate.watts > best.watts),
            Pick::Lowest => best.is_none_or(|best| candidate.watts < best.watts),
        };
        if better {
            *best = Some(candidate);
        }
    }
}

/// Step 3's result: `None` where no whole interval fits.
pub(super) struct Peaks {
    pub(super) total: Option<PeakDemand>,
    pub(super) parts: Vec<Option<PeakDemand>>,
    pub(super) top: Vec<Option<PeakDemand>>,
    pub(super) buckets: Vec<Option<PeakDemand>>,
}

/// Step 4: the answer, from the totals, the ranking and the peaks.
pub(super) fn assemble(
    members: &[Member<'_>],
    parts: &[EntityRef],
    request: &UsageRequest,
    totals: Totals,
    top: Option<Vec<usize>>,
    [peaks, baseloads]: [Option<Peaks>; 2],
) -> Rollup {
    let window = &request.window;
    let mut part_totals = vec![UsageStats::EMPTY; parts.len()];
    let mut part_counts = vec![0usize; parts.len()];
    for (member, stats) in members.iter().zip(&totals.series) {
        if let Some(total) = part_totals.get_mut(member.part) {
            *total = total.merge(*stats);
            part_counts[member.part] += 1;
        }
    }
    let total: UsageStats = totals.series.iter().copied().sum();
    // The peak demand and the baseload of one usage object, read by `slot` from each pass.
    let extremes = |slot: &dyn Fn(&Peaks) -> Option<PeakDemand>| {
        let of = |found: &Option<Peaks>| match found.as_ref().map(slot) {
            None => Peak::NotAsked,
            Some(None) => Peak::NoWholeInterval,
            Some(Some(found)) => Peak::Found(found),
        };
        (of(&peaks), of(&baseloads))
    };
    let figures =
        |stats: UsageStats, length_nanos: i128, n_series: usize, (peak_demand, baseload)| Figures {
            usage: Usage::new(stats, length_nanos, n_series),
            peak_demand,
            baseload,
        };
    let group = |stats: UsageStats, circuit_count: usize, extremes| GroupUsage {
        circuit_count,
        figures: figures(stats, window.length_nanos(), circuit_count, extremes),
        average_watts_per_circuit: (circuit_count > 0)
            .then(|| stats.total().as_f64() / circuit_count as f64),
    };
    Rollup {
        window: *window,
        total: group(total, members.len(), extremes(&|found| found.total)),
        // Each part's figures are labelled with its id here, where the index that summed them
        // still means that part; past this point nothing relies on the order.
        parts: parts
            .iter()
            .zip(part_totals.iter().zip(&part_counts))
            .enumerate()
            .map(|(part, (&id, (stats, count)))| PartUsage {
                id,
                usage: group(*stats, *count, extremes(&|found| found.parts[part])),
            })
            .collect(),
        series: request
            .buckets
            .as_ref()
            .zip(totals.buckets)
            .map(|(buckets, per_bucket)| {
                buckets
                    .iter()
                    .zip(per_bucket)
                    .enumerate()
                    .map(|(index, (bucket, stats))| BucketUsage {
                        bucket: *bucket,
                        figures: figures(
                            stats,
                            bucket.length_nanos(),
                            members.len(),
                            extremes(&|found| found.buckets[index]),
                        ),
                    })
                    .collect()
            }),
        comparison: None,
        // Whether the window is past for these circuits comes from their extent, which the
        // caller reads beside the figures.
        settled: false,
        top_circuits: top.map(|ranked| {
            ranked
                .iter()
                .enumerate()
                .map(|(rank, &index)| {
                    let member = &members[index];
                    RankedCircuit {
                        circuit: member.circuit.clone(),
                        sensor: member.sensor.clone(),
                        location: member.location.clone(),
                        figures: figures(
                            totals.series[index],
                            window.length_nanos(),
                            1,
                            extremes(&|found| found.top[rank]),
                        ),
                    }
                })
                .collect()
        }),
    }
}

/// A block of the source's work: a range of series and a range of consecutive ranges (the
/// ranges between `edges[ranges.start]` and `edges[ranges.end]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Block {
    pub(super) series: std::ops::Range<usize>,
    pub(super) ranges: std::ops::Range<usize>,
}

impl Block {
    /// The edges that bound the block's ranges.
    pub(super) fn edges(&self) -> std::ops::Range<usize> {
        self.ranges.start..self.ranges.end + 1
    }
}

/// Splits `n_series` × the ranges between `n_edges` edges into blocks of at most
/// [`CELLS_PER_CALL`] cells, time-major: every series of one span of ranges before the next
/// span, so figures summed over series are complete when a span ends.
pub(super) struct Blocks;

impl Blocks {
    /// Every block, time-major; `accumulators` counts the extra figures kept per range.
    pub(super) fn all(
        n_series: usize,
        n_edges: usize,
        accumulators: usize,
    ) -> impl Iterator<Item = Block> {
        Blocks::time_blocks(n_series, n_edges, accumulators)
            .flat_map(move |ranges| Blocks::series_blocks(n_series, &ranges).collect::<Vec<_>>())
    }

    /// The spans of ranges, each small enough that one block of series over it, plus
    /// `accumulators` figures per range, stays within [`CELLS_PER_CALL`].
    pub(super) fn time_blocks(
        n_series: usize,
        n_edges: usize,
        accumulators: usize,
    ) -> impl Iterator<Item = std::ops::Range<usize>> {
        let n_ranges = n_edges.saturating_sub(1);
        let per_call = n_series.clamp(1, SERIES_PER_CALL).max(accumulators);
        let span = (CELLS_PER_CALL / per_call).max(1);
        (0..n_ranges)
            .step_by(span)
            .map(move |start| start..(start + span).min(n_ranges))
    }

    /// The blocks of series over one span of ranges.
    pub(super) fn series_blocks(
        n_series: usize,
        ranges: &std::ops::Range<usize>,
    ) -> impl Iterator<Item = Block> {
        let ranges = ranges.clone();
        (0..n_series)
            .step_by(SERIES_PER_CALL)
            .map(move |start| Block {
                series: start..(start + SERIES_PER_CALL).min(n_series),
                ranges: ranges.clone(),
            })
    }
}

/// Turns given to the executor between blocks of work: other requests on the same thread
/// run, and a cancelled request stops there instead of running to the end. Only between
/// blocks, never before the first: a request of one block (every light one) then finishes
/// in one poll, where a turn would cost another trip through the server's whole stack of
/// futures for nothing.
#[derive(Default)]
pub(super) struct Turns {
    pub(super) started: bool,
}

impl Turns {
    /// Before a block: a turn for the executor, unless it is the first block.
    pub(super) async fn before_block(&mut self) {
        if std::mem::replace(&mut self.started, true) {
            yield_now().await;
        }
    }
}

/// Gives the executor a turn. Runtime-agnostic, so the core needs no async runtime.
pub(super) fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |context| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            context.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}
