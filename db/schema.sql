-- The metadata schema, as the monolith owns it. This service only reads it.
-- Edit this file, then run `cargo xtask codegen` to regenerate db/init/init.sql.

CREATE TABLE brands (
    id   uuid PRIMARY KEY,
    name text NOT NULL CHECK (name <> '')
);

CREATE TABLE organizations (
    id       uuid PRIMARY KEY,
    brand_id uuid NOT NULL REFERENCES brands (id),
    name     text NOT NULL CHECK (name <> '')
);
CREATE INDEX organizations_brand_id_idx ON organizations (brand_id);

CREATE TABLE locations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name            text NOT NULL CHECK (name <> '')
);
CREATE INDEX locations_organization_id_idx ON locations (organization_id);

CREATE TABLE electric_sensors (
    id          uuid PRIMARY KEY,
    location_id uuid NOT NULL REFERENCES locations (id),
    duid        text NOT NULL UNIQUE CHECK (duid <> ''),
    name        text NOT NULL CHECK (name <> '')
);
CREATE INDEX electric_sensors_location_id_idx ON electric_sensors (location_id);

CREATE TABLE circuits (
    id             uuid PRIMARY KEY,
    sensor_id      uuid NOT NULL REFERENCES electric_sensors (id),
    circuit_number integer NOT NULL CHECK (circuit_number > 0),
    name           text NOT NULL CHECK (name <> ''),
    -- Also serves lookups by sensor_id, so that foreign key needs no index of its own.
    CONSTRAINT circuits_sensor_id_circuit_number_key UNIQUE (sensor_id, circuit_number)
);

-- The role to run the service as in production: it may read, never write. Roles belong to
-- the whole cluster, so it is created only if another database has not already made it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'insights_reader') THEN
        CREATE ROLE insights_reader NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO insights_reader;
GRANT SELECT ON brands, organizations, locations, electric_sensors, circuits TO insights_reader;
