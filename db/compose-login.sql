-- Compose only: the service's login, with the SELECT-only rights of insights_reader
-- (db/init/init.sql). Run after init.sql by the postgres image's entrypoint. In production
-- choose the password yourself: docs/operations.md has the recipe.
CREATE ROLE insights_app LOGIN PASSWORD 'insights_app' IN ROLE insights_reader;
