//! The catalogue: the metadata hierarchy as flat rows, parsed from the tab-separated form that
//! `data/catalogue.tsv` uses and checked for referential integrity.

use std::collections::{HashMap, HashSet};
use std::fmt;

use uuid::Uuid;

use crate::ids::{BrandId, CircuitId, Duid, LocationId, OrganizationId, SensorId};
use crate::model::{Brand, Circuit, ElectricSensor, Location, Organization};

/// The seed catalogue that ships with the service; `db/init/init.sql` is generated from it.
pub const SEED_TSV: &str = include_str!("../../../data/catalogue.tsv");

/// The header line every catalogue file has after its comments.
pub const TSV_HEADER: &str = "kind\tid\tparent_id\tname\tduid\tcircuit_number";

/// The metadata hierarchy as flat rows, each kind in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    /// Every brand.
    pub brands: Vec<Brand>,
    /// Every organization.
    pub organizations: Vec<Organization>,
    /// Every location.
    pub locations: Vec<Location>,
    /// Every electric sensor.
    pub sensors: Vec<ElectricSensor>,
    /// Every circuit.
    pub circuits: Vec<Circuit>,
}

/// What is wrong with a catalogue, and on which line (1-based) of its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogueError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub kind: CatalogueErrorKind,
}

/// The ways a catalogue line can be wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogueErrorKind {
    /// The first line that is not a comment is not [`TSV_HEADER`].
    BadHeader,
    /// A row does not have six tab-separated fields.
    FieldCount {
        /// How many fields the row has.
        found: usize,
    },
    /// The first field names no known kind.
    UnknownKind(String),
    /// A field that must hold a UUID does not.
    BadUuid {
        /// The field's name.
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// A name is empty.
    EmptyName,
    /// A sensor row has no duid, or another row has one.
    Duid,
    /// A circuit row has no positive circuit number, or another row has one.
    CircuitNumber(String),
    /// A field that must be empty for this kind is not.
    UnexpectedField(&'static str),
    /// The id was already used by an earlier row.
    DuplicateId(Uuid),
    /// The duid was already used by an earlier sensor.
    DuplicateDuid(String),
    /// The sensor already has a circuit with this number.
    DuplicateCircuitNumber(u32),
    /// The parent id names no earlier row of the parent's kind.
    UnknownParent {
        /// The kind the parent must be.
        parent_kind: &'static str,
        /// The parent id given.
        parent_id: Uuid,
    },
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "catalogue line {}: ", self.line)?;
        match &self.kind {
            CatalogueErrorKind::BadHeader => write!(f, "expected the header `{}`", TSV_HEADER.replace('\t', "<TAB>")),
            CatalogueErrorKind::FieldCount { found } => {
                write!(f, "expected 6 tab-separated fields, found {found}")
            }
            CatalogueErrorKind::UnknownKind(kind) => write!(
                f,
                "unknown kind {kind:?}; expected brand, organization, location, electric_sensor or circuit"
            ),
            CatalogueErrorKind::BadUuid { field, value } => {
                write!(f, "`{field}` is not a UUID: {value:?}")
            }
            CatalogueErrorKind::EmptyName => f.write_str("`name` is empty"),
            CatalogueErrorKind::Duid => {
                f.write_str("`duid` must be set for electric sensors and only for them")
            }
            CatalogueErrorKind::CircuitNumber(value) => write!(
                f,
                "`circuit_number` must be a positive integer for circuits and empty otherwise, found {value:?}"
            ),
            CatalogueErrorKind::UnexpectedField(field) => {
                write!(f, "`{field}` must be empty for this kind")
            }
            CatalogueErrorKind::DuplicateId(id) => write!(f, "id {id} is used twice"),
            CatalogueErrorKind::DuplicateDuid(duid) => write!(f, "duid {duid} is used twice"),
            CatalogueErrorKind::DuplicateCircuitNumber(number) => {
                write!(f, "the sensor already has a circuit number {number}")
            }
            CatalogueErrorKind::UnknownParent {
                parent_kind,
                parent_id,
            } => write!(
                f,
                "`parent_id` {parent_id} names no {parent_kind} on an earlier line"
            ),
        }
    }
}

