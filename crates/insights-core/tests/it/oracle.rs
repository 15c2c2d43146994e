//! Every figure of a usage answer against an oracle that computes it from the raw samples.
//!
//! The oracle knows nothing of the core's blocks, cursors or merges: for each group of
//! circuits, bucket and demand interval it scans the samples and sums them. Samples are small
//! integers, so sums tie often and the tie rules (earliest interval, then circuit id) are
//! exercised, and the whole `Rollup` is compared at once.

use std::collections::HashMap;

use futures_executor::block_on;
use insights_core::{
    Bucket, BucketUsage, BucketWidth, Catalogue, Circuit, Comparison, DemandInterval,
    ElectricSensor, EntityRef, Figures, GroupUsage, InMemoryMetadata, Insights, Location,
    MetadataRepo, PartUsage, Peak, PeakDemand, RankedCircuit, Rollup, Scope, SeriesKey, TotalWatts,
    Usage, UsageRequest, UsageStats, Window, Zone, BASELOAD_INTERVAL, DEFAULT_MAX_WINDOW,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::laws::{ScanSource, BASE};

/// One circuit of the entity asked about, and the part it is counted in.
struct Member {
    key: SeriesKey,
    part: usize,
    circuit: Circuit,
    sensor: ElectricSensor,
    location: Location,
}

/// Which entity to ask about: its usage call and its circuits grouped into parts.
#[derive(Clone, Copy, Debug)]
enum Entity {
    Brand,
    Organization(usize),
    Location(usize),
    Circuit(usize),
}

/// Seconds after `BASE`, the grid every fixed width and interval aligns to in UTC.
type Second = i64;

fn at(second: Second) -> OffsetDateTime {
    BASE + Duration::seconds(second)
}

/// The options of one request, in plain numbers.
#[derive(Clone, Debug)]
struct Options {
    start: Second,
    end: Second,
    bucket: Option<Second>,
    demand: Option<Second>,
    baseload: bool,
    top: Option<usize>,
}

struct Oracle<'a> {
    samples: &'a HashMap<SeriesKey, Vec<(Second, f64)>>,
    members: &'a [Member],
    /// The entity's parts; a member's `part` indexes them.
    parts: &'a [EntityRef],
}

/// The whole intervals of `length` on the grid inside `[start, end]`.
fn whole_intervals(start: Second, end: Second, length: Second) -> Vec<(Second, Second)> {
    let first = start.div_euclid(length) * length + if start % length == 0 { 0 } else { length };
    (0..)
        .map(|k| first + k * length)
        .take_while(|from| from + length <= end)
        .map(|from| (from, from + length))
        .collect()
}

