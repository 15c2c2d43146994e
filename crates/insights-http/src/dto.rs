//! Response bodies: the contract's JSON shapes, built from the core's types.
//!
//! Every field is always present, with `null` for an absent value, except the ones a query
//! parameter adds (`params::USAGE_PARAMS`: `series`, `top_circuits`, `peak_demand`,
//! `baseload_watts`, `comparison`), which appear only when asked for.
//!
//! A roll-up's pieces are matched by identity, never by position: each part named by the
//! tree is found among the roll-up's parts by its id, and each part and top circuit finds
//! its counterpart in the comparison by the same id. An id that is missing, doubled or left
//! over is an [`UnmatchedId`], an internal error, rather than a silently shortened list.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use insights_core::{
    format_utc, Brand, BrandTree, BrandUsage, Circuit, CircuitId, CircuitUsage, Comparison,
    DataRange, ElectricSensor, EntityRef, Figures, GroupUsage, Location, LocationSummary,
    LocationTree, LocationUsage, Organization, OrganizationUsage, PartUsage, Peak, RankedCircuit,
    Rollup, SensorDetail, SensorWithCircuits, TotalWatts, VisibleBrand, Window,
};
use paperclip::actix::Apiv2Schema;
use paperclip::v2::models::{DataType, DataTypeFormat, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema as Apiv2SchemaTrait;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

/// The largest magnitude below which every integer is exactly an `f64`.
const EXACT_F64_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A power in watts. Whole values are written as JSON integers, others as decimals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watts(pub f64);

impl Serialize for Watts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < EXACT_F64_INTEGER {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl Apiv2SchemaTrait for Watts {
    fn raw_schema() -> DefaultSchemaRaw {
        DefaultSchemaRaw {
            data_type: Some(DataType::Number),
            description: Some("Watts; an integer when it is a whole number.".to_owned()),
            ..Default::default()
        }
    }
}

/// The sum of samples in watts: exact to the microwatt, and an integer when it is whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Total(pub TotalWatts);

impl Serialize for Total {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_integer() {
            Some(integer) => match i64::try_from(integer) {
                Ok(integer) => serializer.serialize_i64(integer),
                Err(_) => serializer.serialize_i128(integer),
            },
            None => Watts(self.0.as_f64()).serialize(serializer),
        }
    }
}

impl Apiv2SchemaTrait for Total {
    fn raw_schema() -> DefaultSchemaRaw {
        DefaultSchemaRaw {
            data_type: Some(DataType::Number),
            description: Some(
                "Sum of the samples in watts; exact to the microwatt (each sample's fraction rounded to the microwatt), and an integer when the sum is whole."
                    .to_owned(),
            ),
            ..Default::default()
        }
    }
}

/// An instant, written as RFC 3339 in UTC with `Z` at full precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timestamp(pub OffsetDateTime);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_utc(self.0))
    }
}

impl Apiv2SchemaTrait for Timestamp {
    fn raw_schema() -> DefaultSchemaRaw {
        DefaultSchemaRaw {
            data_type: Some(DataType::String),
            format: Some(DataTypeFormat::DateTime),
            description: Some("RFC 3339 in UTC with `Z`, to the nanosecond.".to_owned()),
            ..Default::default()
        }
    }
}

/// An entity's id and name.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct NamedRef {
    /// Its id.
    pub id: Uuid,
    /// Its display name.
    pub name: String,
}

/// An electric sensor's id, device id and name.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct SensorRef {
    /// Its id.
    pub id: Uuid,
    /// The device id its samples carry.
    pub duid: String,
    /// Its display name.
    pub name: String,
}

impl From<&Location> for NamedRef {
    fn from(location: &Location) -> Self {
        NamedRef {
            id: location.id.0,
            name: location.name.clone(),
        }
    }
}

impl From<&Brand> for NamedRef {
    fn from(brand: &Brand) -> Self {
        NamedRef {
            id: brand.id.0,
            name: brand.name.clone(),
        }
    }
}

impl From<&Organization> for NamedRef {
    fn from(organization: &Organization) -> Self {
        NamedRef {
            id: organization.id.0,
            name: organization.name.clone(),
        }
    }
}

impl From<&ElectricSensor> for SensorRef {
    fn from(sensor: &ElectricSensor) -> Self {
        SensorRef {
            id: sensor.id.0,
            duid: sensor.duid.0.clone(),
            name: sensor.name.clone(),
        }
    }
}

/// The window as the server understood it: `[start, end)` in UTC.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct WindowBody {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl From<&Window> for WindowBody {
    fn from(window: &Window) -> Self {
        WindowBody {
            start: Timestamp(window.start()),
            end: Timestamp(window.end()),
        }
    }
}

/// The interval of highest average power among the whole demand intervals.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct PeakDemandBody {
    /// Energy in the interval divided by its length, summed over circuits.
    pub watts: Watts,
    /// The interval's start.
    pub start: Timestamp,
    /// The interval's end.
    pub end: Timestamp,
}

