-- A run's timeout (seconds RUNNING before it FAILS), kept with the run so that a resumed run
-- keeps counting from its first start.
ALTER TABLE runs ADD COLUMN timeout_seconds INTEGER;
