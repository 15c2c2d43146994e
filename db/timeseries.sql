-- Power samples in PostgreSQL, for INSIGHTS_TIMESERIES=postgres. Applied by
-- `cargo xtask import`, which also creates the monthly partitions it needs.
--
-- The series key is (duid, circuit_number), as the samples arrive from the panels, not the
-- circuit id: samples exist before and apart from the metadata that names them, a circuit
-- can be re-created in the monolith without rewriting its history, and the time-series
-- database need not share the metadata database.

CREATE TABLE IF NOT EXISTS power_samples (
    duid           text             NOT NULL CHECK (duid <> ''),
    circuit_number integer          NOT NULL CHECK (circuit_number > 0),
    ts             timestamptz      NOT NULL,
    -- At most 1 GW either way (insights_core::MAX_ABS_WATTS): beyond any circuit, and it
    -- keeps every integer total within bigint. NaN and infinities fall outside too.
    watts          double precision NOT NULL CHECK (watts BETWEEN -1e9 AND 1e9),
    PRIMARY KEY (duid, circuit_number, ts)
) PARTITION BY RANGE (ts);

-- Facts about the data set that answers need, written by the import: the rollup layout
-- (`rollup_version`) the rows below were written with, and the watermark (`final_before_us`,
-- µs since the epoch, on the 15-minute grid, never decreasing): rollup rows longer than 15
-- minutes exist exactly where they end at or before it, and packs hold only those rows.
CREATE TABLE IF NOT EXISTS power_sample_facts (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);

-- Rollups, packs and gap counts of layouts before 5 (fractional sums as doubles, one
-- interval for all series) are dropped, to be rebuilt by the next import or
-- `cargo xtask rollup --rebuild`; until then answers fail with "rollups missing".
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'power_rollups'
                 AND column_name = 'real_sum') THEN
        DROP TABLE power_rollups, power_rollup_packs;
        DROP TABLE IF EXISTS power_sample_gaps;
        DELETE FROM power_sample_facts;
    END IF;
END
$$;

-- Rollups: per series, the count, sums, minimum and maximum of the samples in
-- [start, start + span_s). Sums are exact, as the file source's are: `int_sum` adds each
-- sample's whole watts, trunc(watts), and `micro_sum` its fraction in microwatts,
-- round((watts - trunc(watts)) * 1e6) with ties to even (insights_core::sample_parts). 15-minute rows start on the 15-minute grid; hourly
-- and daily rows start at every 15-minute boundary (phase_s = start modulo span_s), so an hour
-- or day in any UTC offset that is a whole number of quarter hours is one row; blocks of 8 and
-- 64 days start at UTC midnights 8 or 64 days apart from the epoch, for long windows. Rows
-- longer than 15 minutes exist only where they end at or before the watermark
-- (power_sample_facts.final_before_us). The import keeps them true in the transaction that adds
-- samples; `cargo xtask rollup --verify` checks them against the samples. See crates/insights-pg/src/plan.rs for how queries use them.
CREATE TABLE IF NOT EXISTS power_rollups (
    duid           text             NOT NULL,
    circuit_number integer          NOT NULL,
    span_s         integer          NOT NULL CHECK (span_s IN (900, 3600, 86400, 691200, 5529600)),
    phase_s        integer          NOT NULL,
    start          timestamptz      NOT NULL,
    n              bigint           NOT NULL CHECK (n > 0),
    int_sum        bigint           NOT NULL,
    micro_sum      bigint           NOT NULL,
    min_watts      double precision NOT NULL,
    max_watts      double precision NOT NULL,
    CHECK (phase_s = mod(mod(extract(epoch FROM start)::bigint, span_s) + span_s, span_s)),
    CHECK (mod(extract(epoch FROM start)::bigint, 900) = 0),
    PRIMARY KEY (duid, circuit_number, span_s, phase_s, start)
);