/// Usage over a window. `average_watts`, `min_watts` and `max_watts` are null without samples.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct UsageBody {
    /// Sum of the samples in watts.
    pub total_watts: Total,
    /// How many samples fell in the window.
    pub sample_count: u64,
    /// `total_watts / sample_count`.
    pub average_watts: Option<Watts>,
    /// The smallest sample.
    pub min_watts: Option<Watts>,
    /// The largest sample.
    pub max_watts: Option<Watts>,
    /// Each circuit's `total_watts * interval_s / 3600`, summed: each sample stands for its
    /// circuit's own nominal interval, the most common spacing between its samples.
    pub energy_wh: f64,
    /// Each circuit's `sample_count * interval_s`, summed, over `window_s * circuits`,
    /// clamped to [0, 1].
    pub coverage: f64,
    /// Only with `demand_interval`: the peak, or null when no whole interval fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_demand: Option<Option<PeakDemandBody>>,
    /// Only with `baseload=true`: the lowest average power over a whole 15-minute interval
    /// with samples, summed over circuits; null when no such interval fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseload_watts: Option<Option<Watts>>,
    /// Only with `compare`: the same figures over the comparison window, or null where it
    /// has no counterpart (a bucket beyond the other window's last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Option<ComparisonBody>>,
}

/// The figures of the comparison window's counterpart, and the change from them.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct ComparisonBody {
    /// `previous` or `year`.
    pub compare: &'static str,
    /// The counterpart's span: the other window, or its bucket in the same place.
    pub window: WindowBody,
    /// Sum of the counterpart's samples in watts.
    pub total_watts: Total,
    /// How many samples fell in the counterpart.
    pub sample_count: u64,
    /// The counterpart's `total_watts / sample_count`; null without samples.
    pub average_watts: Option<Watts>,
    /// The counterpart's energy.
    pub energy_wh: f64,
    /// The counterpart's coverage.
    pub coverage: f64,
    /// This span's `energy_wh` minus the counterpart's.
    pub energy_wh_change: f64,
    /// This span's `energy_wh` divided by the counterpart's; null when the counterpart's is 0.
    pub energy_wh_ratio: Option<f64>,
}

/// The list of a roll-up an id is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Among {
    /// The roll-up's parts, looked up by the ids of the tree's nodes.
    Parts,
    /// The comparison's parts, looked up by the roll-up's part ids.
    ComparedParts,
    /// The comparison's top circuits, looked up by the roll-up's top circuit ids.
    ComparedTopCircuits,
}

impl fmt::Display for Among {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Among::Parts => "the roll-up's parts",
            Among::ComparedParts => "the comparison's parts",
            Among::ComparedTopCircuits => "the comparison's top circuits",
        })
    }
}

/// A roll-up whose pieces do not match by id: the service's fault, never the request's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmatchedId {
    /// The list has no entry for an id that must be there.
    Missing(Among, EntityRef),
    /// The list has an entry twice, or one that nothing looked up.
    Unexpected(Among, EntityRef),
}

impl fmt::Display for UnmatchedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnmatchedId::Missing(among, id) => write!(f, "{among} have no entry for {id}"),
            UnmatchedId::Unexpected(among, id) => {
                write!(f, "{among} have an unexpected or repeated entry for {id}")
            }
        }
    }
}

impl std::error::Error for UnmatchedId {}

/// The entries of one list by id, each to be taken exactly once.
struct ById<'a, K, V> {
    among: Among,
    entries: HashMap<K, &'a V>,
}

impl<'a, K: Copy + Eq + Hash + Into<EntityRef>, V> ById<'a, K, V> {
    /// Indexes `entries` by `id`; an id met twice is unexpected.
    fn new(
        among: Among,
        entries: impl IntoIterator<Item = &'a V>,
        id: impl Fn(&V) -> K,
    ) -> Result<Self, UnmatchedId> {
        let mut by_id = HashMap::new();
        for entry in entries {
            let key = id(entry);
            if by_id.insert(key, entry).is_some() {
                return Err(UnmatchedId::Unexpected(among, key.into()));
            }
        }
        Ok(ById {
            among,
            entries: by_id,
        })
    }

    /// The entry of `id`, which must be there and not taken yet.
    fn take(&mut self, id: K) -> Result<&'a V, UnmatchedId> {
        self.entries
            .remove(&id)
            .ok_or(UnmatchedId::Missing(self.among, id.into()))
    }

    /// Checks that every entry was taken: one left over belongs to nothing the answer names.
    fn finish(self) -> Result<(), UnmatchedId> {
        match self.entries.into_keys().next() {
            Some(left_over) => Err(UnmatchedId::Unexpected(self.among, left_over.into())),
            None => Ok(()),
        }
    }
}

/// The counterpart of one usage object in the comparison window.
#[derive(Clone, Copy)]
enum Paired<'a> {
    /// No comparison was asked for.
    NotAsked,
    /// One was, and this object has no counterpart.
    Missing,
    /// The counterpart's figures and span.
    Found(Comparison, &'a Figures, OffsetDateTime, OffsetDateTime),
}

/// The comparison's entries of one list by id, and the window they were summed over.
struct Counterparts<'a, K, V> {
    kind: Comparison,
    window: &'a Window,
    entries: ById<'a, K, V>,
}

impl<'a, K: Copy + Eq + Hash + Into<EntityRef>, V> Counterparts<'a, K, V> {
    /// The counterpart of `id`, whose figures `figures` reads, when a comparison was asked
    /// for; with one, every part and top circuit has a counterpart, so a missing one is an
    /// error.
    fn paired(
        counterparts: &mut Option<Self>,
        id: K,
        figures: impl FnOnce(&'a V) -> &'a Figures,
    ) -> Result<Paired<'a>, UnmatchedId> {
        Ok(match counterparts {
            None => Paired::NotAsked,
            Some(counterparts) => Paired::Found(
                counterparts.kind,
                figures(counterparts.entries.take(id)?),
                counterparts.window.start(),
                counterparts.window.end(),
            ),
        })
    }

    /// Checks that every counterpart belongs to something the answer names.
    fn finish(self) -> Result<(), UnmatchedId> {
        self.entries.finish()
    }
}

