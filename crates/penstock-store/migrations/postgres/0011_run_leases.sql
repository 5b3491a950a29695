-- PostgreSQL twin of sqlite/0011_run_leases.sql: run owners (replicas) and their leases.
ALTER TABLE runs ADD COLUMN owner_replica TEXT;
ALTER TABLE runs ADD COLUMN owner_host TEXT;
ALTER TABLE runs ADD COLUMN lease_until_ms BIGINT;
ALTER TABLE runs ADD COLUMN cancel_requested_ms BIGINT;
CREATE INDEX runs_owner_replica ON runs (owner_replica) WHERE owner_replica IS NOT NULL;
