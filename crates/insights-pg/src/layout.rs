//! What the import writes and the time series source reads must agree on: the schema, the
//! version of the rollup layout recorded beside the rows, and how a sample's watts split into
//! exact parts in SQL. Both `import.rs` and `timeseries.rs` use this module, and it uses
//! neither, so neither of them depends on the other.

/// The schema of the table, applied by the import.
pub(crate) const SCHEMA_SQL: &str = include_str!("../../../db/timeseries.sql");

/// The rollup layout the data was written with, recorded as the fact `rollup_version` in
/// `power_sample_facts`; answers read rollups only when it matches.
/// 4: packs of 24 hours and 32 days (work in progress between f73203c and 52b887a wrote
/// other pack layouts under 3). 5: exact microwatt sums (`micro_sum`), and an interval per
/// series (`power_series_intervals`). 6: rows longer than 15 minutes (and so packs) only up
/// to the watermark `final_before_us`, so that a streamed batch updates only its quarters.
/// 7: samples that arrive after the watermark passed their quarter wait in
/// `power_rollup_late`, outside every rollup row, until the importer settles them; readers
/// add them. A reader of layout 6 would miss them.
pub(crate) const ROLLUP_LAYOUT_VERSION: i64 = 7;

/// The older layout whose rows are this layout's as they stand: layout 6 is layout 7 with no
/// late samples waiting, so an import only records the new version.
pub(crate) const ROLLUP_LAYOUT_UPGRADED_IN_PLACE: i64 = 6;

/// The name of the fact that records [`ROLLUP_LAYOUT_VERSION`].
pub(crate) const ROLLUP_VERSION_FACT: &str = "rollup_version";

/// The name of the fact that records the watermark, in µs since the epoch on the 15-minute
/// grid: rollup rows longer than 15 minutes exist exactly where they end at or before it, and
/// packs hold only those rows. It never decreases.
pub(crate) const FINAL_BEFORE_FACT: &str = "final_before_us";

/// A sample's whole watts in SQL, as `insights_core::sample_parts` has them.
macro_rules! whole_watts_sql {
    ($watts:literal) => {
        concat!("trunc(", $watts, ")::bigint")
    };
}

/// A sample's fraction in microwatts in SQL, as `insights_core::sample_parts` has it: `round`
/// of a double rounds ties to even.
macro_rules! micro_watts_sql {
    ($watts:literal) => {
        concat!(
            "round((",
            $watts,
            " - trunc(",
            $watts,
            ")) * 1e6::float8)::bigint"
        )
    };
}

/// A sample's parts as the columns `int_sum` and `micro_sum` of a row of one sample.
macro_rules! sample_parts_sql {
    ($watts:literal) => {
        concat!(
            $crate::layout::whole_watts_sql!($watts),
            " AS int_sum, ",
            $crate::layout::micro_watts_sql!($watts),
            " AS micro_sum"
        )
    };
}
/// A pack's entries in SQL, as `db/timeseries.sql` lays them out: an aggregate over rollup
/// rows (their columns prefixed by `$row`, as `r.`) of one pack that starts at `$pack`, of
/// span `$span_s` seconds, one 44-byte record a row in start order.
macro_rules! pack_entries_sql {
    ($row:literal, $pack:literal, $span_s:literal) => {
        concat!(
            "string_agg(int4send(((extract(epoch FROM ",
            $row,
            "start) - extract(epoch FROM ",
            $pack,
            ")) / ",
            $span_s,
            ")::int4) || int8send(",
            $row,
            "n) || int8send(",
            $row,
            "int_sum) || int8send(",
            $row,
            "micro_sum) || float8send(",
            $row,
            "min_watts) || float8send(",
            $row,
            "max_watts), ''::bytea ORDER BY ",
            $row,
            "start)"
        )
    };
}

/// The start of the pack of `$length` seconds that holds the rollup row whose columns
/// `$row` prefixes, as `plan::pack_start` finds it: packs of one phase start a pack's length
/// apart, on that phase.
macro_rules! pack_start_sql {
    ($row:literal, $length:literal) => {
        concat!(
            $row,
            "start - mod(mod(extract(epoch FROM ",
            $row,
            "start)::bigint - ",
            $row,
            "phase_s, ",
            $length,
            ") + ",
            $length,
            ", ",
            $length,
            ") * interval '1 second'"
        )
    };
}
pub(crate) use {
    micro_watts_sql, pack_entries_sql, pack_start_sql, sample_parts_sql, whole_watts_sql,
};
