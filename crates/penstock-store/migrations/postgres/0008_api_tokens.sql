-- PostgreSQL twin of sqlite/0008_api_tokens.sql: bearer tokens, only their SHA-256 kept.
CREATE TABLE api_tokens (
    token_id      TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name          TEXT COLLATE "C" NOT NULL UNIQUE,
    token_sha256  TEXT COLLATE "C" NOT NULL UNIQUE,
    -- JSON array of granted namespaces; NULL grants every namespace.
    namespaces    TEXT,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