impl Oracle<'_> {
    /// A member's nominal interval in seconds: its most common spacing over all its samples,
    /// the shorter on a tie, and 60 without any.
    fn interval(&self, member: &Member) -> Second {
        let mut seconds: Vec<Second> = self
            .samples
            .get(&member.key)
            .into_iter()
            .flatten()
            .map(|(second, _)| *second)
            .collect();
        seconds.sort_unstable();
        let mut best = (0, 60);
        for pair in seconds.windows(2) {
            let spacing = pair[1] - pair[0];
            let count = seconds
                .windows(2)
                .filter(|other| other[1] - other[0] == spacing)
                .count();
            if count > best.0 || (count == best.0 && spacing < best.1) {
                best = (count, spacing);
            }
        }
        best.1
    }

    /// One member's samples in `[from, to)`.
    fn watts(&self, member: &Member, from: Second, to: Second) -> Vec<f64> {
        self.samples
            .get(&member.key)
            .into_iter()
            .flatten()
            .filter(|(second, _)| from <= *second && *second < to)
            .map(|(_, watts)| *watts)
            .collect()
    }

    /// The samples of some members in `[from, to)`: each member's count, sum, min and max at
    /// its own interval, merged.
    fn stats(&self, members: &[&Member], from: Second, to: Second) -> UsageStats {
        members
            .iter()
            .map(|member| {
                let watts = self.watts(member, from, to);
                let total =
                    TotalWatts::from_parts(watts.iter().map(|watts| *watts as i128).sum(), 0);
                let min = watts.iter().copied().fold(f64::INFINITY, f64::min);
                let max = watts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                UsageStats::from_parts(
                    watts.len() as u64,
                    total,
                    min,
                    max,
                    Duration::seconds(self.interval(member)),
                )
            })
            .fold(UsageStats::EMPTY, UsageStats::merge)
    }

    /// The sum of watts x interval in `[from, to)` over some members, in watt-seconds, and the
    /// sum of samples x interval, in seconds.
    fn weighted(&self, members: &[&Member], from: Second, to: Second) -> (f64, f64) {
        let (mut energy, mut covered) = (0i128, 0i128);
        for member in members {
            let watts = self.watts(member, from, to);
            let interval = i128::from(self.interval(member));
            energy += watts.iter().map(|watts| *watts as i128).sum::<i128>() * interval;
            covered += watts.len() as i128 * interval;
        }
        (energy as f64, covered as f64)
    }

    fn usage(&self, members: &[&Member], from: Second, to: Second) -> Usage {
        let (energy, covered) = self.weighted(members, from, to);
        let coverage = if members.is_empty() {
            0.0
        } else {
            (covered / ((to - from) as f64 * members.len() as f64)).min(1.0)
        };
        Usage {
            stats: self.stats(members, from, to),
            energy_wh: energy / 3600.0,
            coverage,
        }
    }

    /// The highest (or, for the baseload, lowest among sampled) average power over the whole
    /// intervals inside `[from, to]`; the earliest wins a tie.
    fn extreme(
        &self,
        members: &[&Member],
        from: Second,
        to: Second,
        length: Option<Second>,
        lowest: bool,
    ) -> Peak {
        let Some(length) = length else {
            return Peak::NotAsked;
        };
        let mut best: Option<PeakDemand> = None;
        for (start, end) in whole_intervals(from, to, length) {
            if lowest && self.stats(members, start, end).n_samples() == 0 {
                continue;
            }
            let watts = self.weighted(members, start, end).0 / (end - start) as f64;
            let better = best.is_none_or(|best| {
                if lowest {
                    watts < best.watts
                } else {
                    watts > best.watts
                }
            });
            if better {
                best = Some(PeakDemand {
                    watts,
                    start: at(start),
                    end: at(end),
                });
            }
        }
        best.map_or(Peak::NoWholeInterval, Peak::Found)
    }

    fn figures(&self, members: &[&Member], from: Second, to: Second, options: &Options) -> Figures {
        Figures {
            usage: self.usage(members, from, to),
            peak_demand: self.extreme(members, from, to, options.demand, false),
            baseload: self.extreme(
                members,
                from,
                to,
                options.baseload.then_some(BASELOAD_INTERVAL.seconds()),
                true,
            ),
        }
    }

    fn group(&self, members: &[&Member], options: &Options) -> GroupUsage {
        let figures = self.figures(members, options.start, options.end, options);
        GroupUsage {
            circuit_count: members.len(),
            average_watts_per_circuit: (!members.is_empty())
                .then(|| figures.usage.stats.total().as_f64() / members.len() as f64),
            figures,
        }
    }

    /// The members by highest total in the window, then by circuit id.
    fn ranking(&self, options: &Options, count: usize) -> Vec<usize> {
        let totals: Vec<TotalWatts> = self
            .members
            .iter()
            .map(|member| self.stats(&[member], options.start, options.end).total())
            .collect();
        let mut ranked: Vec<usize> = (0..self.members.len()).collect();
        ranked.sort_by(|&a, &b| {
            totals[b]
                .cmp(&totals[a])
                .then(self.members[a].circuit.id.cmp(&self.members[b].circuit.id))
        });
        ranked.truncate(count);
        ranked
    }

    fn rollup(&self, options: &Options, ranking: Option<&[usize]>) -> Rollup {
        let all: Vec<&Member> = self.members.iter().collect();
        let series = options.bucket.map(|width| {
            let mut edges = vec![options.start];
            edges.extend(
                (options.start.div_euclid(width)..)
                    .map(|k| k * width)
                    .skip_while(|edge| *edge <= options.start)
                    .take_while(|edge| *edge < options.end),
            );
            edges.push(options.end);
            let last = edges.len() - 2;
            edges
                .windows(2)
                .enumerate()
                .map(|(index, pair)| BucketUsage {
                    bucket: Bucket {
                        start: at(pair[0]),
                        end: at(pair[1]),
                        partial: (index == 0 && options.start % width != 0)
                            || (index == last && options.end % width != 0),
                    },
                    figures: self.figures(&all, pair[0], pair[1], options),
                })
                .collect()
        });
        let own_ranking = options.top.map(|count| self.ranking(options, count));
        let top_circuits = ranking.or(own_ranking.as_deref()).map(|ranked| {
            ranked
                .iter()
                .map(|&index| {
                    let member = &self.members[index];
                    RankedCircuit {
                        circuit: member.circuit.clone(),
                        sensor: member.sensor.clone(),
                        location: member.location.clone(),
                        figures: self.figures(&[member], options.start, options.end, options),
                    }
                })
                .collect()
        });
        Rollup {
            window: Window::new(at(options.start), at(options.end), DEFAULT_MAX_WINDOW).unwrap(),
            total: self.group(&all, options),
            parts: self
                .parts
                .iter()
                .enumerate()
                .map(|(part, &id)| {
                    let members: Vec<&Member> = self
                        .members
                        .iter()
                        .filter(|member| member.part == part)
                        .collect();
                    PartUsage {
                        id,
                        usage: self.group(&members, options),
                    }
                })
                .collect(),
            series,
            top_circuits,
            comparison: None,
            settled: self.members.iter().any(|member| {
                self.samples
                    .get(&member.key)
                    .is_some_and(|samples| samples.iter().any(|(at, _)| *at >= options.end))
            }),
        }
    }
}

