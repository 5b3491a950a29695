-- How many runs each (experiment, storage state, namespace, state) group holds, so the
-- total_size of a runs list filtered on those columns (every list the UI and kfp.Client ask
-- for) is a sum over a few rows instead of PostgreSQL's COUNT(*) over every matching run
-- (~25 ms for 100,000 runs; SQLite counts its b-tree directly, see sqlite/0010).
-- Append-only deltas (+1 / -1) written by a trigger: concurrent writers never wait on a shared
-- counter row (so no lock contention and no deadlocks between run updates); the store folds
-- them into one row per group every few seconds (`DELETE … RETURNING` then re-insert, safe
-- against concurrent inserts and concurrent folds).
CREATE TABLE run_count_deltas (
    experiment_id TEXT COLLATE "C",
    storage_state TEXT COLLATE "C" NOT NULL,
    namespace     TEXT COLLATE "C" NOT NULL,
    state         TEXT COLLATE "C" NOT NULL,
    n             BIGINT NOT NULL
);
INSERT INTO run_count_deltas (experiment_id, storage_state, namespace, state, n)
    SELECT experiment_id, storage_state, namespace, state, COUNT(*) FROM runs
    GROUP BY experiment_id, storage_state, namespace, state;
CREATE FUNCTION run_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.experiment_id IS NOT DISTINCT FROM NEW.experiment_id
       AND OLD.storage_state = NEW.storage_state AND OLD.namespace = NEW.namespace
       AND OLD.state = NEW.state THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO run_count_deltas (experiment_id, storage_state, namespace, state, n)
        VALUES (OLD.experiment_id, OLD.storage_state, OLD.namespace, OLD.state, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO run_count_deltas (experiment_id, storage_state, namespace, state, n)
        VALUES (NEW.experiment_id, NEW.storage_state, NEW.namespace, NEW.state, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER run_counts_follow
    AFTER INSERT OR DELETE OR UPDATE OF experiment_id, storage_state, namespace, state ON runs
    FOR EACH ROW EXECUTE FUNCTION run_counts_follow();
