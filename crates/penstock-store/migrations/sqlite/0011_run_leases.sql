-- Several servers on one database: each unfinished run is owned by one replica (a process,
-- named host:pid:nonce) that renews a lease on it while it executes. Another replica claims a
-- run whose lease expired, judged by the database's clock. cancel_requested_ms records a
-- terminate asked of a replica that does not execute the run; its owner acts on it.
ALTER TABLE runs ADD COLUMN owner_replica TEXT;
ALTER TABLE runs ADD COLUMN owner_host TEXT;
ALTER TABLE runs ADD COLUMN lease_until_ms INTEGER;
ALTER TABLE runs ADD COLUMN cancel_requested_ms INTEGER;
CREATE INDEX runs_owner_replica ON runs (owner_replica) WHERE owner_replica IS NOT NULL;