/// A roll-up's usage objects, each with its counterpart in the comparison when one was asked
/// for: the whole with the other whole, a part or top circuit with the entry of the same id,
/// and a bucket with the bucket at the same index (a bucket's identity within its window).
struct Compared<'a> {
    rollup: &'a Rollup,
    other: Option<(Comparison, &'a Rollup)>,
}

impl<'a> Compared<'a> {
    fn new(rollup: &'a Rollup) -> Compared<'a> {
        Compared {
            rollup,
            other: rollup
                .comparison
                .as_ref()
                .map(|(kind, other)| (*kind, other.as_ref())),
        }
    }

    /// The usage of all the circuits.
    fn total(&self) -> UsageBody {
        let paired = match self.other {
            None => Paired::NotAsked,
            Some((kind, other)) => Paired::Found(
                kind,
                &other.total.figures,
                other.window.start(),
                other.window.end(),
            ),
        };
        UsageBody::compared(&self.rollup.total.figures, paired)
    }

    /// The entries of one of the comparison's lists by id, when a comparison was asked for.
    fn counterparts<K: Copy + Eq + Hash + Into<EntityRef>, V: 'a>(
        &self,
        among: Among,
        list: impl FnOnce(&'a Rollup) -> &'a [V],
        id: impl Fn(&V) -> K,
    ) -> Result<Option<Counterparts<'a, K, V>>, UnmatchedId> {
        self.other
            .map(|(kind, other)| {
                Ok(Counterparts {
                    kind,
                    window: &other.window,
                    entries: ById::new(among, list(other), id)?,
                })
            })
            .transpose()
    }

    /// The body of each part the tree names, in the tree's order: `named` gives each part's
    /// id and what names it, and `body` makes the part's body from that, its figures and its
    /// usage object.
    fn parts<N, B>(
        &self,
        named: impl IntoIterator<Item = (EntityRef, N)>,
        body: impl Fn(N, &GroupUsage, UsageBody) -> B,
    ) -> Result<Vec<B>, UnmatchedId> {
        let part_id = |part: &PartUsage| part.id;
        let mut own = ById::new(Among::Parts, &self.rollup.parts, part_id)?;
        let mut others = self.counterparts(Among::ComparedParts, |other| &other.parts, part_id)?;
        let bodies = named
            .into_iter()
            .map(|(id, names)| {
                let part = own.take(id)?;
                let paired = Counterparts::paired(&mut others, id, |other| &other.usage.figures)?;
                let usage = UsageBody::compared(&part.usage.figures, paired);
                Ok(body(names, &part.usage, usage))
            })
            .collect::<Result<Vec<B>, UnmatchedId>>()?;
        own.finish()?;
        others.map_or(Ok(()), Counterparts::finish)?;
        Ok(bodies)
    }

    /// Each bucket, compared with the bucket at the same index in the other window, if that
    /// window has one there.
    fn series(&self) -> Option<Vec<BucketBody>> {
        let others = self
            .other
            .map(|(kind, other)| (kind, other.series.as_deref()));
        self.rollup.series.as_ref().map(|buckets| {
            buckets
                .iter()
                .enumerate()
                .map(|(index, bucket)| {
                    let paired = match others {
                        None => Paired::NotAsked,
                        Some((kind, others)) => match others.and_then(|all| all.get(index)) {
                            None => Paired::Missing,
                            Some(other) => Paired::Found(
                                kind,
                                &other.figures,
                                other.bucket.start,
                                other.bucket.end,
                            ),
                        },
                    };
                    BucketBody {
                        start: Timestamp(bucket.bucket.start),
                        end: Timestamp(bucket.bucket.end),
                        partial: bucket.bucket.partial,
                        usage: UsageBody::compared(&bucket.figures, paired),
                    }
                })
                .collect()
        })
    }

    /// The top circuits in their ranking's order, each compared with the same circuit's entry.
    fn top_circuits(&self) -> Result<Option<Vec<TopCircuitBody>>, UnmatchedId> {
        let Some(ranked) = &self.rollup.top_circuits else {
            return Ok(None);
        };
        let circuit_id = |entry: &RankedCircuit| -> CircuitId { entry.circuit.id };
        let mut others = self.counterparts(
            Among::ComparedTopCircuits,
            |other| other.top_circuits.as_deref().unwrap_or_default(),
            circuit_id,
        )?;
        let bodies = ranked
            .iter()
            .map(|entry| {
                let paired =
                    Counterparts::paired(&mut others, entry.circuit.id, |other| &other.figures)?;
                Ok(TopCircuitBody {
                    circuit: RankedCircuitRef {
                        id: entry.circuit.id.0,
                        name: entry.circuit.name.clone(),
                        circuit_number: entry.circuit.circuit_number,
                        sensor: SensorRef::from(&entry.sensor),
                        location: NamedRef::from(&entry.location),
                    },
                    usage: UsageBody::compared(&entry.figures, paired),
                })
            })
            .collect::<Result<Vec<_>, UnmatchedId>>()?;
        others.map_or(Ok(()), Counterparts::finish)?;
        Ok(Some(bodies))
    }
}