/// The entity's circuits in the tree's order, and its parts.
fn members(entity: Entity) -> (Vec<Member>, Vec<EntityRef>) {
    let metadata = InMemoryMetadata::seed();
    let catalogue = Catalogue::seed();
    let member = |location: &insights_core::LocationTree, part: &dyn Fn(usize) -> usize| {
        location
            .sensors
            .iter()
            .enumerate()
            .flat_map(|(index, sensor)| {
                let part = part(index);
                sensor.circuits.iter().map(move |circuit| Member {
                    key: SeriesKey {
                        duid: sensor.sensor.duid.clone(),
                        circuit_number: circuit.circuit_number,
                    },
                    part,
                    circuit: circuit.clone(),
                    sensor: sensor.sensor.clone(),
                    location: location.location.clone(),
                })
            })
            .collect::<Vec<_>>()
    };
    match entity {
        Entity::Brand => {
            let tree = block_on(metadata.brand(catalogue.brands[0].id))
                .unwrap()
                .unwrap();
            let members = tree
                .organizations
                .iter()
                .enumerate()
                .flat_map(|(index, node)| {
                    node.locations
                        .iter()
                        .flat_map(|location| member(location, &|_| index))
                        .collect::<Vec<_>>()
                })
                .collect();
            let parts = tree
                .organizations
                .iter()
                .map(|node| EntityRef::Organization(node.organization.id))
                .collect();
            (members, parts)
        }
        Entity::Organization(index) => {
            let tree = block_on(metadata.organization(catalogue.organizations[index].id))
                .unwrap()
                .unwrap();
            let members = tree
                .locations
                .iter()
                .enumerate()
                .flat_map(|(index, location)| member(location, &|_| index))
                .collect();
            let parts = tree
                .locations
                .iter()
                .map(|location| EntityRef::Location(location.location.id))
                .collect();
            (members, parts)
        }
        Entity::Location(index) => {
            let summary = block_on(metadata.location(catalogue.locations[index].id))
                .unwrap()
                .unwrap();
            let parts = summary
                .tree
                .sensors
                .iter()
                .map(|sensor| EntityRef::Sensor(sensor.sensor.id))
                .collect();
            (member(&summary.tree, &|index| index), parts)
        }
        Entity::Circuit(index) => {
            let context = block_on(metadata.circuit(catalogue.circuits[index].id))
                .unwrap()
                .unwrap();
            let member = Member {
                key: context.series_key(),
                part: 0,
                circuit: context.circuit.clone(),
                sensor: context.sensor.clone(),
                location: context.location.clone(),
            };
            (vec![member], Vec::new())
        }
    }
}