impl std::error::Error for CatalogueError {}

impl Catalogue {
    /// The seed catalogue embedded in the crate.
    pub fn seed() -> Catalogue {
        // A test parses the embedded text, so this cannot fail in a built crate.
        Catalogue::parse_tsv(SEED_TSV).expect("the embedded seed catalogue is valid")
    }

    /// A synthetic catalogue of `n_circuits` circuits for scale runs and benchmarks: three
    /// circuits per sensor, two sensors per location, ten locations per organization, one
    /// brand. Ids and names are fixed by position, so the same size gives the same catalogue.
    /// Behind the `synthetic` feature: a helper for scale runs, benchmarks and tests.
    #[cfg(feature = "synthetic")]
    pub fn synthetic(n_circuits: usize) -> Catalogue {
        // 5eed0000-0000-000K-IIII-IIIIIIIIIIII: K the kind, I the index.
        let id = |kind: u64, index: usize| {
            Uuid::from_u64_pair(0x5EED_0000_0000_0000 + kind, index as u64)
        };
        let brand = Brand {
            id: BrandId(id(1, 0)),
            name: "Synthetic Brand".into(),
        };
        let n_sensors = n_circuits.div_ceil(3);
        let n_locations = n_sensors.div_ceil(2);
        let regions = ["East", "Central", "West"];
        let organizations: Vec<Organization> = (0..n_locations.div_ceil(10))
            .map(|index| Organization {
                id: OrganizationId(id(2, index)),
                name: format!("Franchise {index:05}"),
                brand_id: brand.id,
            })
            .collect();
        let locations: Vec<Location> = (0..n_locations)
            .map(|index| Location {
                id: LocationId(id(3, index)),
                name: format!("{}-Site {index:06}", regions[index % 3]),
                organization_id: organizations[index / 10].id,
            })
            .collect();
        let sensors: Vec<ElectricSensor> = (0..n_sensors)
            .map(|index| ElectricSensor {
                id: SensorId(id(4, index)),
                duid: Duid(format!("{:016X}", 0x5EED_0000_0000_0000u64 + index as u64)),
                name: format!("Panel-{}", index % 2 + 1),
                location_id: locations[index / 2].id,
            })
            .collect();
        let circuits = (0..n_circuits)
            .map(|index| Circuit {
                id: CircuitId(id(5, index)),
                name: format!("Circuit {}", index % 3 + 1),
                circuit_number: (index % 3 + 1) as u32,
                sensor_id: sensors[index / 3].id,
            })
            .collect();
        Catalogue {
            brands: vec![brand],
            organizations,
            locations,
            sensors,
            circuits,
        }
    }

    /// Parses and checks the tab-separated form.
    ///
    /// Lines starting with `#` and blank lines are comments. Parents come before children.
    pub fn parse_tsv(text: &str) -> Result<Catalogue, CatalogueError> {
        let mut parser = Parser::default();
        let mut seen_header = false;
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if !seen_header {
                if line != TSV_HEADER {
                    return Err(CatalogueError {
                        line: line_number,
                        kind: CatalogueErrorKind::BadHeader,
                    });
                }
                seen_header = true;
                continue;
            }
            parser.row(line).map_err(|kind| CatalogueError {
                line: line_number,
                kind,
            })?;
        }
        Ok(parser.catalogue)
    }

    /// Writes the tab-separated form that [`Catalogue::parse_tsv`] reads, after `comments`.
    pub fn to_tsv(&self, comments: &[&str]) -> String {
        let mut text = String::new();
        for comment in comments {
            text.push_str("# ");
            text.push_str(comment);
            text.push('\n');
        }
        text.push_str(TSV_HEADER);
        text.push('\n');
        let mut row =
            |kind: &str, id: &Uuid, parent: Option<&Uuid>, name: &str, duid: &str, number: &str| {
                let parent = parent.map(Uuid::to_string).unwrap_or_default();
                text.push_str(&format!(
                    "{kind}\t{id}\t{parent}\t{name}\t{duid}\t{number}\n"
                ));
            };
        for brand in &self.brands {
            row("brand", &brand.id.0, None, &brand.name, "", "");
        }
        for organization in &self.organizations {
            row(
                "organization",
                &organization.id.0,
                Some(&organization.brand_id.0),
                &organization.name,
                "",
                "",
            );
        }
        for location in &self.locations {
            row(
                "location",
                &location.id.0,
                Some(&location.organization_id.0),
                &location.name,
                "",
                "",
            );
        }
        for sensor in &self.sensors {
            row(
                "electric_sensor",
                &sensor.id.0,
                Some(&sensor.location_id.0),
                &sensor.name,
                sensor.duid.as_str(),
                "",
            );
        }
        for circuit in &self.circuits {
            row(
                "circuit",
                &circuit.id.0,
                Some(&circuit.sensor_id.0),
                &circuit.name,
                "",
                &circuit.circuit_number.to_string(),
            );
        }
        text
    }
}

