-- KFP v1 run metrics carry a display format (RAW or PERCENTAGE): from a step's
-- mlpipeline-metrics file or reported through the v1 API (runs/{id}:reportMetrics). NULL for
-- the scalars of v2 tasks.
ALTER TABLE run_scalars ADD COLUMN format TEXT;
