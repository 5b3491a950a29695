-- PostgreSQL twin of sqlite/0012_run_scalar_format.sql: the display format (RAW or PERCENTAGE)
-- of a KFP v1 run metric; NULL for the scalars of v2 tasks.
ALTER TABLE run_scalars ADD COLUMN format TEXT;
