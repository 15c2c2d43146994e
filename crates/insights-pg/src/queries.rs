//! The SQL of every lookup. Each returns the columns of `COLUMNS` (or fewer, as noted), one
//! row per circuit of the subtree, with NULLs below the deepest level that has no children.

/// The columns every subtree query returns, in order.
macro_rules! subtree_columns {
    () => {
        "SELECT b.id, b.name, o.id, o.name, l.id, l.name, s.id, s.duid, s.name, c.id, c.name, c.circuit_number "
    };
}

/// A circuit and its ancestry.
pub const CIRCUIT: &str = concat!(
    subtree_columns!(),
    "FROM circuits c
     JOIN electric_sensors s ON s.id = c.sensor_id
     JOIN locations l ON l.id = s.location_id
     JOIN organizations o ON o.id = l.organization_id
     JOIN brands b ON b.id = o.brand_id
     WHERE c.id = $1"
);

/// An organization, its brand, and everything below it.
pub const ORGANIZATION: &str = concat!(
    subtree_columns!(),
    "FROM organizations o
     JOIN brands b ON b.id = o.brand_id
     LEFT JOIN locations l ON l.organization_id = o.id
     LEFT JOIN electric_sensors s ON s.location_id = l.id
     LEFT JOIN circuits c ON c.sensor_id = s.id
     WHERE o.id = $1"
);

/// A sensor, its ancestry, and its circuits.
pub const SENSOR: &str = concat!(
    subtree_columns!(),
    "FROM electric_sensors s
     JOIN locations l ON l.id = s.location_id
     JOIN organizations o ON o.id = l.organization_id
     JOIN brands b ON b.id = o.brand_id
     LEFT JOIN circuits c ON c.sensor_id = s.id
     WHERE s.id = $1"
);

/// A location, its ancestry, and everything below it.
pub const LOCATION: &str = concat!(
    subtree_columns!(),
    "FROM locations l
     JOIN organizations o ON o.id = l.organization_id
     JOIN brands b ON b.id = o.brand_id
     LEFT JOIN electric_sensors s ON s.location_id = l.id
     LEFT JOIN circuits c ON c.sensor_id = s.id
     WHERE l.id = $1"
);

/// A brand and everything below it.
pub const BRAND: &str = concat!(
    subtree_columns!(),
    "FROM brands b
     LEFT JOIN organizations o ON o.brand_id = b.id
     LEFT JOIN locations l ON l.organization_id = o.id
     LEFT JOIN electric_sensors s ON s.location_id = l.id
     LEFT JOIN circuits c ON c.sensor_id = s.id
     WHERE b.id = $1"
);

/// Every circuit's series key: `duid`, `circuit_number`.
pub const CIRCUIT_SERIES: &str =
    "SELECT s.duid, c.circuit_number FROM circuits c JOIN electric_sensors s ON s.id = c.sensor_id";

/// A statement that succeeds whenever the database answers.
pub const READY: &str = "SELECT 1";