impl UsageBody {
    /// The usage object of `figures`, with its comparison when one was asked for.
    fn compared(figures: &Figures, paired: Paired<'_>) -> UsageBody {
        let mut body = UsageBody::from(figures);
        body.comparison = match paired {
            Paired::NotAsked => None,
            Paired::Missing => Some(None),
            Paired::Found(kind, other, start, end) => {
                let usage = &other.usage;
                let change = figures.usage.energy_change_from(usage);
                Some(Some(ComparisonBody {
                    compare: kind.name(),
                    window: WindowBody {
                        start: Timestamp(start),
                        end: Timestamp(end),
                    },
                    total_watts: Total(usage.stats.total()),
                    sample_count: usage.stats.n_samples(),
                    average_watts: usage.stats.average().map(Watts),
                    energy_wh: usage.energy_wh,
                    coverage: usage.coverage,
                    energy_wh_change: change.difference_wh,
                    energy_wh_ratio: change.ratio,
                }))
            }
        };
        body
    }
}

impl From<&Figures> for UsageBody {
    fn from(figures: &Figures) -> Self {
        let usage = &figures.usage;
        let stats = &usage.stats;
        UsageBody {
            total_watts: Total(stats.total()),
            sample_count: stats.n_samples(),
            average_watts: stats.average().map(Watts),
            min_watts: stats.min().map(Watts),
            max_watts: stats.max().map(Watts),
            energy_wh: usage.energy_wh,
            coverage: usage.coverage,
            // Absent when not asked for, null when no whole interval fits.
            peak_demand: match figures.peak_demand {
                Peak::NotAsked => None,
                Peak::NoWholeInterval => Some(None),
                Peak::Found(peak) => Some(Some(PeakDemandBody {
                    watts: Watts(peak.watts),
                    start: Timestamp(peak.start),
                    end: Timestamp(peak.end),
                })),
            },
            baseload_watts: match figures.baseload {
                Peak::NotAsked => None,
                Peak::NoWholeInterval => Some(None),
                Peak::Found(lowest) => Some(Some(Watts(lowest.watts))),
            },
            comparison: None,
        }
    }
}

/// One bucket of the window, clipped to it.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct BucketBody {
    /// The bucket's start, or the window's if later.
    pub start: Timestamp,
    /// The bucket's end, or the window's if earlier.
    pub end: Timestamp,
    /// Whether the window clipped either edge.
    pub partial: bool,
    /// The usage in the bucket; coverage uses the clipped length.
    pub usage: UsageBody,
}

/// A circuit among the top users.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct RankedCircuitRef {
    /// The circuit's id.
    pub id: Uuid,
    /// The circuit's name.
    pub name: String,
    /// Its number on the sensor.
    pub circuit_number: u32,
    /// The sensor that measures it.
    pub sensor: SensorRef,
    /// The sensor's location.
    pub location: NamedRef,
}

/// A circuit among the top users, with its usage.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct TopCircuitBody {
    /// The circuit.
    pub circuit: RankedCircuitRef,
    /// Its usage.
    pub usage: UsageBody,
}

/// The circuit a usage answer is about, with everything above it.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CircuitDetail {
    /// The circuit's id.
    pub id: Uuid,
    /// The circuit's name.
    pub name: String,
    /// Its number on the sensor.
    pub circuit_number: u32,
    /// The sensor that measures it.
    pub sensor: SensorRef,
    /// The sensor's location.
    pub location: NamedRef,
    /// The location's organization.
    pub organization: NamedRef,
}

/// A circuit's usage over a window.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CircuitUsageBody {
    /// The circuit.
    pub circuit: CircuitDetail,
    /// The window.
    pub window: WindowBody,
    /// Its usage.
    pub usage: UsageBody,
    /// Only with `bucket`: the usage of each bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<BucketBody>>,
}

impl TryFrom<&CircuitUsage> for CircuitUsageBody {
    type Error = UnmatchedId;

    fn try_from(answer: &CircuitUsage) -> Result<Self, UnmatchedId> {
        let context = &answer.entity;
        // A circuit's roll-up has no parts and no top circuits: nothing to match by id.
        let compared = Compared::new(&answer.rollup);
        Ok(CircuitUsageBody {
            circuit: CircuitDetail {
                id: context.circuit.id.0,
                name: context.circuit.name.clone(),
                circuit_number: context.circuit.circuit_number,
                sensor: SensorRef::from(&context.sensor),
                location: NamedRef::from(&context.location),
                organization: NamedRef::from(&context.organization),
            },
            window: WindowBody::from(&answer.rollup.window),
            usage: compared.total(),
            series: compared.series(),
        })
    }
}

/// An organization with its brand.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct OrganizationRef {
    /// The organization's id.
    pub id: Uuid,
    /// The organization's name.
    pub name: String,
    /// The brand it belongs to.
    pub brand: NamedRef,
}

/// One part's share of a roll-up: a location of an organization, or an organization of a brand.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct PartUsageBody {
    /// The part's id.
    pub id: Uuid,
    /// The part's name.
    pub name: String,
    /// How many circuits it has.
    pub circuit_count: usize,
    /// Their usage.
    pub usage: UsageBody,
    /// `usage.total_watts / circuit_count`; null without circuits.
    pub average_watts_per_circuit: Option<Watts>,
}

impl PartUsageBody {
    /// The body of the part `named`, from its figures and its usage object.
    fn new(named: NamedRef, group: &GroupUsage, usage: UsageBody) -> PartUsageBody {
        PartUsageBody {
            id: named.id,
            name: named.name,
            circuit_count: group.circuit_count,
            usage,
            average_watts_per_circuit: group.average_watts_per_circuit.map(Watts),
        }
    }
}