-- Packs: the hourly and daily rows of power_rollups again, laid out for reading. One row holds,
-- per series, span and phase, the rows that start in [start, start + 24 hours) for hourly
-- rows or [start, start + 32 days) for daily rows; packs of one phase start that far apart on
-- the phase (see plan::pack_start). `entries` holds one 44-byte record a row, in start order,
-- each the big-endian int4send(at) || int8send(n) || int8send(int_sum) || int8send(micro_sum)
-- || float8send(min_watts) || float8send(max_watts), where the row starts at start + at * span.
-- A long run of rows (plan::reads_packs) reads one pack where it would read up to 32 rows:
-- PostgreSQL's cost is per row (and per array element, which is why this is bytes, not
-- arrays), and unpacking costs the service next to nothing. The import rewrites the packs whose
-- rows it recomputed, and appends the rows a move of the watermark makes, in the same
-- transaction; `cargo xtask rollup --verify` compares them with power_rollups. At most 1,408 bytes of entries, so a pack stays inline, never TOASTed,
-- while its duid is under about 550 bytes (the row stays under PostgreSQL's 2 KB threshold).
-- (Packs of 96 hours and 128 days, kept inline by a higher toast_tuple_target, were slower:
-- a range's edges read whole packs for a few entries, and a page held one pack.)
CREATE TABLE IF NOT EXISTS power_rollup_packs (
    duid           text        NOT NULL,
    circuit_number integer     NOT NULL,
    span_s         integer     NOT NULL CHECK (span_s IN (3600, 86400)),
    phase_s        integer     NOT NULL,
    start          timestamptz NOT NULL,
    entries        bytea       NOT NULL CHECK (length(entries) BETWEEN 44 AND 32 * 44 AND length(entries) % 44 = 0),
    CHECK (phase_s = mod(mod(extract(epoch FROM start)::bigint, span_s) + span_s, span_s)),
    PRIMARY KEY (duid, circuit_number, span_s, phase_s, start)
);

-- Late samples whose longer rows are not yet rewritten: per series and 15-minute row, the
-- count, sums, minimum and maximum of the samples that arrived after the watermark had passed
-- their quarter (power_rollups' columns and arithmetic). They are in no rollup row, not even
-- their 15-minute row, so every row is still the exact aggregate of the samples it was made
-- from, and a reader adds each of these to whatever rollup row or pack entry holds its
-- quarter, in the same statement, so one snapshot. Recomputing a late day's 96 daily rows
-- (one a phase) and their packs costs about 3 ms a series-day, which a batch need not wait
-- for: the importer settles these afterwards (Importer::settle_late), adding them to their
-- 15-minute rows and recomputing the longer rows of their days in one transaction.
CREATE TABLE IF NOT EXISTS power_rollup_late (
    duid           text             NOT NULL,
    circuit_number integer          NOT NULL,
    start          timestamptz      NOT NULL CHECK (mod(extract(epoch FROM start)::bigint, 900) = 0),
    n              bigint           NOT NULL CHECK (n > 0),
    int_sum        bigint           NOT NULL,
    micro_sum      bigint           NOT NULL,
    min_watts      double precision NOT NULL,
    max_watts      double precision NOT NULL,
    PRIMARY KEY (duid, circuit_number, start)
);

-- How often each spacing between neighbouring samples occurs in each series, over all its
-- samples; the import keeps it true as samples arrive, in any order.
CREATE TABLE IF NOT EXISTS power_sample_gaps (
    duid           text    NOT NULL,
    circuit_number integer NOT NULL,
    gap_ns         bigint  NOT NULL CHECK (gap_ns > 0),
    n              bigint  NOT NULL CHECK (n > 0),
    PRIMARY KEY (duid, circuit_number, gap_ns)
);

-- Each series' nominal interval: its most common spacing, the shorter on a tie
-- (insights_core::nominal_interval). Each of its samples stands for this long in energy
-- and coverage. A series without a row has fewer than two samples, and stands for
-- insights_core::FALLBACK_INTERVAL (one minute).
CREATE TABLE IF NOT EXISTS power_series_intervals (
    duid           text    NOT NULL,
    circuit_number integer NOT NULL,
    interval_ns    bigint  NOT NULL CHECK (interval_ns > 0),
    PRIMARY KEY (duid, circuit_number)
);

-- Every series with a sample: what the import walks when it extends the rollups past the
-- watermark (the fact final_before_us) for all series at once.
CREATE TABLE IF NOT EXISTS power_series (
    duid           text    NOT NULL,
    circuit_number integer NOT NULL,
    PRIMARY KEY (duid, circuit_number)
);

-- Read-only access for the service's role, as for the metadata.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'insights_reader') THEN
        CREATE ROLE insights_reader NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO insights_reader;
GRANT SELECT ON power_samples, power_sample_facts, power_rollups, power_rollup_packs, power_rollup_late, power_sample_gaps,
    power_series_intervals, power_series TO insights_reader;