#[derive(Default)]
struct Parser {
    catalogue: Catalogue,
    ids: HashSet<Uuid>,
    brands: HashSet<Uuid>,
    organizations: HashSet<Uuid>,
    locations: HashSet<Uuid>,
    sensors: HashSet<Uuid>,
    duids: HashSet<String>,
    circuit_numbers: HashMap<Uuid, HashSet<u32>>,
}

impl Parser {
    fn row(&mut self, line: &str) -> Result<(), CatalogueErrorKind> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [kind, id, parent, name, duid, number] = fields[..] else {
            return Err(CatalogueErrorKind::FieldCount {
                found: fields.len(),
            });
        };
        let id = uuid_field("id", id)?;
        if name.is_empty() {
            return Err(CatalogueErrorKind::EmptyName);
        }
        if !self.ids.insert(id) {
            return Err(CatalogueErrorKind::DuplicateId(id));
        }
        let name = name.to_owned();
        if kind != "electric_sensor" && !duid.is_empty() {
            return Err(CatalogueErrorKind::Duid);
        }
        if kind != "circuit" && !number.is_empty() {
            return Err(CatalogueErrorKind::CircuitNumber(number.to_owned()));
        }
        match kind {
            "brand" => {
                if !parent.is_empty() {
                    return Err(CatalogueErrorKind::UnexpectedField("parent_id"));
                }
                self.brands.insert(id);
                self.catalogue.brands.push(Brand {
                    id: BrandId(id),
                    name,
                });
            }
            "organization" => {
                let brand_id = parent_field(parent, &self.brands, "brand")?;
                self.organizations.insert(id);
                self.catalogue.organizations.push(Organization {
                    id: OrganizationId(id),
                    name,
                    brand_id: BrandId(brand_id),
                });
            }
            "location" => {
                let organization_id = parent_field(parent, &self.organizations, "organization")?;
                self.locations.insert(id);
                self.catalogue.locations.push(Location {
                    id: LocationId(id),
                    name,
                    organization_id: OrganizationId(organization_id),
                });
            }
            "electric_sensor" => {
                let location_id = parent_field(parent, &self.locations, "location")?;
                if duid.is_empty() {
                    return Err(CatalogueErrorKind::Duid);
                }
                if !self.duids.insert(duid.to_owned()) {
                    return Err(CatalogueErrorKind::DuplicateDuid(duid.to_owned()));
                }
                self.sensors.insert(id);
                self.catalogue.sensors.push(ElectricSensor {
                    id: SensorId(id),
                    duid: Duid(duid.to_owned()),
                    name,
                    location_id: LocationId(location_id),
                });
            }
            "circuit" => {
                let sensor_id = parent_field(parent, &self.sensors, "electric_sensor")?;
                let circuit_number = number
                    .parse::<u32>()
                    .ok()
                    .filter(|number| *number > 0)
                    .ok_or_else(|| CatalogueErrorKind::CircuitNumber(number.to_owned()))?;
                if !self
                    .circuit_numbers
                    .entry(sensor_id)
                    .or_default()
                    .insert(circuit_number)
                {
                    return Err(CatalogueErrorKind::DuplicateCircuitNumber(circuit_number));
                }
                self.catalogue.circuits.push(Circuit {
                    id: CircuitId(id),
                    name,
                    circuit_number,
                    sensor_id: SensorId(sensor_id),
                });
            }
            other => return Err(CatalogueErrorKind::UnknownKind(other.to_owned())),
        }
        Ok(())
    }
}

