-- PostgreSQL twin of sqlite/0007_artifacts_by_type.sql.
CREATE INDEX artifacts_by_type ON artifacts (schema_title, artifact_id);