/// An organization's usage over a window, by location.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct OrganizationUsageBody {
    /// The organization.
    pub organization: OrganizationRef,
    /// The window.
    pub window: WindowBody,
    /// How many circuits the organization has.
    pub circuit_count: usize,
    /// How many locations it has, including those without circuits.
    pub location_count: usize,
    /// The usage of all its circuits.
    pub usage: UsageBody,
    /// `usage.total_watts / circuit_count`; null without circuits.
    pub average_watts_per_circuit: Option<Watts>,
    /// Each location's usage, by name then id.
    pub locations: Vec<PartUsageBody>,
    /// Only with `bucket`: the usage of each bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<BucketBody>>,
    /// Only with `top`: the circuits with the highest totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_circuits: Option<Vec<TopCircuitBody>>,
}

impl TryFrom<&OrganizationUsage> for OrganizationUsageBody {
    type Error = UnmatchedId;

    fn try_from(answer: &OrganizationUsage) -> Result<Self, UnmatchedId> {
        let (tree, rollup) = (&answer.entity, &answer.rollup);
        let compared = Compared::new(rollup);
        Ok(OrganizationUsageBody {
            organization: OrganizationRef {
                id: tree.organization.id.0,
                name: tree.organization.name.clone(),
                brand: NamedRef::from(&tree.brand),
            },
            window: WindowBody::from(&rollup.window),
            circuit_count: rollup.total.circuit_count,
            location_count: tree.locations.len(),
            usage: compared.total(),
            average_watts_per_circuit: rollup.total.average_watts_per_circuit.map(Watts),
            locations: compared.parts(
                tree.locations.iter().map(|location| {
                    let location = &location.location;
                    (EntityRef::Location(location.id), location)
                }),
                |location, group, usage| PartUsageBody::new(NamedRef::from(location), group, usage),
            )?,
            series: compared.series(),
            top_circuits: compared.top_circuits()?,
        })
    }
}

/// One sensor's share of a location's usage.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct SensorUsageBody {
    /// The sensor's id.
    pub id: Uuid,
    /// Its device id.
    pub duid: String,
    /// Its name.
    pub name: String,
    /// The usage of its circuits.
    pub usage: UsageBody,
}

/// A location's usage over a window, by sensor.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct LocationUsageBody {
    /// The location.
    pub location: NamedRef,
    /// Its organization.
    pub organization: NamedRef,
    /// The window.
    pub window: WindowBody,
    /// How many circuits the location has.
    pub circuit_count: usize,
    /// The usage of all its circuits.
    pub usage: UsageBody,
    /// `usage.total_watts / circuit_count`; null without circuits.
    pub average_watts_per_circuit: Option<Watts>,
    /// Each sensor's usage, by name then id.
    pub sensors: Vec<SensorUsageBody>,
    /// Only with `bucket`: the usage of each bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<BucketBody>>,
    /// Only with `top`: the circuits with the highest totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_circuits: Option<Vec<TopCircuitBody>>,
}

impl TryFrom<&LocationUsage> for LocationUsageBody {
    type Error = UnmatchedId;

    fn try_from(answer: &LocationUsage) -> Result<Self, UnmatchedId> {
        let (summary, rollup) = (&answer.entity, &answer.rollup);
        let compared = Compared::new(rollup);
        Ok(LocationUsageBody {
            location: NamedRef::from(&summary.tree.location),
            organization: NamedRef::from(&summary.organization),
            window: WindowBody::from(&rollup.window),
            circuit_count: rollup.total.circuit_count,
            usage: compared.total(),
            average_watts_per_circuit: rollup.total.average_watts_per_circuit.map(Watts),
            sensors: compared.parts(
                summary.tree.sensors.iter().map(|sensor| {
                    let sensor = &sensor.sensor;
                    (EntityRef::Sensor(sensor.id), sensor)
                }),
                |sensor, _, usage| SensorUsageBody {
                    id: sensor.id.0,
                    duid: sensor.duid.0.clone(),
                    name: sensor.name.clone(),
                    usage,
                },
            )?,
            series: compared.series(),
            top_circuits: compared.top_circuits()?,
        })
    }
}

/// A brand's usage over a window, by organization.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct BrandUsageBody {
    /// The brand.
    pub brand: NamedRef,
    /// The window.
    pub window: WindowBody,
    /// How many circuits the brand has.
    pub circuit_count: usize,
    /// How many locations its organizations have.
    pub location_count: usize,
    /// How many organizations it has.
    pub organization_count: usize,
    /// The usage of all its circuits.
    pub usage: UsageBody,
    /// `usage.total_watts / circuit_count`; null without circuits.
    pub average_watts_per_circuit: Option<Watts>,
    /// Each organization's usage, by name then id.
    pub organizations: Vec<PartUsageBody>,
    /// Only with `bucket`: the usage of each bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<BucketBody>>,
    /// Only with `top`: the circuits with the highest totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_circuits: Option<Vec<TopCircuitBody>>,
}

impl TryFrom<&BrandUsage> for BrandUsageBody {
    type Error = UnmatchedId;

    fn try_from(answer: &BrandUsage) -> Result<Self, UnmatchedId> {
        let (tree, rollup) = (&answer.entity, &answer.rollup);
        let compared = Compared::new(rollup);
        Ok(BrandUsageBody {
            brand: NamedRef::from(&tree.brand),
            window: WindowBody::from(&rollup.window),
            circuit_count: rollup.total.circuit_count,
            location_count: tree
                .organizations
                .iter()
                .map(|node| node.locations.len())
                .sum(),
            organization_count: tree.organizations.len(),
            usage: compared.total(),
            average_watts_per_circuit: rollup.total.average_watts_per_circuit.map(Watts),
            organizations: compared.parts(
                tree.organizations.iter().map(|node| {
                    let organization = &node.organization;
                    (EntityRef::Organization(organization.id), organization)
                }),
                |organization, group, usage| {
                    PartUsageBody::new(NamedRef::from(organization), group, usage)
                },
            )?,
            series: compared.series(),
            top_circuits: compared.top_circuits()?,
        })
    }
}

