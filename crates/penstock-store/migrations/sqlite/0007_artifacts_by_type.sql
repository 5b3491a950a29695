-- The artifacts page filters by type, newest first, and pages by id.
CREATE INDEX artifacts_by_type ON artifacts (schema_title, artifact_id);
