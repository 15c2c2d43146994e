//! The query parameters of the usage endpoints, declared once: what the endpoints accept and
//! what each value must be (`extract`), their OpenAPI parameters, the answer fields they add
//! (which the OpenAPI document keeps optional, and which CSV tells from a roll-up's parts),
//! and the words the core may not quote (a tidy test) all come from [`USAGE_PARAMS`]. This
//! module depends on no other of the crate, so each of those may use it.

use insights_core::{Comparison, DemandInterval, MAX_TOP};

/// The `tz` parameter's description. The names are a string with a pattern, not an
/// enumeration: `Etc/GMT+0`, `Etc/GMT-0` and `GMT0` make one identifier in a generated
/// client, which then fails to build.
pub const ZONE_DESCRIPTION: &str = "IANA time zone the buckets align in (default `UTC`); only with `bucket`. A name of the tz database (https://www.iana.org/time-zones), such as `America/New_York`, `Asia/Kathmandu` or `UTC`, links such as `US/Eastern` included; the pattern lists every name this build knows. Any other name is a 400 that names `tz`.";

/// The names of the answer's formats (`answer::Format`), as `format` takes them.
pub const FORMAT_NAMES: [&str; 2] = ["json", "csv"];

/// What a usage query parameter holds, which its OpenAPI schema states.
#[derive(Clone, Copy, Debug)]
pub enum ParamKind {
    /// An RFC 3339 instant.
    Instant,
    /// A bucket width, one of `BucketWidth::ALL`.
    BucketWidth,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// An IANA time zone name this build knows.
    Zone,
    /// `true` or `false`.
    Boolean,
    /// A whole number from 1 to this.
    Count(usize),
}

/// A field of the answer that a parameter adds; the OpenAPI document keeps it optional.
#[derive(Clone, Copy, Debug)]
pub struct Added {
    /// The field's name.
    pub field: &'static str,
    /// Whether it may be null where it is present: where no whole interval fits, or a
    /// bucket has no counterpart in the comparison.
    pub nullable: bool,
    /// Its CSV columns, when it is a field of every usage object: each column's name and
    /// where its value is in the usage object (a JSON pointer). They follow the usage
    /// figures, in [`USAGE_PARAMS`]' order, in an answer that has the field.
    pub csv_columns: &'static [(&'static str, &'static str)],
}

/// One query parameter of the usage endpoints.
#[derive(Clone, Copy, Debug)]
pub struct UsageParam {
    /// Its name in the query string.
    pub name: &'static str,
    /// Whether a request must give it.
    pub required: bool,
    /// Whether only the roll-ups (location, organization, brand) take it, not a circuit.
    pub rollups_only: bool,
    /// What it holds.
    pub kind: ParamKind,
    /// The answer's field it adds, when it adds one.
    pub adds: Option<Added>,
    /// Its OpenAPI description.
    pub description: &'static str,
}

/// Every query parameter of the usage endpoints, in the order the documents and a 400 list them: what
/// the endpoints accept (anything else is a 400 that names it), their OpenAPI parameters, the
/// answer fields they add, and the words the core may not use (a tidy test) all come from
/// this one list. `extract` checks each value against its declared kind (the 400's words
/// come from the kind), then converts it by its name.
pub const USAGE_PARAMS: &[UsageParam] = &[
    UsageParam {
        name: "start",
        required: true,
        rollups_only: false,
        kind: ParamKind::Instant,
        adds: None,
        description: "Inclusive start of the window: RFC 3339 with `Z` or `±hh:mm`, any fraction digits down to nanoseconds.",
    },
    UsageParam {
        name: "end",
        required: true,
        rollups_only: false,
        kind: ParamKind::Instant,
        adds: None,
        description: "Exclusive end of the window, after `start` and at most the configured maximum (default 366 days) later.",
    },
    UsageParam {
        name: "bucket",
        required: false,
        rollups_only: false,
        kind: ParamKind::BucketWidth,
        adds: Some(Added {
            field: "series",
            nullable: false,
            csv_columns: &[],
        }),
        description: "Adds `series`: the window cut into buckets of this width in `tz`, clipped to the window; empty buckets included. At most 10,000 buckets.",
    },
    UsageParam {
        name: "tz",
        required: false,
        rollups_only: false,
        kind: ParamKind::Zone,
        adds: None,
        description: ZONE_DESCRIPTION,
    },
    UsageParam {
        name: "demand_interval",
        required: false,
        rollups_only: false,
        kind: ParamKind::OneOf(&DemandInterval::NAMES),
        adds: Some(Added {
            field: "peak_demand",
            nullable: true,
            csv_columns: &[
                ("peak_demand_watts", "/peak_demand/watts"),
                ("peak_demand_start", "/peak_demand/start"),
                ("peak_demand_end", "/peak_demand/end"),
            ],
        }),
        description: "Adds `peak_demand` to every usage object: the highest average power over whole intervals of this length, aligned in `tz` (UTC without `bucket`).",
    },
    UsageParam {
        name: "baseload",
        required: false,
        rollups_only: false,
        kind: ParamKind::Boolean,
        adds: Some(Added {
            field: "baseload_watts",
            nullable: true,
            csv_columns: &[("baseload_watts", "/baseload_watts")],
        }),
        description: "`true` adds `baseload_watts` to every usage object: the lowest average power over a whole 15-minute interval with samples, aligned in `tz` (UTC without `bucket`), summed over circuits as peak demand is.",
    },
    UsageParam {
        name: "compare",
        required: false,
        rollups_only: false,
        kind: ParamKind::OneOf(&Comparison::NAMES),
        adds: Some(Added {
            field: "comparison",
            nullable: true,
            csv_columns: &[
                ("comparison_start", "/comparison/window/start"),
                ("comparison_end", "/comparison/window/end"),
                ("comparison_energy_wh", "/comparison/energy_wh"),
                ("energy_wh_change", "/comparison/energy_wh_change"),
                ("energy_wh_ratio", "/comparison/energy_wh_ratio"),
            ],
        }),
        description: "Adds `comparison` to every usage object: the same figures over `previous` (the window of equal length just before) or `year` (the same local dates and times a year earlier in `tz`), with the change in energy. Buckets are compared bucket by bucket, top circuits circuit by circuit.",
    },
    UsageParam {
        name: "top",
        required: false,
        rollups_only: true,
        kind: ParamKind::Count(MAX_TOP),
        adds: Some(Added {
            field: "top_circuits",
            nullable: false,
            csv_columns: &[],
        }),
        description: "Adds `top_circuits`: the N circuits with the highest `total_watts`, ties by circuit id.",
    },
    UsageParam {
        name: "format",
        required: false,
        rollups_only: false,
        kind: ParamKind::OneOf(&FORMAT_NAMES),
        adds: None,
        description: "`csv` answers `text/csv` (as does `Accept: text/csv`): one row per bucket with `bucket`, else one row per part (the circuit itself for a circuit), after a header row; the same figures as the JSON, written the same way.",
    },
];