/// A circuit as the monolith lists it.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CircuitRef {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its number on the sensor.
    pub circuit_number: u32,
}

impl From<&Circuit> for CircuitRef {
    fn from(circuit: &Circuit) -> Self {
        CircuitRef {
            id: circuit.id.0,
            name: circuit.name.clone(),
            circuit_number: circuit.circuit_number,
        }
    }
}

/// A location with its organization's id.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct SensorLocation {
    /// The location's id.
    pub id: Uuid,
    /// The location's name.
    pub name: String,
    /// The id of the organization that owns it.
    pub organization_id: Uuid,
}

/// An electric sensor with its location and circuits (monolith-compatible).
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct ElectricSensorBody {
    /// Its id.
    pub id: Uuid,
    /// Its device id.
    pub duid: String,
    /// Its name.
    pub name: String,
    /// Where it is installed.
    pub location: SensorLocation,
    /// Its circuits, by circuit number.
    pub circuits: Vec<CircuitRef>,
}

impl From<&SensorDetail> for ElectricSensorBody {
    fn from(detail: &SensorDetail) -> Self {
        let tree = SensorCircuits::from(&detail.sensor);
        ElectricSensorBody {
            id: tree.id,
            duid: tree.duid,
            name: tree.name,
            location: SensorLocation {
                id: detail.location.id.0,
                name: detail.location.name.clone(),
                organization_id: detail.location.organization_id.0,
            },
            circuits: tree.circuits,
        }
    }
}

/// A sensor with its circuits.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct SensorCircuits {
    /// The sensor's id.
    pub id: Uuid,
    /// Its device id.
    pub duid: String,
    /// Its name.
    pub name: String,
    /// Its circuits, by circuit number.
    pub circuits: Vec<CircuitRef>,
}

impl From<&SensorWithCircuits> for SensorCircuits {
    fn from(tree: &SensorWithCircuits) -> Self {
        SensorCircuits {
            id: tree.sensor.id.0,
            duid: tree.sensor.duid.0.clone(),
            name: tree.sensor.name.clone(),
            circuits: tree.circuits.iter().map(CircuitRef::from).collect(),
        }
    }
}

/// A location's sensors and circuits (monolith-compatible).
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct CircuitSummaryBody {
    /// The location.
    pub location: NamedRef,
    /// Its organization.
    pub organization: NamedRef,
    /// How many sensors it has.
    pub sensor_count: usize,
    /// How many circuits its sensors have.
    pub circuit_count: usize,
    /// Its sensors, by name then id.
    pub sensors: Vec<SensorCircuits>,
}

impl From<&LocationSummary> for CircuitSummaryBody {
    fn from(summary: &LocationSummary) -> Self {
        let tree = &summary.tree;
        CircuitSummaryBody {
            location: NamedRef::from(&tree.location),
            organization: NamedRef::from(&summary.organization),
            sensor_count: tree.sensors.len(),
            circuit_count: tree.circuit_count(),
            sensors: tree.sensors.iter().map(SensorCircuits::from).collect(),
        }
    }
}

/// A location with its counts, within a brand's metadata.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct LocationCounts {
    /// The location's id.
    pub id: Uuid,
    /// The location's name.
    pub name: String,
    /// How many sensors it has.
    pub sensor_count: usize,
    /// How many circuits its sensors have.
    pub circuit_count: usize,
}

impl From<&LocationTree> for LocationCounts {
    fn from(tree: &LocationTree) -> Self {
        LocationCounts {
            id: tree.location.id.0,
            name: tree.location.name.clone(),
            sensor_count: tree.sensors.len(),
            circuit_count: tree.circuit_count(),
        }
    }
}

/// An organization with its locations, within a brand's metadata.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct OrganizationLocations {
    /// The organization's id.
    pub id: Uuid,
    /// The organization's name.
    pub name: String,
    /// How many locations it has.
    pub location_count: usize,
    /// Its locations, by name then id.
    pub locations: Vec<LocationCounts>,
}

/// A brand's organizations and locations (monolith-compatible).
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct BrandMetadataBody {
    /// The brand's id.
    pub id: Uuid,
    /// The brand's name.
    pub name: String,
    /// Its organizations, by name then id.
    pub organizations: Vec<OrganizationLocations>,
}

impl From<&BrandTree> for BrandMetadataBody {
    fn from(tree: &BrandTree) -> Self {
        BrandMetadataBody {
            id: tree.brand.id.0,
            name: tree.brand.name.clone(),
            organizations: tree
                .organizations
                .iter()
                .map(|node| OrganizationLocations {
                    id: node.organization.id.0,
                    name: node.organization.name.clone(),
                    location_count: node.locations.len(),
                    locations: node.locations.iter().map(LocationCounts::from).collect(),
                })
                .collect(),
        }
    }
}

/// The answer of the health endpoints.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct StatusBody {
    /// `ok` for liveness, `ready` for readiness.
    pub status: &'static str,
    /// With replicas of the samples' database (`INSIGHTS_TIMESERIES_REPLICA_URLS`), readiness
    /// tells where each stands; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Vec<ReplicaBody>>,
}

/// Where one replica of the samples' database stands.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct ReplicaBody {
    /// Its host, port, database and user.
    pub replica: String,
    /// How far behind the primary it was at its last probe, in milliseconds; null while not
    /// known.
    pub lag_ms: Option<u64>,
    /// Whether sample reads go to it now.
    pub in_rotation: bool,
    /// Why not, while it is out of rotation; null while it is in.
    pub reason: Option<String>,
}