fn uuid_field(field: &'static str, value: &str) -> Result<Uuid, CatalogueErrorKind> {
    Uuid::parse_str(value).map_err(|_| CatalogueErrorKind::BadUuid {
        field,
        value: value.to_owned(),
    })
}

fn parent_field(
    value: &str,
    known: &HashSet<Uuid>,
    parent_kind: &'static str,
) -> Result<Uuid, CatalogueErrorKind> {
    let parent_id = uuid_field("parent_id", value)?;
    if known.contains(&parent_id) {
        Ok(parent_id)
    } else {
        Err(CatalogueErrorKind::UnknownParent {
            parent_kind,
            parent_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRAND: &str = "brand\t11111111-1111-1111-1111-111111111111\t\tB\t\t";
    const ORG: &str = "organization\t22222222-2222-2222-2222-222222222222\t11111111-1111-1111-1111-111111111111\tO\t\t";
    const LOC: &str = "location\t33333333-3333-3333-3333-333333333333\t22222222-2222-2222-2222-222222222222\tL\t\t";
    const SENSOR: &str = "electric_sensor\t44444444-4444-4444-4444-444444444444\t33333333-3333-3333-3333-333333333333\tS\tABC\t";
    const CIRCUIT: &str = "circuit\t55555555-5555-5555-5555-555555555555\t44444444-4444-4444-4444-444444444444\tC\t\t1";

    fn check(rows: &[&str], expected: Result<usize, (usize, CatalogueErrorKind)>) {
        let text = format!("# comment\n{TSV_HEADER}\n{}\n", rows.join("\n"));
        let actual = Catalogue::parse_tsv(&text).map(|catalogue| {
            catalogue.brands.len()
                + catalogue.organizations.len()
                + catalogue.locations.len()
                + catalogue.sensors.len()
                + catalogue.circuits.len()
        });
        assert_eq!(
            actual,
            expected.map_err(|(line, kind)| CatalogueError { line, kind })
        );
    }

    #[test]
    fn parses_a_whole_hierarchy() {
        check(&[BRAND, ORG, LOC, SENSOR, CIRCUIT], Ok(5));
        check(&[], Ok(0));
    }

    #[test]
    fn names_the_line_and_the_problem() {
        check(
            &["brand\tx"],
            Err((3, CatalogueErrorKind::FieldCount { found: 2 })),
        );
        check(
            &[BRAND, "shop\t66666666-6666-6666-6666-666666666666\t\tX\t\t"],
            Err((4, CatalogueErrorKind::UnknownKind("shop".into()))),
        );
        check(
            &["brand\tnot-a-uuid\t\tB\t\t"],
            Err((
                3,
                CatalogueErrorKind::BadUuid {
                    field: "id",
                    value: "not-a-uuid".into(),
                },
            )),
        );
        check(
            &[BRAND, BRAND],
            Err((
                4,
                CatalogueErrorKind::DuplicateId(
                    "11111111-1111-1111-1111-111111111111".parse().unwrap(),
                ),
            )),
        );
        check(
            &[ORG],
            Err((
                3,
                CatalogueErrorKind::UnknownParent {
                    parent_kind: "brand",
                    parent_id: "11111111-1111-1111-1111-111111111111".parse().unwrap(),
                },
            )),
        );
        check(
            &[BRAND, ORG, LOC, &SENSOR.replace("ABC", "")],
            Err((6, CatalogueErrorKind::Duid)),
        );
        check(
            &[BRAND, ORG, LOC, SENSOR, &CIRCUIT.replace("\t1", "\t0")],
            Err((7, CatalogueErrorKind::CircuitNumber("0".into()))),
        );
        check(
            &[
                BRAND,
                ORG,
                LOC,
                SENSOR,
                CIRCUIT,
                &CIRCUIT.replace("55555555", "66666666"),
            ],
            Err((8, CatalogueErrorKind::DuplicateCircuitNumber(1))),
        );
        check(
            &[&BRAND.replace("\tB\t", "\t\t")],
            Err((3, CatalogueErrorKind::EmptyName)),
        );
    }

    #[test]
    fn round_trips_through_tsv() {
        let seed = Catalogue::seed();
        assert_eq!(Catalogue::parse_tsv(&seed.to_tsv(&["again"])), Ok(seed));
    }

    #[test]
    fn synthetic_catalogues_are_valid_and_sized() {
        let catalogue = Catalogue::synthetic(1000);
        assert_eq!(
            Catalogue::parse_tsv(&catalogue.to_tsv(&[])),
            Ok(catalogue.clone())
        );
        let counts = (
            catalogue.organizations.len(),
            catalogue.locations.len(),
            catalogue.sensors.len(),
            catalogue.circuits.len(),
        );
        assert_eq!(counts, (17, 167, 334, 1000));
    }

    #[test]
    fn synthetic_catalogues_are_fixed_by_position() {
        let expected = "\
kind\tid\tparent_id\tname\tduid\tcircuit_number
brand\t5eed0000-0000-0001-0000-000000000000\t\tSynthetic Brand\t\t
organization\t5eed0000-0000-0002-0000-000000000000\t5eed0000-0000-0001-0000-000000000000\tFranchise 00000\t\t
location\t5eed0000-0000-0003-0000-000000000000\t5eed0000-0000-0002-0000-000000000000\tEast-Site 000000\t\t
electric_sensor\t5eed0000-0000-0004-0000-000000000000\t5eed0000-0000-0003-0000-000000000000\tPanel-1\t5EED000000000000\t
electric_sensor\t5eed0000-0000-0004-0000-000000000001\t5eed0000-0000-0003-0000-000000000000\tPanel-2\t5EED000000000001\t
circuit\t5eed0000-0000-0005-0000-000000000000\t5eed0000-0000-0004-0000-000000000000\tCircuit 1\t\t1
circuit\t5eed0000-0000-0005-0000-000000000001\t5eed0000-0000-0004-0000-000000000000\tCircuit 2\t\t2
circuit\t5eed0000-0000-0005-0000-000000000002\t5eed0000-0000-0004-0000-000000000000\tCircuit 3\t\t3
circuit\t5eed0000-0000-0005-0000-000000000003\t5eed0000-0000-0004-0000-000000000001\tCircuit 1\t\t1
";
        assert_eq!(Catalogue::synthetic(4).to_tsv(&[]), expected);
        // At scale: ten locations per organization, two sensors per location and circuits
        // numbered 1 to 3 on each sensor, the last of each possibly short.
        let catalogue = Catalogue::synthetic(1000);
        let children = |parents: Vec<String>| {
            let mut counts: Vec<usize> = Vec::new();
            for parent in parents.chunk_by(|a, b| a == b) {
                counts.push(parent.len());
            }
            counts
        };
        let check = |counts: Vec<usize>, per_parent: usize, last: usize| {
            let (tail, full) = counts.split_last().unwrap();
            assert!(full.iter().all(|count| *count == per_parent), "{counts:?}");
            assert_eq!(*tail, last);
        };
        check(
            children(
                catalogue
                    .locations
                    .iter()
                    .map(|location| location.organization_id.to_string())
                    .collect(),
            ),
            10,
            7,
        );
        check(
            children(
                catalogue
                    .sensors
                    .iter()
                    .map(|sensor| sensor.location_id.to_string())
                    .collect(),
            ),
            2,
            2,
        );
        check(
            children(
                catalogue
                    .circuits
                    .iter()
                    .map(|circuit| circuit.sensor_id.to_string())
                    .collect(),
            ),
            3,
            1,
        );
        let numbers: Vec<u32> = catalogue
            .circuits
            .iter()
            .map(|circuit| circuit.circuit_number)
            .collect();
        assert!(numbers
            .chunks(3)
            .all(|numbers| numbers == [1, 2, 3] || numbers == [1]));
    }

    #[test]
    fn seed_has_the_reference_counts() {
        let seed = Catalogue::seed();
        let counts = (
            seed.brands.len(),
            seed.organizations.len(),
            seed.locations.len(),
            seed.sensors.len(),
            seed.circuits.len(),
        );
        assert_eq!(counts, (1, 3, 6, 12, 36));
    }
}
