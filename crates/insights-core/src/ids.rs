//! Typed identifiers for the metadata hierarchy, so that a circuit id can never be passed where an organization id belongs.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_newtype!(
    /// Identifies a brand, the root of the hierarchy.
    BrandId
);
uuid_newtype!(
    /// Identifies an organization (a franchise) within a brand.
    OrganizationId
);
uuid_newtype!(
    /// Identifies a location (a site) within an organization.
    LocationId
);
uuid_newtype!(
    /// Identifies an electric sensor (a panel) at a location.
    SensorId
);
uuid_newtype!(
    /// Identifies one circuit of an electric sensor.
    CircuitId
);

/// The device id of an electric sensor, as the time-series data names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duid(pub String);

impl Duid {
    /// The device id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of one power series: samples join circuits on (sensor duid, circuit number).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The device id of the sensor that measured the series.
    pub duid: Duid,
    /// The circuit's number on that sensor, from 1.
    pub circuit_number: u32,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.duid, self.circuit_number)
    }
}