impl From<&insights_pg::ReplicaStatus> for ReplicaBody {
    fn from(status: &insights_pg::ReplicaStatus) -> ReplicaBody {
        ReplicaBody {
            replica: status.replica.clone(),
            lag_ms: status
                .lag
                .map(|lag| u64::try_from(lag.as_millis()).unwrap_or(u64::MAX)),
            in_rotation: status.in_rotation,
            reason: status.reason.clone(),
        }
    }
}

/// A brand with the organizations of it the caller may see.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct VisibleBrandBody {
    /// The brand's id.
    pub id: Uuid,
    /// The brand's name.
    pub name: String,
    /// Its organizations the caller may see, by name then id.
    pub organizations: Vec<VisibleOrganizationBody>,
}

/// An organization with its locations, in the brand list.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct VisibleOrganizationBody {
    /// The organization's id.
    pub id: Uuid,
    /// The organization's name.
    pub name: String,
    /// Its locations, by name then id.
    pub locations: Vec<NamedRef>,
}

impl From<&VisibleBrand> for VisibleBrandBody {
    fn from(visible: &VisibleBrand) -> Self {
        VisibleBrandBody {
            id: visible.brand.id.0,
            name: visible.brand.name.clone(),
            organizations: visible
                .organizations
                .iter()
                .map(|visible| VisibleOrganizationBody {
                    id: visible.organization.id.0,
                    name: visible.organization.name.clone(),
                    locations: visible.locations.iter().map(NamedRef::from).collect(),
                })
                .collect(),
        }
    }
}

/// The brands the caller may see, with their organizations and locations: what a picker
/// needs.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct BrandListBody {
    /// By name then id; with an organization's key, that organization's brand alone.
    pub brands: Vec<VisibleBrandBody>,
}

impl From<&[VisibleBrand]> for BrandListBody {
    fn from(visible: &[VisibleBrand]) -> Self {
        BrandListBody {
            brands: visible.iter().map(VisibleBrandBody::from).collect(),
        }
    }
}

/// When an entity's circuits have samples.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct DataRangeBody {
    /// How many circuits the range covers.
    pub circuit_count: usize,
    /// The earliest sample's time over those circuits; null without samples.
    pub first_sample: Option<Timestamp>,
    /// The latest sample's time over those circuits; null without samples.
    pub last_sample: Option<Timestamp>,
    /// The shortest nominal interval among those circuits, in seconds: each circuit's is the
    /// most common spacing between its samples, and each of its samples stands for that long.
    /// 60 when none has samples.
    pub nominal_interval_seconds: f64,
}

