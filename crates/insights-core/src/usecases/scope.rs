//! Whose data a caller may see ([`Scope`]), what a lookup did not find, and why a use case
//! could not answer.

use std::fmt;

use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId};
use crate::model::Organization;
use crate::ports::{MetadataError, TimeSeriesError};

use super::work::TooMuchWork;

/// An entity, by its kind and id: what a lookup did not find, or which part of a roll-up a
/// share belongs to (a location's sensor, an organization's location, a brand's
/// organization). Each part carries it, so that whoever names the parts finds each one's
/// figures by id, never by its place in a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityRef {
    /// A brand.
    Brand(BrandId),
    /// An organization.
    Organization(OrganizationId),
    /// A location.
    Location(LocationId),
    /// An electric sensor.
    Sensor(SensorId),
    /// A circuit.
    Circuit(CircuitId),
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityRef::Brand(id) => write!(f, "brand {id}"),
            EntityRef::Organization(id) => write!(f, "organization {id}"),
            EntityRef::Location(id) => write!(f, "location {id}"),
            EntityRef::Sensor(id) => write!(f, "electric sensor {id}"),
            EntityRef::Circuit(id) => write!(f, "circuit {id}"),
        }
    }
}

/// Each typed id names its entity.
macro_rules! entity_ref_from_id {
    ($($id:ident => $variant:ident),* $(,)?) => {$(
        impl From<$id> for EntityRef {
            fn from(id: $id) -> EntityRef {
                EntityRef::$variant(id)
            }
        }
    )*};
}

entity_ref_from_id! {
    BrandId => Brand,
    OrganizationId => Organization,
    LocationId => Location,
    SensorId => Sensor,
    CircuitId => Circuit,
}

/// Whose data a caller may see.
///
/// Every use case takes one. Anything outside it is answered exactly as an id that does not
/// exist, so a caller cannot even learn that another tenant's ids are real.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything; what a service without API keys serves.
    All,
    /// One brand, its organizations and everything under them.
    Brand(BrandId),
    /// One organization and everything under it.
    Organization(OrganizationId),
}

impl Scope {
    /// Whether the scope covers the organization and everything under it.
    pub fn admits(&self, organization: &Organization) -> bool {
        match self {
            Scope::All => true,
            Scope::Brand(brand_id) => *brand_id == organization.brand_id,
            Scope::Organization(organization_id) => *organization_id == organization.id,
        }
    }

    /// Whether the scope covers the whole brand; an organization's scope never does.
    pub fn admits_brand(&self, brand_id: BrandId) -> bool {
        match self {
            Scope::All => true,
            Scope::Brand(scope_brand_id) => *scope_brand_id == brand_id,
            Scope::Organization(_) => false,
        }
    }

    /// Whether an organization id can be in scope at all, before looking it up.
    pub(super) fn may_admit_organization(&self, organization_id: OrganizationId) -> bool {
        match self {
            Scope::Organization(scope_organization_id) => *scope_organization_id == organization_id,
            Scope::All | Scope::Brand(_) => true,
        }
    }
}

/// Why a use case could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsightsError {
    /// No entity has the id asked for.
    NotFound(EntityRef),
    /// The metadata store failed.
    Metadata(MetadataError),
    /// The time-series source failed.
    TimeSeries(TimeSeriesError),
    /// The request would take more work than one answer may.
    TooMuchWork(TooMuchWork),
}

impl fmt::Display for InsightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsightsError::NotFound(entity) => write!(f, "{entity} does not exist"),
            InsightsError::Metadata(error) => error.fmt(f),
            InsightsError::TimeSeries(error) => error.fmt(f),
            InsightsError::TooMuchWork(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for InsightsError {}

impl From<MetadataError> for InsightsError {
    fn from(error: MetadataError) -> Self {
        InsightsError::Metadata(error)
    }
}

impl From<TimeSeriesError> for InsightsError {
    fn from(error: TimeSeriesError) -> Self {
        InsightsError::TimeSeries(error)
    }
}