fn answer(
    insights: &Insights<InMemoryMetadata, ScanSource>,
    entity: Entity,
    request: &UsageRequest,
) -> Rollup {
    let catalogue = Catalogue::seed();
    let scope = Scope::All;
    block_on(async {
        match entity {
            Entity::Brand => insights
                .brand_usage(&scope, catalogue.brands[0].id, request)
                .await
                .map(|answer| answer.rollup),
            Entity::Organization(index) => insights
                .organization_usage(&scope, catalogue.organizations[index].id, request)
                .await
                .map(|answer| answer.rollup),
            Entity::Location(index) => insights
                .location_usage(&scope, catalogue.locations[index].id, request)
                .await
                .map(|answer| answer.rollup),
            Entity::Circuit(index) => insights
                .circuit_usage(&scope, catalogue.circuits[index].id, request)
                .await
                .map(|answer| answer.rollup),
        }
    })
    .unwrap()
}

/// Sparse samples of 0 to 3 W (and some -1 W) on whole seconds in the first two hours, few
/// enough per interval that sums and rankings tie often.
fn samples() -> impl Strategy<Value = HashMap<SeriesKey, Vec<(Second, f64)>>> {
    let keys = block_on(InMemoryMetadata::seed().circuit_series()).unwrap();
    let second = prop_oneof![0i64..7200, (0i64..120).prop_map(|minute| minute * 60)];
    prop::collection::vec((0..keys.len(), second, -1i64..4), 0..200).prop_map(move |samples| {
        let mut series: HashMap<SeriesKey, Vec<(Second, f64)>> = HashMap::new();
        for (circuit, second, watts) in samples {
            let entry = series.entry(keys[circuit].clone()).or_default();
            if !entry.iter().any(|(existing, _)| *existing == second) {
                entry.push((second, watts as f64));
            }
        }
        series
    })
}

fn entity() -> impl Strategy<Value = Entity> {
    prop_oneof![
        Just(Entity::Brand),
        (0usize..3).prop_map(Entity::Organization),
        (0usize..6).prop_map(Entity::Location),
        (0usize..36).prop_map(Entity::Circuit),
    ]
}

fn options() -> impl Strategy<Value = (Options, bool)> {
    let seconds = [60i64, 300, 900, 1800, 3600];
    let start = prop_oneof![-900i64..7200, (-4i64..16).prop_map(|k| k * 450)];
    let length = prop_oneof![1i64..9000, (1i64..20).prop_map(|k| k * 450)];
    (
        start,
        length,
        prop::option::of(prop::sample::select(seconds.to_vec())),
        prop::option::of(prop::sample::select(seconds[1..].to_vec())),
        any::<bool>(),
        prop::option::of(1usize..8),
        any::<bool>(),
    )
        .prop_map(|(start, length, bucket, demand, baseload, top, compare)| {
            let options = Options {
                start,
                end: start + length,
                bucket,
                demand,
                baseload,
                top,
            };
            (options, compare)
        })
}