impl From<&DataRange> for DataRangeBody {
    fn from(range: &DataRange) -> Self {
        DataRangeBody {
            circuit_count: range.circuit_count,
            first_sample: range.extent.map(|extent| Timestamp(extent.first)),
            last_sample: range.extent.map(|extent| Timestamp(extent.last)),
            nominal_interval_seconds: range.nominal_interval.as_seconds_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use insights_core::{
        parse_rfc3339, BucketWidth, Catalogue, DemandInterval, InMemoryMetadata, Insights,
        MetadataRepo, Scope, SensorId, UsageRequest, DEFAULT_MAX_WINDOW,
    };
    use insights_mockts::MockTimeSeries;

    /// Samples every five minutes over the window and the hour before it, each circuit's
    /// different from every other's and ranked the other way round in the hour before, so
    /// that a part or circuit paired with the wrong counterpart would show in the JSON.
    async fn insights() -> Insights<InMemoryMetadata, MockTimeSeries> {
        let metadata = InMemoryMetadata::seed();
        let keys = metadata.circuit_series().await.unwrap();
        let start = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let mut rows = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            for minute in (0..120).step_by(5) {
                let watts = if minute < 60 {
                    (keys.len() - index) * 3
                } else {
                    (index + 1) * 10 + minute % 7
                };
                rows.push(serde_json::json!({
                    "duid": key.duid.as_str(),
                    "circuit_number": key.circuit_number,
                    "timestamp": format_utc(start + time::Duration::minutes(minute as i64)),
                    "power_watts": watts,
                }));
            }
        }
        let samples = serde_json::to_vec(&rows).unwrap();
        Insights::new(metadata, MockTimeSeries::from_reader(&samples[..]).unwrap())
    }

    /// Every option that adds usage objects: buckets, peak demand, baseload, the top four
    /// circuits, and the previous hour to compare with.
    fn request() -> UsageRequest {
        let start = parse_rfc3339("2024-01-01T01:00:00Z").unwrap();
        let end = parse_rfc3339("2024-01-01T02:00:00Z").unwrap();
        UsageRequest::builder(Window::new(start, end, DEFAULT_MAX_WINDOW).unwrap())
            .bucket(BucketWidth::FifteenMinutes)
            .demand_interval(DemandInterval::parse("15m").unwrap())
            .baseload()
            .top(4)
            .compare(Comparison::Previous)
            .build()
            .unwrap()
    }

    /// An answer with parts, whose roll-up a test changes before making its body.
    trait WithParts: Clone {
        fn rollup_mut(&mut self) -> &mut Rollup;
        fn json(&self) -> Result<String, UnmatchedId>;
    }

    macro_rules! with_parts {
        ($answer:ty => $body:ty) => {
            impl WithParts for $answer {
                fn rollup_mut(&mut self) -> &mut Rollup {
                    &mut self.rollup
                }

                fn json(&self) -> Result<String, UnmatchedId> {
                    <$body>::try_from(self).map(|body| serde_json::to_string(&body).unwrap())
                }
            }
        };
    }

    with_parts!(LocationUsage => LocationUsageBody);
    with_parts!(OrganizationUsage => OrganizationUsageBody);
    with_parts!(BrandUsage => BrandUsageBody);

    /// A change planted in one list of a roll-up.
    #[derive(Clone, Copy, Debug)]
    enum Plant {
        /// The entries in reverse order.
        Reverse,
        /// The first entry moved to the end.
        Rotate,
        /// The first entry removed.
        Drop,
        /// The first entry twice.
        Repeat,
        /// An entry added with an id the answer names nowhere.
        Stranger,
    }

    /// What the body of the changed answer is.
    #[derive(Clone, Copy, Debug)]
    enum Expected {
        /// Byte for byte the body of the answer as the core gave it.
        Unchanged,
        /// An error naming the list and the id of the entry the change touched.
        Missing,
        /// As `Missing`, for an entry that should not be there.
        Unexpected,
    }

    /// Plants `plant` in `list`; returns the id of the entry it touched (the first entry,
    /// or the stranger).
    fn change<T: Clone>(
        list: &mut Vec<T>,
        plant: Plant,
        id: impl Fn(&T) -> EntityRef,
        stranger: impl FnOnce(T) -> T,
    ) -> EntityRef {
        assert!(list.len() > 1, "a reordering of one entry changes nothing");
        let first = list[0].clone();
        match plant {
            Plant::Reverse => list.reverse(),
            Plant::Rotate => list.rotate_left(1),
            Plant::Drop => drop(list.remove(0)),
            Plant::Repeat => list.push(first.clone()),
            Plant::Stranger => {
                let stranger = stranger(first);
                let stranger_id = id(&stranger);
                list.push(stranger);
                return stranger_id;
            }
        }
        id(&first)
    }

    fn plant(rollup: &mut Rollup, among: Among, plant: Plant) -> EntityRef {
        let nobody = Uuid::nil();
        let part_id = |part: &PartUsage| part.id;
        let part_stranger = |part: PartUsage| PartUsage {
            id: EntityRef::Sensor(SensorId(nobody)),
            ..part
        };
        let compared = &mut rollup.comparison.as_mut().unwrap().1;
        match among {
            Among::Parts => change(&mut rollup.parts, plant, part_id, part_stranger),
            Among::ComparedParts => change(&mut compared.parts, plant, part_id, part_stranger),
            Among::ComparedTopCircuits => change(
                compared.top_circuits.as_mut().unwrap(),
                plant,
                |entry| EntityRef::from(entry.circuit.id),
                |mut entry| {
                    entry.circuit.id = CircuitId(nobody);
                    entry
                },
            ),
        }
    }

    fn check(answer: &impl WithParts, among: Among, planted: Plant, expected: Expected) {
        let original = answer.json().expect("the core's own answer matches by id");
        let mut changed = answer.clone();
        let touched = plant(changed.rollup_mut(), among, planted);
        let expected = match expected {
            Expected::Unchanged => Ok(original),
            Expected::Missing => Err(UnmatchedId::Missing(among, touched)),
            Expected::Unexpected => Err(UnmatchedId::Unexpected(among, touched)),
        };
        assert_eq!(changed.json(), expected, "{planted:?} in {among}");
    }

    fn check_every_plant(answer: &impl WithParts) {
        for among in [
            Among::Parts,
            Among::ComparedParts,
            Among::ComparedTopCircuits,
        ] {
            check(answer, among, Plant::Reverse, Expected::Unchanged);
            check(answer, among, Plant::Rotate, Expected::Unchanged);
            check(answer, among, Plant::Drop, Expected::Missing);
            check(answer, among, Plant::Repeat, Expected::Unexpected);
            check(answer, among, Plant::Stranger, Expected::Unexpected);
        }
    }

    /// Whether the figures all differ, so that a reordering of them would be visible.
    fn distinct<'a>(figures: impl Iterator<Item = &'a Figures>) -> bool {
        let totals: Vec<TotalWatts> = figures.map(|figures| figures.usage.stats.total()).collect();
        totals
            .iter()
            .enumerate()
            .all(|(index, total)| !totals[..index].contains(total))
    }

    #[tokio::test]
    async fn parts_and_counterparts_are_found_by_id_whatever_their_order() {
        let insights = insights().await;
        let catalogue = Catalogue::seed();
        let request = request();
        let scope = Scope::All;
        let location = insights
            .location_usage(&scope, catalogue.locations[0].id, &request)
            .await
            .unwrap();
        let organization = insights
            .organization_usage(&scope, catalogue.organizations[0].id, &request)
            .await
            .unwrap();
        let brand = insights
            .brand_usage(&scope, catalogue.brands[0].id, &request)
            .await
            .unwrap();
        for rollup in [&location.rollup, &organization.rollup, &brand.rollup] {
            let compared = &rollup.comparison.as_ref().unwrap().1;
            let parts = |rollup: &'_ Rollup| {
                let figures: Vec<Figures> =
                    rollup.parts.iter().map(|part| part.usage.figures).collect();
                figures
            };
            let top = compared.top_circuits.iter().flatten();
            assert!(distinct(parts(rollup).iter()) && distinct(parts(compared).iter()));
            assert!(distinct(top.map(|entry| &entry.figures)));
        }
        check_every_plant(&location);
        check_every_plant(&organization);
        check_every_plant(&brand);
    }
}
