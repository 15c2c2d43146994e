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

-- Facts about the data set that answers need, written by the import: the nominal sample
-- interval, in nanoseconds, as the most common spacing between neighbours of a series.
CREATE TABLE IF NOT EXISTS power_sample_facts (
    name  text PRIMARY KEY,
    value bigint NOT NULL
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
GRANT SELECT ON power_samples, power_sample_facts TO insights_reader;
