//! Response bodies: the contract's JSON shapes, built from the core's types.
//!
//! Every field is always present, with `null` for an absent value, except the ones a query
//! parameter asks for (`series`, `top_circuits`, `peak_demand`, `baseload_watts`), which
//! appear only then.

use insights_core::{
    format_utc, Brand, BrandUsage, Circuit, CircuitUsage, Comparison, DataRange, ElectricSensor,
    Figures, Location, LocationTree, LocationUsage, Organization, OrganizationUsage, Peak, Rollup,
    SensorWithCircuits, TotalWatts, VisibleBrand, Window,
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

impl<'a> Paired<'a> {
    /// The counterpart `pick` finds in the comparison roll-up, if one was asked for.
    fn of(
        rollup: &'a Rollup,
        pick: impl FnOnce(&'a Rollup) -> Option<(&'a Figures, OffsetDateTime, OffsetDateTime)>,
    ) -> Paired<'a> {
        match &rollup.comparison {
            None => Paired::NotAsked,
            Some((kind, other)) => pick(other).map_or(Paired::Missing, |(figures, start, end)| {
                Paired::Found(*kind, figures, start, end)
            }),
        }
    }

    fn total(rollup: &'a Rollup) -> Paired<'a> {
        Paired::of(rollup, |other| {
            Some((
                &other.total.figures,
                other.window.start(),
                other.window.end(),
            ))
        })
    }

    fn part(rollup: &'a Rollup, index: usize) -> Paired<'a> {
        Paired::of(rollup, |other| {
            let part = other.parts.get(index)?;
            Some((&part.figures, other.window.start(), other.window.end()))
        })
    }

    fn bucket(rollup: &'a Rollup, index: usize) -> Paired<'a> {
        Paired::of(rollup, |other| {
            let bucket = other.series.as_ref()?.get(index)?;
            Some((&bucket.figures, bucket.bucket.start, bucket.bucket.end))
        })
    }

    fn top(rollup: &'a Rollup, index: usize) -> Paired<'a> {
        Paired::of(rollup, |other| {
            let entry = other.top_circuits.as_ref()?.get(index)?;
            Some((&entry.figures, other.window.start(), other.window.end()))
        })
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
                    compare: match kind {
                        Comparison::Previous => "previous",
                        Comparison::Year => "year",
                    },
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

fn series(rollup: &Rollup) -> Option<Vec<BucketBody>> {
    rollup.series.as_ref().map(|buckets| {
        buckets
            .iter()
            .enumerate()
            .map(|(index, bucket)| BucketBody {
                start: Timestamp(bucket.bucket.start),
                end: Timestamp(bucket.bucket.end),
                partial: bucket.bucket.partial,
                usage: UsageBody::compared(&bucket.figures, Paired::bucket(rollup, index)),
            })
            .collect()
    })
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

fn top_circuits(rollup: &Rollup) -> Option<Vec<TopCircuitBody>> {
    rollup.top_circuits.as_ref().map(|ranked| {
        ranked
            .iter()
            .enumerate()
            .map(|(index, entry)| TopCircuitBody {
                circuit: RankedCircuitRef {
                    id: entry.circuit.id.0,
                    name: entry.circuit.name.clone(),
                    circuit_number: entry.circuit.circuit_number,
                    sensor: SensorRef::from(&entry.sensor),
                    location: NamedRef::from(&entry.location),
                },
                usage: UsageBody::compared(&entry.figures, Paired::top(rollup, index)),
            })
            .collect()
    })
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

impl From<&CircuitUsage> for CircuitUsageBody {
    fn from(answer: &CircuitUsage) -> Self {
        let context = &answer.context;
        CircuitUsageBody {
            circuit: CircuitDetail {
                id: context.circuit.id.0,
                name: context.circuit.name.clone(),
                circuit_number: context.circuit.circuit_number,
                sensor: SensorRef::from(&context.sensor),
                location: NamedRef::from(&context.location),
                organization: NamedRef::from(&context.organization),
            },
            window: WindowBody::from(&answer.rollup.window),
            usage: UsageBody::compared(&answer.rollup.total.figures, Paired::total(&answer.rollup)),
            series: series(&answer.rollup),
        }
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
    /// The roll-up's parts, named in the tree's order by `(id, name)`.
    fn all<'a>(
        rollup: &Rollup,
        names: impl Iterator<Item = (Uuid, &'a str)>,
    ) -> Vec<PartUsageBody> {
        names
            .zip(&rollup.parts)
            .enumerate()
            .map(|(index, ((id, name), group))| PartUsageBody {
                id,
                name: name.to_owned(),
                circuit_count: group.circuit_count,
                usage: UsageBody::compared(&group.figures, Paired::part(rollup, index)),
                average_watts_per_circuit: group.average_watts_per_circuit.map(Watts),
            })
            .collect()
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

impl From<&OrganizationUsage> for OrganizationUsageBody {
    fn from(answer: &OrganizationUsage) -> Self {
        let (tree, rollup) = (&answer.tree, &answer.rollup);
        OrganizationUsageBody {
            organization: OrganizationRef {
                id: tree.organization.id.0,
                name: tree.organization.name.clone(),
                brand: NamedRef::from(&tree.brand),
            },
            window: WindowBody::from(&rollup.window),
            circuit_count: rollup.total.circuit_count,
            location_count: answer.location_count,
            usage: UsageBody::compared(&rollup.total.figures, Paired::total(rollup)),
            average_watts_per_circuit: rollup.total.average_watts_per_circuit.map(Watts),
            locations: PartUsageBody::all(
                rollup,
                tree.locations
                    .iter()
                    .map(|location| (location.location.id.0, location.location.name.as_str())),
            ),
            series: series(rollup),
            top_circuits: top_circuits(rollup),
        }
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

impl From<&LocationUsage> for LocationUsageBody {
    fn from(answer: &LocationUsage) -> Self {
        let (summary, rollup) = (&answer.summary, &answer.rollup);
        LocationUsageBody {
            location: NamedRef::from(&summary.tree.location),
            organization: NamedRef::from(&summary.organization),
            window: WindowBody::from(&rollup.window),
            circuit_count: rollup.total.circuit_count,
            usage: UsageBody::compared(&rollup.total.figures, Paired::total(rollup)),
            average_watts_per_circuit: rollup.total.average_watts_per_circuit.map(Watts),
            sensors: summary
                .tree
                .sensors
                .iter()
                .zip(&rollup.parts)
                .enumerate()
                .map(|(index, (sensor, group))| SensorUsageBody {
                    id: sensor.sensor.id.0,
                    duid: sensor.sensor.duid.0.clone(),
                    name: sensor.sensor.name.clone(),
                    usage: UsageBody::compared(&group.figures, Paired::part(rollup, index)),
                })
                .collect(),
            series: series(rollup),
            top_circuits: top_circuits(rollup),
        }
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

impl From<&BrandUsage> for BrandUsageBody {
    fn from(answer: &BrandUsage) -> Self {
        let (tree, rollup) = (&answer.tree, &answer.rollup);
        BrandUsageBody {
            brand: NamedRef::from(&tree.brand),
            window: WindowBody::from(&rollup.window),
            circuit_count: rollup.total.circuit_count,
            location_count: answer.location_count,
            organization_count: tree.organizations.len(),
            usage: UsageBody::compared(&rollup.total.figures, Paired::total(rollup)),
            average_watts_per_circuit: rollup.total.average_watts_per_circuit.map(Watts),
            organizations: PartUsageBody::all(
                rollup,
                tree.organizations
                    .iter()
                    .map(|node| (node.organization.id.0, node.organization.name.as_str())),
            ),
            series: series(rollup),
            top_circuits: top_circuits(rollup),
        }
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

/// The answer of the health endpoints.
#[derive(Debug, Serialize, Apiv2Schema)]
pub struct StatusBody {
    /// `ok` for liveness, `ready` for readiness.
    pub status: &'static str,
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
