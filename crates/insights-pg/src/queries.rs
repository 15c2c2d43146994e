//! The SQL of every lookup. Each subtree query returns the named columns of
//! `subtree_columns!`, one row per circuit of the subtree, with NULLs below the deepest level
//! that has no children; rows are read by these names, never by position.

/// The columns every subtree query returns, by name.
macro_rules! subtree_columns {
    () => {
        "SELECT b.id AS brand_id, b.name AS brand_name, o.id AS organization_id, o.name AS organization_name, \
         l.id AS location_id, l.name AS location_name, s.id AS sensor_id, s.duid AS sensor_duid, \
         s.name AS sensor_name, c.id AS circuit_id, c.name AS circuit_name, c.circuit_number AS circuit_number "
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
    "SELECT s.duid AS duid, c.circuit_number AS circuit_number FROM circuits c JOIN electric_sensors s ON s.id = c.sensor_id";

/// Every brand, in the order the API lists them.
pub const BRANDS: &str = "SELECT id, name FROM brands ORDER BY name, id";

/// A statement that succeeds whenever the database answers.
pub const READY: &str = "SELECT 1";

/// The session settings a statement runs under (see `statement_settings` in lib.rs), by name.
pub const SESSION_SETTINGS: &str = "SELECT name, current_setting(name) AS setting
     FROM unnest(ARRAY['jit', 'plan_cache_mode', 'statement_timeout']) AS name ORDER BY name";