fn request(options: &Options, compare: bool, utc_named: bool) -> UsageRequest {
    let window = Window::new(at(options.start), at(options.end), DEFAULT_MAX_WINDOW).unwrap();
    let name = |seconds: Second| match seconds {
        60 => "1m",
        300 => "5m",
        900 => "15m",
        1800 => "30m",
        _ => "1h",
    };
    let mut builder = UsageRequest::builder(window);
    if let Some(width) = options.bucket {
        builder = builder.bucket(BucketWidth::parse(name(width)).unwrap());
        if utc_named {
            builder = builder.zone(Zone::named("Etc/UTC").unwrap());
        }
    }
    if let Some(length) = options.demand {
        builder = builder.demand_interval(DemandInterval::parse(name(length)).unwrap());
    }
    if options.baseload {
        builder = builder.baseload();
    }
    if let Some(count) = options.top {
        builder = builder.top(count);
    }
    if compare {
        builder = builder.compare(Comparison::Previous);
    }
    builder.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_figure_equals_the_oracles(
        samples in samples(),
        entity in entity(),
        (options, compare) in options(),
        utc_named in any::<bool>(),
    ) {
        let (members, parts) = members(entity);
        let oracle = Oracle { samples: &samples, members: &members, parts: &parts };
        let mut expected = oracle.rollup(&options, None);
        if compare {
            let length = options.end - options.start;
            let previous = Options { start: options.start - length, end: options.start, ..options.clone() };
            let ranking = options.top.map(|count| oracle.ranking(&options, count));
            let other = oracle.rollup(&previous, ranking.as_deref());
            expected.comparison = Some((Comparison::Previous, Box::new(other)));
        }
        let insights = Insights::new(InMemoryMetadata::seed(), ScanSource(samples.clone()));
        let actual = answer(&insights, entity, &request(&options, compare, utc_named));
        prop_assert_eq!(actual, expected, "{:?} {:?}", entity, options);
    }
}

#[test]
fn whole_intervals_lie_on_the_grid_inside_the_span() {
    fn check(span: (Second, Second), length: Second, expected: &[(Second, Second)]) {
        assert_eq!(
            whole_intervals(span.0, span.1, length),
            expected,
            "{span:?} by {length}"
        );
    }
    check((0, 900), 300, &[(0, 300), (300, 600), (600, 900)]);
    check((1, 900), 300, &[(300, 600), (600, 900)]);
    check((-301, 299), 300, &[(-300, 0)]);
    check((10, 20), 300, &[]);
}

#[test]
fn a_part_without_circuits_has_no_average() {
    // The seed's brand plus an organization with one empty location and one with a circuit.
    let extra = "\
organization\t77777777-7777-7777-7777-777777777777\t11111111-1111-1111-1111-111111111111\tSouth Franchise\t\t
location\t88888888-8888-8888-8888-888888888888\t77777777-7777-7777-7777-777777777777\tA-Empty\t\t
location\t99999999-9999-9999-9999-999999999999\t77777777-7777-7777-7777-777777777777\tB-Site\t\t
electric_sensor\taaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\t99999999-9999-9999-9999-999999999999\tPanel\tBBBBBBBBBBBBBBBB\t
circuit\tbbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb\taaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa\tMain\t\t1
";
    let catalogue = Catalogue::parse_tsv(&format!("{}{extra}", insights_core::SEED_TSV)).unwrap();
    let key = SeriesKey {
        duid: insights_core::Duid("BBBBBBBBBBBBBBBB".to_owned()),
        circuit_number: 1,
    };
    let samples = HashMap::from([(key, vec![(0, 3.0), (60, 5.0)])]);
    let insights = Insights::new(InMemoryMetadata::new(&catalogue), ScanSource(samples));
    let window = Window::new(at(0), at(120), DEFAULT_MAX_WINDOW).unwrap();
    let organization = "77777777-7777-7777-7777-777777777777".parse().unwrap();
    let answer = block_on(insights.organization_usage(
        &Scope::All,
        organization,
        &UsageRequest::window(window),
    ))
    .unwrap();
    let averages: Vec<(usize, Option<f64>)> = answer
        .rollup
        .parts
        .iter()
        .map(|part| {
            (
                part.usage.circuit_count,
                part.usage.average_watts_per_circuit,
            )
        })
        .collect();
    assert_eq!(averages, [(0, None), (1, Some(8.0))]);
    assert_eq!(answer.rollup.total.average_watts_per_circuit, Some(8.0));
}
